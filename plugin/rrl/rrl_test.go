package rrl

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/coredns/coredns/plugin/test"
	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/dnspki/dnspki/plugin/pkg/tsigauth"
	"github.com/dnspki/dnspki/plugin/pkg/tsigkey"
)

// TestRateAndSlip: 20 a second pass at once; beyond, every second limited
// answer is slipped (slip 2), the others dropped; after 50 ms (1/20 s) one
// more passes; a steady flood at 10 times the rate for 10 s gets exactly
// the rate through.
func TestRateAndSlip(t *testing.T) {
	clk := newClock()
	z := &zoneAnswers{}
	l := newRRL(t, clk, 20, z)
	w := &sink{}
	r := query("www.example.test.", dns.TypeA)
	d0, s0 := testutil.ToFloat64(dropped[Answer]), testutil.ToFloat64(slipped[Answer])
	if got := count(t, l, w, r, 20); got["pass"] != 20 {
		t.Fatalf("first 20: %v, want all passed", got)
	}
	var seq []string
	for range 6 {
		seq = append(seq, ask(t, l, w, r))
	}
	if fmt.Sprint(seq) != "[drop slip drop slip drop slip]" {
		t.Fatalf("beyond the rate: %v, want drop and slip alternating", seq)
	}
	if testutil.ToFloat64(dropped[Answer])-d0 != 3 || testutil.ToFloat64(slipped[Answer])-s0 != 3 {
		t.Fatal("dropped/slipped answers not counted")
	}
	clk.Advance(50 * time.Millisecond)
	if got := ask(t, l, w, r); got != "pass" {
		t.Fatalf("1/rate later: %s, want pass", got)
	}
	if got := ask(t, l, w, r); got == "pass" {
		t.Fatal("a second one 1/rate later passed too")
	}
	if z.calls != 21 {
		t.Fatalf("the zone answered %d queries, want 21: the 20 of the first second and the one 1/rate later (once an answer's bucket is over the rate, the query is not answered at all)", z.calls)
	}
	// 10 s at 200 a second, from a full bucket: 20 at once, then 20 a
	// second: 220 (219 at the edge), no more.
	clk.Advance(10 * time.Second)
	passed := 0
	for range 2000 {
		clk.Advance(5 * time.Millisecond)
		if ask(t, l, w, r) == "pass" {
			passed++
		}
	}
	if passed < 219 || passed > 220 {
		t.Fatalf("a 10 s flood at 10x the rate: %d passed, want 220 (-1 at the edge)", passed)
	}
}

// TestSlipSettings: slip 0 drops everything beyond the rate, slip 1 slips
// everything.
func TestSlipSettings(t *testing.T) {
	for slip, want := range map[uint32]string{0: "drop", 1: "slip"} {
		clk := newClock()
		l := newRRL(t, clk, 5, &zoneAnswers{})
		l.slip = slip
		w := &sink{}
		r := query("www.example.test.", dns.TypeA)
		count(t, l, w, r, 5)
		if got := count(t, l, w, r, 10); got[want] != 10 {
			t.Errorf("slip %d: %v, want 10 %s", slip, got, want)
		}
	}
}

// TestBuckets: the same /24 shares a bucket, another /24 has its own; an
// IPv6 /56 likewise; categories are counted apart; NXDOMAIN for random
// names shares the zone's bucket; answers for another name or type have
// their own.
func TestBuckets(t *testing.T) {
	clk := newClock()
	l := newRRL(t, clk, 10, &zoneAnswers{})
	www := query("www.example.test.", dns.TypeA)
	from := func(ip string) *sink { return &sink{ResponseWriter: test.ResponseWriter{RemoteIP: ip}} }
	exhaust := func(ip string, r *dns.Msg) {
		t.Helper()
		if got := count(t, l, from(ip), r, 10); got["pass"] != 10 {
			t.Fatalf("%s: first 10 %v", ip, got)
		}
		if ask(t, l, from(ip), r) == "pass" {
			t.Fatalf("%s: the 11th passed", ip)
		}
	}
	exhaust("192.0.2.1", www)
	if got := ask(t, l, from("192.0.2.200"), www); got == "pass" {
		t.Fatal("another address of the same /24 has its own bucket")
	}
	if got := ask(t, l, from("192.0.3.1"), www); got != "pass" {
		t.Fatalf("another /24: %s", got)
	}
	if got := ask(t, l, from("192.0.2.1"), query("www.example.test.", dns.TypeAAAA)); got != "pass" {
		t.Fatalf("another type: %s", got)
	}
	if got := ask(t, l, from("192.0.2.1"), query("WWW.Example.TEST.", dns.TypeA)); got == "pass" {
		t.Fatal("the name in another case has its own bucket")
	}
	exhaust("2001:db8:0:1::1", www)
	if got := ask(t, l, from("2001:db8:0:ff::2"), www); got == "pass" {
		t.Fatal("another address of the same IPv6 /56 has its own bucket")
	}
	if got := ask(t, l, from("2001:db8:0:100::1"), www); got != "pass" {
		t.Fatalf("another IPv6 /56: %s", got)
	}
	// NXDOMAIN for random names: one bucket (the zone), apart from answers.
	clk.Advance(time.Hour)
	passed := 0
	for i := range 30 {
		if ask(t, l, from("198.51.100.1"), query(fmt.Sprintf("nx%d.example.test.", i), dns.TypeA)) == "pass" {
			passed++
		}
	}
	if passed != 10 {
		t.Fatalf("30 random NXDOMAIN names: %d passed, want 10 (one bucket per zone)", passed)
	}
	if got := ask(t, l, from("198.51.100.1"), www); got != "pass" {
		t.Fatalf("an answer after NXDOMAINs were limited: %s", got)
	}
}

// TestCategoriesHaveTheirRates: errors (REFUSED returned by the next
// plugin without writing) have their own rate; 0 means no limit.
func TestCategoriesHaveTheirRates(t *testing.T) {
	clk := newClock()
	l := newRRL(t, clk, 100, &zoneAnswers{})
	l.interval[Error] = int64(time.Second) / 3
	l.interval[Referral] = 0
	w := &sink{}
	got := count(t, l, w, query("refused.test.", dns.TypeA), 10)
	if got["pass"] != 3 {
		t.Fatalf("REFUSED at 3 a second: %v", got)
	}
	for _, m := range w.Msgs {
		if m.Rcode != dns.RcodeRefused {
			t.Fatalf("rcode %s, want REFUSED", dns.RcodeToString[m.Rcode])
		}
	}
	if got := count(t, l, w, query("x.sub.example.test.", dns.TypeA), 500); got["pass"] != 500 {
		t.Fatalf("referrals without a limit: %v", got)
	}
}

// TestExempt: TCP, a verified TSIG signature and exempt networks are never
// limited.
func TestExempt(t *testing.T) {
	clk := newClock()
	l := newRRL(t, clk, 2, &zoneAnswers{})
	l.exempt = []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24")}
	r := query("www.example.test.", dns.TypeA)
	if got := count(t, l, &sink{ResponseWriter: test.ResponseWriter{TCP: true}}, r, 50); got["pass"] != 50 {
		t.Fatalf("TCP: %v", got)
	}
	if got := count(t, l, &sink{ResponseWriter: test.ResponseWriter{RemoteIP: "203.0.113.9"}}, r, 50); got["pass"] != 50 {
		t.Fatalf("exempt network: %v", got)
	}
	key, err := tsigkey.New("k.", "hmac-sha256", "MTIzNDU2Nzg5MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTI=")
	if err != nil {
		t.Fatal(err)
	}
	signed := query("www.example.test.", dns.TypeA)
	signed.SetTsig("k.", dns.HmacSHA256, 300, clk.Now().Unix())
	ctx := tsigauth.WithIdentity(context.Background(), tsigauth.Identity{Key: &key, TSIG: signed.IsTsig()})
	w := &sink{}
	for range 50 {
		if _, err := l.ServeDNS(ctx, w, signed); err != nil {
			t.Fatal(err)
		}
	}
	if len(w.Msgs) != 50 {
		t.Fatalf("verified TSIG: %d of 50 answered", len(w.Msgs))
	}
	// The same signed request without a verified identity is limited.
	if got := count(t, l, &sink{}, signed, 10); got["pass"] != 2 {
		t.Fatalf("TSIG not verified: %v, want 2 passed", got)
	}
}

// TestEarlyDecision: once the bucket of an answer with records is over the
// rate, the same question from the same network is dropped or slipped
// before it is answered (the zone does not see it); the early slipped
// answer is what a late one is (AA, NOERROR, TC, the question, the OPT).
// Denials are decided when the answer is written: the zone sees every
// query.
func TestEarlyDecision(t *testing.T) {
	clk := newClock()
	z := &zoneAnswers{}
	l := newRRL(t, clk, 10, z)
	w := &sink{}
	www := query("www.example.test.", dns.TypeA)
	count(t, l, w, www, 10)
	calls := z.calls
	got := count(t, l, w, www, 20)
	if got["drop"] != 10 || got["slip"] != 10 || z.calls != calls {
		t.Fatalf("20 more: %v, zone answered %d more; want 10 dropped, 10 slipped, none answered", got, z.calls-calls)
	}
	m := w.Msgs[len(w.Msgs)-1]
	if !m.Truncated || !m.Authoritative || m.Rcode != dns.RcodeSuccess || m.IsEdns0() == nil || len(m.Answer)+len(m.Ns) != 0 {
		t.Fatalf("early slipped answer: %v", m)
	}
	// Another type, another network: answered.
	if ask(t, l, w, query("www.example.test.", dns.TypeAAAA)) != "pass" {
		t.Fatal("another type was limited")
	}
	if ask(t, l, &sink{ResponseWriter: test.ResponseWriter{RemoteIP: "198.51.100.1"}}, www) != "pass" {
		t.Fatal("another network was limited")
	}
	// NXDOMAIN: every query reaches the zone, the answers are limited.
	calls = z.calls
	got = map[string]int{}
	for i := range 30 {
		got[ask(t, l, w, query(fmt.Sprintf("nx%d.example.test.", i), dns.TypeA))]++
	}
	if z.calls-calls != 30 || got["pass"] != 10 {
		t.Fatalf("30 NXDOMAIN: zone answered %d, outcomes %v; want 30 answered, 10 passed", z.calls-calls, got)
	}
}

// TestTracedChain: through plugin.NextOrFailure (the trace plugin in the
// block) answers are limited all the same.
func TestTracedChain(t *testing.T) {
	l := newRRL(t, newClock(), 3, &zoneAnswers{})
	l.traced = true
	if got := count(t, l, &sink{}, query("nx1.example.test.", dns.TypeA), 6); got["pass"] != 3 {
		t.Fatalf("traced: %v", got)
	}
}
