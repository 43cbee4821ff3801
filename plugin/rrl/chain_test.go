package rrl

import (
	"context"
	"testing"

	"github.com/coredns/caddy"
	"github.com/miekg/dns"

	"github.com/dnspki/dnspki/plugin/cookie"
)

// TestCookieBypassesLimit: cookie before rrl, as in the plugin order. A
// client that returns its server cookie is never limited, however fast; a
// client cookie alone (not proof of the address) is; a slipped answer
// carries the server cookie, so a cookie-aware client can come back with
// it over UDP.
func TestCookieBypassesLimit(t *testing.T) {
	clk := newClock()
	z := &zoneAnswers{}
	l := newRRL(t, clk, 5, z)
	ck, err := cookie.NewForTest(caddy.NewTestController("dns", "cookie"), l, clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	const cc = "0102030405060708"
	q := func(c string) *dns.Msg {
		m := query("www.example.test.", dns.TypeA)
		m.IsEdns0().Option = append(m.IsEdns0().Option, &dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: c})
		return m
	}
	w := &sink{}
	outcomes := map[string]int{}
	var serverCookie string
	for range 20 {
		n := len(w.Msgs)
		if _, err := ck.ServeDNS(context.Background(), w, q(cc)); err != nil {
			t.Fatal(err)
		}
		if len(w.Msgs) == n {
			outcomes["drop"]++
			continue
		}
		m := w.Msgs[len(w.Msgs)-1]
		if m.Truncated {
			outcomes["slip"]++
		} else {
			outcomes["pass"]++
		}
		for _, e := range m.IsEdns0().Option {
			if c, ok := e.(*dns.EDNS0_COOKIE); ok {
				serverCookie = c.Cookie[len(cc):]
			}
		}
		if serverCookie == "" {
			t.Fatalf("answer without a server cookie: %v", m)
		}
	}
	if outcomes["pass"] != 5 || outcomes["slip"] == 0 || outcomes["drop"] == 0 {
		t.Fatalf("client cookie only, 20 at 5 a second: %v", outcomes)
	}
	n := len(w.Msgs)
	for range 200 {
		if _, err := ck.ServeDNS(context.Background(), w, q(cc+serverCookie)); err != nil {
			t.Fatal(err)
		}
	}
	if got := len(w.Msgs) - n; got != 200 {
		t.Fatalf("with a valid server cookie: %d of 200 answered", got)
	}
	for _, m := range w.Msgs[n:] {
		if m.Truncated || len(m.Answer) != 1 {
			t.Fatalf("with a valid server cookie: %v", m)
		}
	}
}
