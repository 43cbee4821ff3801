package secondary

import (
	"testing"

	"github.com/miekg/dns"
)

// FuzzXfrParser feeds arbitrary record streams, as a primary might send
// them, to the AXFR/IXFR parser: a transfer it calls complete is one the
// RFCs describe (AXFR: the SOA first and once, every record kept; IXFR:
// difference sequences chained from the serial asked for to the primary's
// serial), and nothing is taken after the closing SOA.
func FuzzXfrParser(f *testing.F) {
	const origin = "example.test."
	soa := func(serial uint32) dns.RR {
		return &dns.SOA{Hdr: dns.RR_Header{Name: origin, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: 60}, Ns: "ns1." + origin, Mbox: "h." + origin, Serial: serial, Refresh: 1, Retry: 1, Expire: 1, Minttl: 1}
	}
	rr := func(s string) dns.RR { r, _ := dns.NewRR(s); return r }
	stream := func(rrs ...dns.RR) []byte {
		m := new(dns.Msg)
		m.Answer = rrs
		b, err := m.Pack()
		if err != nil {
			f.Fatal(err)
		}
		return b
	}
	ns := rr("example.test. 60 IN NS ns1.example.test.")
	a := rr("www.example.test. 60 IN A 192.0.2.1")
	b := rr("www.example.test. 60 IN A 192.0.2.2")
	f.Add(stream(soa(5), ns, a, soa(5)), uint32(0), false)
	f.Add(stream(soa(7), soa(5), a, soa(6), b, soa(6), soa(7), soa(7)), uint32(5), true)
	f.Add(stream(soa(7)), uint32(7), true)
	f.Add(stream(soa(7), ns, soa(7)), uint32(5), true)
	f.Add(stream(soa(7), soa(5), soa(7), a, soa(7)), uint32(5), true)
	f.Fuzz(func(t *testing.T, data []byte, serial uint32, ixfr bool) {
		m := new(dns.Msg)
		if m.Unpack(data) != nil {
			return
		}
		qtype := dns.TypeAXFR
		if ixfr {
			qtype = dns.TypeIXFR
		}
		p := newXfrParser(origin, qtype, serial)
		for i, r := range m.Answer {
			if err := p.add(r); err != nil {
				return
			}
			if p.done && i != len(m.Answer)-1 {
				if p.add(m.Answer[i+1]) == nil {
					t.Fatal("a record after the closing SOA was taken")
				}
				return
			}
		}
		res, err := p.finish()
		if err != nil {
			return
		}
		first, ok := m.Answer[0].(*dns.SOA)
		if !ok || res.SOA != first {
			t.Fatalf("result SOA %v, stream starts with %v", res.SOA, m.Answer[0])
		}
		switch res.Kind {
		case "uptodate":
			if !ixfr || len(m.Answer) != 1 {
				t.Fatalf("up to date from %d records (ixfr %v)", len(m.Answer), ixfr)
			}
		case "axfr":
			if len(res.All) != len(m.Answer)-1 || res.All[0] != first {
				t.Fatalf("AXFR of %d records kept %d", len(m.Answer), len(res.All))
			}
			for _, r := range res.All[1:] {
				if s, ok := r.(*dns.SOA); ok && dns.CanonicalName(s.Hdr.Name) == origin {
					t.Fatalf("apex SOA inside the AXFR: %v", s)
				}
			}
			if last, ok := m.Answer[len(m.Answer)-1].(*dns.SOA); !ok || last.Serial != first.Serial {
				t.Fatal("AXFR does not close with its SOA")
			}
		case "ixfr":
			if !ixfr || len(res.Diffs) == 0 {
				t.Fatalf("IXFR result for ixfr %v with %d differences", ixfr, len(res.Diffs))
			}
			if res.Diffs[0].Old.Serial != serial {
				t.Fatalf("IXFR starts from %d, asked from %d", res.Diffs[0].Old.Serial, serial)
			}
			for i, d := range res.Diffs {
				if d.Old == nil || d.New == nil {
					t.Fatalf("difference %d without its SOAs", i)
				}
				if i > 0 && res.Diffs[i-1].New.Serial != d.Old.Serial {
					t.Fatalf("difference %d starts at %d, the previous ended at %d", i, d.Old.Serial, res.Diffs[i-1].New.Serial)
				}
			}
			if res.Diffs[len(res.Diffs)-1].New.Serial != first.Serial {
				t.Fatalf("IXFR ends at %d, the primary is at %d", res.Diffs[len(res.Diffs)-1].New.Serial, first.Serial)
			}
		default:
			t.Fatalf("kind %q", res.Kind)
		}
	})
}
