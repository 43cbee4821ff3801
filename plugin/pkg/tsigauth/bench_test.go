package tsigauth

import (
	"context"
	"testing"
	"time"

	"github.com/coredns/coredns/plugin/test"
	"github.com/miekg/dns"
)

// BenchmarkGatePlain: what the gate adds to a plain query (EDNS, no TSIG),
// the path of nearly every query.
func BenchmarkGatePlain(b *testing.B) {
	g := NewTestBlock().Gate(test.HandlerFunc(func(context.Context, dns.ResponseWriter, *dns.Msg) (int, error) { return 0, nil }))
	m := new(dns.Msg)
	m.SetQuestion("www.example.test.", dns.TypeA)
	m.SetEdns0(1232, true)
	w := &test.ResponseWriter{}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		g.ServeDNS(ctx, w, m)
	}
}

// BenchmarkGateSigned: a signed request (hmac-sha256, checked on the
// re-encoded message here since no DNS server is in the context) through
// the gate, replay memory included.
func BenchmarkGateSigned(b *testing.B) {
	k := mustKey(b, "acme-www.", "hmac-sha256", shaSecret)
	g := NewTestBlock(k).Gate(test.HandlerFunc(func(context.Context, dns.ResponseWriter, *dns.Msg) (int, error) { return 0, nil }))
	w := &test.ResponseWriter{}
	ctx := context.Background()
	msgs := make([]*dns.Msg, 1024)
	for i := range msgs {
		m := new(dns.Msg)
		m.SetQuestion("www.example.test.", dns.TypeA)
		m.Id = uint16(i)
		m.SetTsig(k.Name, k.Algorithm, 300, time.Now().Unix())
		raw, _, err := dns.TsigGenerateWithProvider(m, k.Provider(), "", false)
		if err != nil {
			b.Fatal(err)
		}
		msgs[i] = new(dns.Msg)
		msgs[i].Unpack(raw)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		g.ServeDNS(ctx, w, msgs[i%len(msgs)])
		i++
	}
}
