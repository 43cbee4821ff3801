package secondary

import (
	"fmt"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

func TestXfrParser(t *testing.T) {
	soa := func(serial uint32) dns.RR {
		rr, _ := dns.NewRR(fmt.Sprintf("example.test. 3600 IN SOA ns1.example.test. h.example.test. %d 1 1 1 1", serial))
		return rr
	}
	a := func(s string) dns.RR { rr, _ := dns.NewRR(s); return rr }
	ns := a("example.test. 3600 IN NS ns1.example.test.")
	www := a("www.example.test. 3600 IN A 192.0.2.1")
	www2 := a("www.example.test. 3600 IN A 192.0.2.2")
	for _, tc := range []struct {
		name   string
		qtype  uint16
		serial uint32
		rrs    []dns.RR
		kind   string
		err    string
	}{
		{"axfr", dns.TypeAXFR, 0, []dns.RR{soa(5), ns, www, soa(5)}, "axfr", ""},
		{"axfr-style ixfr", dns.TypeIXFR, 3, []dns.RR{soa(5), ns, www, soa(5)}, "axfr", ""},
		{"ixfr", dns.TypeIXFR, 3, []dns.RR{soa(5), soa(3), www, soa(4), www2, soa(4), www2, soa(5), www, soa(5)}, "ixfr", ""},
		{"uptodate", dns.TypeIXFR, 5, []dns.RR{soa(5)}, "uptodate", ""},
		{"newer single soa", dns.TypeIXFR, 3, []dns.RR{soa(5)}, "", "no changes"},
		{"broken chain", dns.TypeIXFR, 3, []dns.RR{soa(5), soa(3), soa(4), soa(2), soa(5), soa(5)}, "", "follows"},
		{"no closing soa", dns.TypeAXFR, 0, []dns.RR{soa(5), ns, www}, "", "before the closing"},
		{"axfr serial mismatch", dns.TypeAXFR, 0, []dns.RR{soa(5), ns, soa(6)}, "", "ends with serial"},
		{"not soa first", dns.TypeAXFR, 0, []dns.RR{ns, soa(5)}, "", "does not start"},
		{"trailing", dns.TypeAXFR, 0, []dns.RR{soa(5), ns, soa(5), www}, "", "after the closing"},
	} {
		p := newXfrParser("example.test.", tc.qtype, tc.serial)
		var err error
		for _, rr := range tc.rrs {
			if err = p.add(rr); err != nil {
				break
			}
		}
		var res *Result
		if err == nil {
			res, err = p.finish()
		}
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: err %v, want %q", tc.name, err, tc.err)
			}
			continue
		}
		if err != nil || res.Kind != tc.kind {
			t.Errorf("%s: %v, kind %v", tc.name, err, res)
			continue
		}
		if tc.name == "ixfr" && (len(res.Diffs) != 2 || res.Diffs[1].Old.Serial != 4 || len(res.Diffs[1].Add) != 1) {
			t.Errorf("ixfr diffs: %+v", res.Diffs)
		}
	}
}
