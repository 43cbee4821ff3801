package zonemodel

import (
	"bufio"
	"bytes"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// slowReference reads records with ZoneParser alone, as parseZone did before
// the fast reader: normalized, with the line each ends on.
func slowReference(data []byte, origin string) ([]zrec, bool) {
	lr := &lineReader{r: bufio.NewReader(bytes.NewReader(data))}
	zp := dns.NewZoneParser(lr, origin, "f")
	var out []zrec
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		out = append(out, zrec{rr: normalize(rr), line: int32(lr.line())})
	}
	return out, zp.Err() == nil
}

// checkFast compares the fast reader with ZoneParser on one input: when the
// fast reader takes the input, it must give exactly ZoneParser's records
// (and ZoneParser must accept the input).
func checkFast(t *testing.T, data []byte) (taken bool) {
	t.Helper()
	const origin = "example.test."
	fast, ok := fastRecords(data, origin, "f", 0)
	if !ok {
		return false
	}
	slow, sok := slowReference(data, origin)
	if !sok {
		t.Fatalf("fast reader took input ZoneParser refuses:\n%s", data)
	}
	if len(fast) != len(slow) {
		t.Fatalf("fast reader: %d records, ZoneParser %d:\n%s", len(fast), len(slow), data)
	}
	for i := range fast {
		if f, s := fast[i].rr.String(), slow[i].rr.String(); f != s || fast[i].line != slow[i].line {
			t.Fatalf("record %d: fast %q line %d, ZoneParser %q line %d, in:\n%s", i, f, fast[i].line, s, slow[i].line, data)
		}
		if want := nameKey(slow[i].rr.Header().Name, origin); InZone(slow[i].rr.Header().Name, origin) && fast[i].key != want {
			t.Fatalf("record %d: key %q, want %q", i, fast[i].key, want)
		}
	}
	return true
}

var fastSeeds = []string{
	"$ORIGIN example.test.\n$TTL 3600\n@ IN SOA ns1 hostmaster 1 7200 3600 1209600 300\n@ IN NS ns1\nns1 IN A 192.0.2.53\n",
	"$TTL 300\nwww A 192.0.2.1\n A 192.0.2.2\n 60 IN AAAA 2001:db8::1\nwww 10 MX 10 mail\nMail IN 20 A 10.0.0.1 ; comment\n",
	"a 300 IN TXT \"v=spf1 -all\" \"second; part\" word\nb 300 TXT \"\"\nc 300 TXT \"x\" ; trailing\n",
	"@ 300 IN SOA ns1.example.test. host.example.test. (\n  2024010101 ; serial\n  7200 3600\n  1209600 300 )\nafter 300 A 192.0.2.9\n",
	"x 300 IN CNAME y\ny 300 IN NS ns.other.test.\nz 300 IN PTR @\n*.wild 300 A 192.0.2.7\n",
	"a 300 IN SRV 10 20 443 target\nb 300 CAA 0 issue \"ca.test\"\nc 300 TLSA 3 1 1 abcdef\n",
	"$ORIGIN sub.example.test.\nh 300 A 192.0.2.1\n$ORIGIN example.test.\nh 300 A 192.0.2.2\nh.sub. 300 A 192.0.2.3\n",
	"a 300 A 01.2.3.4\nb 300 A 1.2.3\nc 300 AAAA ::ffff:1.2.3.4\nd 300 A ::1\n",
	"a 300 in a 192.0.2.1\nB 300 In Txt hello\n c 300 A 192.0.2.3\n",
	"$TTL 1h\na A 192.0.2.1\n",
	"a 4294967295 A 192.0.2.1\nb 4294967296 A 192.0.2.1\n",
	"@ 300 MX 0 .\na 300 MX 65536 b\n",
	"a 300 TXT \"" + strings.Repeat("x", 300) + "\"\n",
	"a 300 A 192.0.2.1 extra\n",
	"a A 192.0.2.1\n",
	"$INCLUDE other.zone\n",
	"a 300 IN A 192.0.2.1\r\n",
	"a 300 TXT \"unterminated\n",
	"a 300 TXT a\"b\n",
	"  300 A 192.0.2.1\n",
	"a 300 IN CH A 192.0.2.1\n",
	"a 300 TYPE1 \\# 4 c0000201\n",
	"a.other.test. 300 A 192.0.2.1\n",
	"q'uote 300 A 192.0.2.1\nm 300 MX 10 o'brien\nt 300 TXT \"caf\xc3\xa9\" \"tab\there\"\nw 300 CNAME a@b\n",
}

// The fast reader gives ZoneParser's records on inputs it takes, and takes
// the common ones (the bench's generated zones are read fast).
func TestFastRecordsMatchZoneParser(t *testing.T) {
	for _, s := range fastSeeds {
		checkFast(t, []byte(s))
	}
	for _, s := range fastSeeds[:7] {
		if _, ok := fastRecords([]byte(s), "example.test.", "f", 0); !ok {
			t.Errorf("common syntax not read fast:\n%s", s)
		}
	}
	// Octets that unpacking escapes: read fast, kept as the wire gives them.
	escaped := fastSeeds[len(fastSeeds)-1]
	if !checkFast(t, []byte(escaped)) {
		t.Errorf("records with special characters not read fast:\n%s", escaped)
	}
	recs, _ := fastRecords([]byte(escaped), "example.test.", "f", 0)
	if got := recs[0].rr.Header().Name; got != `q\'uote.example.test.` {
		t.Errorf("owner %q, want the wire form q\\'uote.example.test.", got)
	}
	if !checkFast(t, []byte(bigZone(2000))) {
		t.Error("a generated zone is not read fast")
	}
}

func FuzzFastZone(f *testing.F) {
	for _, s := range fastSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkFast(t, data)
	})
}
