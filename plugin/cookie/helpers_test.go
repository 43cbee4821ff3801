package cookie

import (
	"context"
	"encoding/hex"
	"testing"
	"time"

	"github.com/coredns/coredns/plugin/test"
	"github.com/miekg/dns"

	"github.com/dnspki/dnspki/plugin/pkg/testdns"
)

// clock is the test clock (testdns.Clock); sink records what reaches the
// client (testdns.Sink).
type (
	clock = testdns.Clock
	sink  = testdns.Sink
)

func newClock() *clock { return testdns.NewClock(time.Unix(1559731985, 0)) }

// only returns the only message written to s (as a message, not bytes).
func only(t *testing.T, s *sink) *dns.Msg {
	t.Helper()
	if len(s.Msgs) != 1 || len(s.Raw) != 0 {
		t.Fatalf("%d messages and %d byte answers written, want one message", len(s.Msgs), len(s.Raw))
	}
	return s.Msgs[0]
}

// next is a plugin after cookie: it answers A 192.0.2.1 and remembers the
// verdict it saw.
type next struct {
	calls   int
	verdict Verdict
	answer  func(w dns.ResponseWriter, r *dns.Msg) (int, error)
}

func (n *next) Name() string { return "next" }

func (n *next) ServeDNS(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
	n.calls++
	n.verdict = VerdictOf(ctx)
	if n.answer != nil {
		return n.answer(w, r)
	}
	m := new(dns.Msg)
	m.SetReply(r)
	m.Authoritative = true
	m.Answer = append(m.Answer, test.A("www.example.test. 300 IN A 192.0.2.1"))
	if r.IsEdns0() != nil {
		m.SetEdns0(1232, false)
	}
	w.WriteMsg(m)
	return dns.RcodeSuccess, nil
}

// query is an A query for www.example.test with EDNS and the given COOKIE
// options (hex; none: no COOKIE option). edns false: no OPT at all.
func query(t *testing.T, edns bool, cookies ...string) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion("www.example.test.", dns.TypeA)
	if !edns {
		return m
	}
	m.SetEdns0(1232, false)
	o := m.IsEdns0()
	for _, c := range cookies {
		o.Option = append(o.Option, &dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: c})
	}
	return m
}

// cookiesOf returns the COOKIE options of m (hex).
func cookiesOf(m *dns.Msg) []string {
	var out []string
	if o := m.IsEdns0(); o != nil {
		for _, e := range o.Option {
			if c, ok := e.(*dns.EDNS0_COOKIE); ok {
				out = append(out, c.Cookie)
			}
		}
	}
	return out
}

// serverPart is the server cookie of the only COOKIE option of m.
func serverPart(t *testing.T, m *dns.Msg) string {
	t.Helper()
	cs := cookiesOf(m)
	if len(cs) != 1 {
		t.Fatalf("%d COOKIE options in the answer, want 1: %v", len(cs), m)
	}
	b, err := hex.DecodeString(cs[0])
	if err != nil || len(b) != clientLen+serverLen {
		t.Fatalf("answer's COOKIE %s: want 8 + 16 octets", cs[0])
	}
	return cs[0][2*clientLen:]
}

const clientCookie = "2464c4abcf10c957"

// plugin returns a cookie handler with a static secret and the clock.
func newPlugin(clk *clock, secret string, accept ...string) (*Cookie, *next) {
	n := &next{}
	s, _ := parseSecret(secret)
	var acc keys
	for _, a := range accept {
		k, _ := parseSecret(a)
		acc = append(acc, k)
	}
	return &Cookie{Next: n, ring: staticRing(s, acc), now: clk.Now}, n
}

const (
	secretA = "e5e973e5a6b2a43f48e7dc849e37bfcf"
	secretB = "445536bcd2513298075a5d379663c962"
)
