package onlinesign

import (
	"context"
	"fmt"
	"testing"

	"github.com/miekg/dns"

	"github.com/dnspki/dnspki/plugin/pkg/zonemodel"
)

func benchAnswer(b *testing.B, name string, qtype uint16, signed bool, unique bool) {
	z, _ := testSigner(b, SchemeCSK, dns.ECDSAP256SHA256)
	v := z.View("")
	req := new(dns.Msg)
	req.SetQuestion(name, qtype)
	req.SetEdns0(1232, true)
	s := z.Signer()
	buf := make([]byte, 4096)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		q := name
		if unique {
			q = fmt.Sprintf("n%d.%s", i, name)
		}
		resp := v.Snapshot().Lookup(q, qtype, zonemodel.Options{DO: true})
		m := new(dns.Msg)
		m.SetReply(req)
		if signed {
			if err := s.Render(context.Background(), v, req, resp, m); err != nil {
				b.Fatal(err)
			}
		} else {
			resp.Render(m)
		}
		if _, err := m.PackBuffer(buf); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkUnsignedA(b *testing.B) { benchAnswer(b, "www.example.test.", dns.TypeA, false, false) }
func BenchmarkSignedA(b *testing.B)   { benchAnswer(b, "www.example.test.", dns.TypeA, true, false) }
func BenchmarkUnsignedNX(b *testing.B) {
	benchAnswer(b, "nothere.example.test.", dns.TypeA, false, false)
}
func BenchmarkSignedNXCached(b *testing.B) {
	benchAnswer(b, "nothere.example.test.", dns.TypeA, true, false)
}
func BenchmarkSignedNXFresh(b *testing.B) { benchAnswer(b, "example.test.", dns.TypeA, true, true) }
func BenchmarkSignedWildcard(b *testing.B) {
	benchAnswer(b, "x.wild.example.test.", dns.TypeA, true, false)
}
