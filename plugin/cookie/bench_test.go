package cookie

import (
	"context"
	"testing"

	"github.com/coredns/coredns/plugin/test"
	"github.com/miekg/dns"
)

// BenchmarkServe is the cost cookie adds to a query (the next plugin's
// answer and a writer that discards it are the same in every case): no
// COOKIE option, a client cookie (a server cookie made for the answer), a
// valid server cookie (verified, returned as it is).
func BenchmarkServe(b *testing.B) {
	clk := newClock()
	w := &test.ResponseWriter{}
	valid := func() string {
		c, _ := newPlugin(clk, secretA)
		s := &sink{}
		c.ServeDNS(context.Background(), s, queryB(clientCookie))
		return clientCookie + s.Msgs[0].IsEdns0().Option[0].(*dns.EDNS0_COOKIE).Cookie[16:]
	}()
	for _, tc := range []struct {
		name string
		r    *dns.Msg
		via  bool // through the cookie plugin
	}{
		{"next alone", queryB(), false},
		{"no cookie", queryB(), true},
		{"client cookie", queryB(clientCookie), true},
		{"valid cookie", queryB(valid), true},
	} {
		b.Run(tc.name, func(b *testing.B) {
			c, n := newPlugin(clk, secretA)
			var h interface {
				ServeDNS(context.Context, dns.ResponseWriter, *dns.Msg) (int, error)
			} = c
			if !tc.via {
				h = n
			}
			b.ReportAllocs()
			for b.Loop() {
				h.ServeDNS(context.Background(), w, tc.r)
			}
		})
	}
}

func queryB(cookies ...string) *dns.Msg {
	m := new(dns.Msg)
	m.SetQuestion("www.example.test.", dns.TypeA)
	m.SetEdns0(1232, true)
	for _, c := range cookies {
		m.IsEdns0().Option = append(m.IsEdns0().Option, &dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: c})
	}
	return m
}
