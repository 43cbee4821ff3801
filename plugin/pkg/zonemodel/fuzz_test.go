package zonemodel

import (
	"os"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// FuzzParseZone parses arbitrary zone files. A file that parses is a zone the
// model takes as it is (the checks of ParseZone are the model's: a zone that
// passes them opens, and serves its SOA); its records are canonical (owner in
// the zone, lower case, class IN), one TTL per RRset, no duplicates, no CNAME
// beside other data; and each record reads back from wire format (the form
// the store keeps) as the same record.
func FuzzParseZone(f *testing.F) {
	for _, p := range []string{"../../../corefile-examples/example.test.zone", "../../../corefile-examples/example.test.internal.zone"} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	f.Add("$ORIGIN example.test.\n$TTL 300\n@ SOA ns1 hostmaster 1 3600 900 1209600 60\n@ NS ns1\nns1 A 192.0.2.1\nwww CNAME ns1\n")
	f.Add("@ 60 IN SOA ns1 h 1 2 3 4 5\n@ NS ns1.example.org.\nsub NS ns.sub\nns.sub A 192.0.2.9\nsub DS 1 13 2 ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789\n_443._tcp TLSA 3 1 1 AABBCCDDEEFF00112233445566778899AABBCCDDEEFF00112233445566778899\n")
	f.Add("@ SOA ns1 h 1 2 3 4 5\n@ NS ns1\nx TXT \"a\\\"b\" \"\\065\\\\\" (\n \"c\" )\nd DNAME example.org.\n* MX 10 mail\nWWW A 192.0.2.1\nwww 10 A 192.0.2.2\nwww A 192.0.2.1\n")
	f.Fuzz(func(t *testing.T, text string) {
		if strings.Contains(strings.ToUpper(text), "$INCLUDE") {
			return // reads the files the input names
		}
		const origin = "example.test."
		zd, err := ParseZone(strings.NewReader(text), origin, "db.test")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "db.test") {
				t.Fatalf("error without the file name: %v", err)
			}
			return
		}
		if zd.SOA == nil || zd.SOA.Hdr.Name != origin {
			t.Fatalf("no SOA at the apex: %v", zd.SOA)
		}
		types := map[string]map[uint16]bool{}
		sets := map[rrKey][]dns.RR{}
		for _, rr := range zd.RRs {
			h := rr.Header()
			if h.Name != Fqdn(h.Name) || !InZone(h.Name, origin) || h.Class != dns.ClassINET {
				t.Fatalf("record not canonical: %v", rr)
			}
			k := rrKey{h.Name, h.Rrtype}
			for _, o := range sets[k] {
				if dns.IsDuplicate(o, rr) {
					t.Fatalf("duplicate record %v", rr)
				}
				if o.Header().Ttl != h.Ttl {
					t.Fatalf("TTLs %d and %d in one RRset %s", o.Header().Ttl, h.Ttl, rr)
				}
			}
			sets[k] = append(sets[k], rr)
			if types[h.Name] == nil {
				types[h.Name] = map[uint16]bool{}
			}
			types[h.Name][h.Rrtype] = true
			buf := make([]byte, dns.Len(rr)+512)
			n, err := dns.PackRR(rr, buf, 0, nil, false)
			if err != nil {
				t.Fatalf("%v does not pack: %v", rr, err)
			}
			back, _, err := dns.UnpackRR(buf[:n], 0)
			if err != nil {
				t.Fatalf("%v does not unpack: %v", rr, err)
			}
			if !dns.IsDuplicate(back, normalize(rr)) || back.Header().Ttl != h.Ttl {
				t.Fatalf("%v reads back from the wire as %v", rr, back)
			}
		}
		for name, ts := range types {
			if ts[dns.TypeCNAME] && len(ts) > 1 {
				for ty := range ts {
					if ty != dns.TypeCNAME && ty != dns.TypeRRSIG && ty != dns.TypeNSEC {
						t.Fatalf("CNAME and %s at %s", dns.TypeToString[ty], name)
					}
				}
			}
		}
		z := New(Config{Origin: origin, StateDir: t.TempDir()})
		base, err := z.AddSource("file", SourceOptions{Base: true})
		if err != nil {
			t.Fatal(err)
		}
		if err := base.SetInitial(nil, zd.RRs); err != nil {
			t.Fatalf("the model refuses a parsed zone: %v", err)
		}
		if err := z.Open(); err != nil {
			t.Fatalf("a parsed zone does not open: %v", err)
		}
		defer z.Close()
		s := z.View("").Snapshot()
		if s == nil || s.Get(origin, dns.TypeSOA) == nil {
			t.Fatal("opened zone serves no SOA")
		}
	})
}
