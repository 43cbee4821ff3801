package zonemodel

import (
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// A zone file's names and data are kept in the form they have on the wire
// (the form the store gives back and queries ask for): an escaped letter is
// the letter, a special character is escaped, a TXT string holds its bytes.
func TestParseZoneWireForm(t *testing.T) {
	zd, err := ParseZone(strings.NewReader(`$TTL 60
@ SOA ns1 h 1 2 3 4 5
@ NS ns1
w\065w A 192.0.2.1
q'uote NS ns.q'uote
x TXT "a\"b" "\\"
`), "example.test.", "db")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"wAw": false, `q\'uote`: false, "x": false}
	for _, rr := range zd.RRs {
		h := rr.Header()
		q := new(dns.Msg)
		q.SetQuestion(h.Name, h.Rrtype)
		b, _ := q.Pack()
		q.Unpack(b)
		if Fqdn(q.Question[0].Name) != h.Name {
			t.Errorf("record at %q; a query for it asks for %q", h.Name, q.Question[0].Name)
		}
		for l := range want {
			if h.Name == Fqdn(l)+"example.test." {
				want[l] = true
			}
		}
		if rr, ok := rr.(*dns.TXT); ok && strings.Join(rr.Txt, "|") != `a\"b|\\` {
			t.Errorf("TXT strings %q", rr.Txt)
		}
	}
	for l, seen := range want {
		if !seen {
			t.Errorf("no record at %s in %v", l, zd.RRs)
		}
	}
}
