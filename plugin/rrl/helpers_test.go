package rrl

import (
	"context"
	"strings"
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

func newClock() *clock { return testdns.NewClock(time.Unix(1700000000, 0)) }

// zoneAnswers is a plugin after rrl answering like an authoritative server
// for example.test: www has an A record, sub is delegated, nx* names do
// not exist, refused.test is REFUSED (returned, not written), anything
// else is NODATA.
type zoneAnswers struct{ calls int }

func (z *zoneAnswers) Name() string { return "zone" }

func (z *zoneAnswers) ServeDNS(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
	z.calls++
	q := r.Question[0]
	q.Name = strings.ToLower(q.Name)
	if q.Name == "refused.test." {
		return dns.RcodeRefused, nil
	}
	m := new(dns.Msg)
	m.SetReply(r)
	m.Authoritative = true
	soa := test.SOA("example.test. 300 IN SOA ns.example.test. host.example.test. 1 7200 3600 1209600 300")
	switch {
	case q.Name == "www.example.test.":
		m.Answer = []dns.RR{test.A("www.example.test. 300 IN A 192.0.2.1")}
	case q.Name == "x.sub.example.test.":
		m.Authoritative = false
		m.Ns = []dns.RR{test.NS("sub.example.test. 300 IN NS ns.sub.example.test.")}
	case len(q.Name) > 2 && q.Name[:2] == "nx":
		m.Rcode = dns.RcodeNameError
		m.Ns = []dns.RR{soa}
	default:
		m.Ns = []dns.RR{soa}
	}
	if r.IsEdns0() != nil {
		m.SetEdns0(1232, false)
	}
	w.WriteMsg(m)
	return dns.RcodeSuccess, nil
}

func query(name string, qtype uint16) *dns.Msg {
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	m.SetEdns0(1232, false)
	return m
}

// newRRL is an rrl with rate answers a second in every category, slip 2,
// the default prefixes, the test clock, in front of z.
func newRRL(t *testing.T, clk *clock, rate int, z *zoneAnswers) *RRL {
	t.Helper()
	l := &RRL{Next: z, slip: 2, v4Bits: 24, v6Bits: 56, now: clk.Now, table: newTable(1024, clk.Now())}
	for c := range l.interval {
		l.interval[c] = int64(time.Second) / int64(rate)
	}
	return l
}

// outcome of one query: "pass" (the full answer), "slip" (TC, no
// records) or "drop" (nothing).
func ask(t *testing.T, l *RRL, w *sink, r *dns.Msg) string {
	t.Helper()
	n := len(w.Msgs)
	if _, err := l.ServeDNS(context.Background(), w, r); err != nil {
		t.Fatal(err)
	}
	switch len(w.Msgs) - n {
	case 0:
		return "drop"
	case 1:
	default:
		t.Fatalf("%d answers to one query", len(w.Msgs)-n)
	}
	m := w.Msgs[len(w.Msgs)-1]
	if m.Id != r.Id || len(m.Question) != 1 || m.Question[0] != r.Question[0] {
		t.Fatalf("answer does not match the query: %v", m)
	}
	if m.Truncated {
		if len(m.Answer)+len(m.Ns) != 0 {
			t.Fatalf("slipped answer with records: %v", m)
		}
		for _, rr := range m.Extra {
			if rr.Header().Rrtype != dns.TypeOPT {
				t.Fatalf("slipped answer with additional records: %v", m)
			}
		}
		return "slip"
	}
	return "pass"
}

// count asks n times and counts the outcomes.
func count(t *testing.T, l *RRL, w *sink, r *dns.Msg, n int) map[string]int {
	t.Helper()
	out := map[string]int{}
	for range n {
		out[ask(t, l, w, r)]++
	}
	return out
}
