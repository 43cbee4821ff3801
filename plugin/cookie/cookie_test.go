package cookie

import (
	"context"
	"encoding/hex"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/coredns/coredns/plugin/test"
	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func serve(t *testing.T, c *Cookie, w *sink, r *dns.Msg) {
	t.Helper()
	if _, err := c.ServeDNS(context.Background(), w, r); err != nil {
		t.Fatal(err)
	}
}

// TestLearnAndReturn: a client cookie alone gets an answer with a server
// cookie (RFC 9018, for the client's address, now); sent back, it is valid
// and comes back unchanged while under half an hour old; then a fresh one;
// after an hour it is invalid, the request still answered, with a fresh one.
func TestLearnAndReturn(t *testing.T) {
	clk := newClock()
	c, n := newPlugin(clk, secretA)

	w := &sink{}
	serve(t, c, w, query(t, true, clientCookie))
	if n.calls != 1 || n.verdict != ClientOnly {
		t.Fatalf("next called %d times with verdict %v, want once, client_only", n.calls, n.verdict)
	}
	first := only(t, w)
	if len(first.Answer) != 1 {
		t.Fatalf("answer lost: %v", first)
	}
	sc := serverPart(t, first)
	if !strings.HasPrefix(cookiesOf(first)[0], clientCookie) {
		t.Fatalf("answer's COOKIE %s does not start with the client cookie", cookiesOf(first)[0])
	}
	// The RFC 9018 construction, for 10.240.0.1 (the test writer's address) at the clock's time.
	s, _ := parseSecret(secretA)
	var cc [clientLen]byte
	hex.Decode(cc[:], []byte(clientCookie))
	want := s.serverCookie(&cc, netip.MustParseAddr("10.240.0.1"), unixTime(clk.Now()))
	if sc != hex.EncodeToString(want[:]) {
		t.Fatalf("server cookie %s, want %x", sc, want)
	}

	for _, step := range []struct {
		after   time.Duration
		verdict Verdict
		same    bool // the answer returns the request's server cookie
	}{
		{10 * time.Minute, Valid, true},
		{19*time.Minute + 59*time.Second, Valid, true}, // 29 min 59 s old
		{time.Second, Valid, false},                    // 30 min: renewed
	} {
		clk.Advance(step.after)
		w := &sink{}
		serve(t, c, w, query(t, true, clientCookie+sc))
		if n.verdict != step.verdict {
			t.Fatalf("+%v: verdict %v, want %v", step.after, n.verdict, step.verdict)
		}
		got := serverPart(t, only(t, w))
		if (got == sc) != step.same {
			t.Fatalf("+%v: answer's server cookie %s, request's %s: same=%v, want %v", step.after, got, sc, got == sc, step.same)
		}
		if !step.same {
			sc = got
		}
	}
	// The renewed cookie, an hour and a second later: expired.
	clk.Advance(time.Hour + time.Second)
	w = &sink{}
	serve(t, c, w, query(t, true, clientCookie+sc))
	if n.verdict != Invalid {
		t.Fatalf("an expired cookie: verdict %v, want invalid", n.verdict)
	}
	if m := only(t, w); len(m.Answer) != 1 || serverPart(t, m) == sc {
		t.Fatalf("an expired cookie: want the answer with a fresh cookie, got %v", m)
	}
}

// TestInvalidServerCookies: not ours, another client's, another address's,
// from the future, an 8-octet (non RFC 9018) one: answered normally (RFC
// 7873 §5.2.4) with a fresh cookie, verdict invalid.
func TestInvalidServerCookies(t *testing.T) {
	clk := newClock()
	c, n := newPlugin(clk, secretA)
	s, _ := parseSecret(secretA)
	other, _ := parseSecret(secretB)
	var cc, cc2 [clientLen]byte
	hex.Decode(cc[:], []byte(clientCookie))
	hex.Decode(cc2[:], []byte("fc93fc62807ddb86"))
	here := netip.MustParseAddr("10.240.0.1")
	now := unixTime(clk.Now())
	enc := func(b [serverLen]byte) string { return hex.EncodeToString(b[:]) }
	for name, sc := range map[string]string{
		"other secret":      enc(other.serverCookie(&cc, here, now)),
		"other client":      enc(s.serverCookie(&cc2, here, now)),
		"other address":     enc(s.serverCookie(&cc, netip.MustParseAddr("10.240.0.2"), now)),
		"6 min in future":   enc(s.serverCookie(&cc, here, now+360)),
		"8 octets":          "0102030405060708",
		"32 octets":         strings.Repeat("ab", 32),
		"16 random octets":  strings.Repeat("5a", 16),
		"1 hour 1 s before": enc(s.serverCookie(&cc, here, now-3601)),
	} {
		w := &sink{}
		serve(t, c, w, query(t, true, clientCookie+sc))
		if n.verdict != Invalid {
			t.Errorf("%s: verdict %v, want invalid", name, n.verdict)
			continue
		}
		m := only(t, w)
		if len(m.Answer) != 1 || m.Rcode != dns.RcodeSuccess {
			t.Errorf("%s: not answered normally: %v", name, m)
		}
		if got := serverPart(t, m); got == sc || got != enc(s.serverCookie(&cc, here, now)) {
			t.Errorf("%s: answer's server cookie %s, want a fresh one", name, got)
		}
	}
	// Five minutes ahead is within the skew allowance.
	w := &sink{}
	serve(t, c, w, query(t, true, clientCookie+enc(s.serverCookie(&cc, here, now+300))))
	if n.verdict != Valid {
		t.Errorf("5 minutes ahead: verdict %v, want valid", n.verdict)
	}
}

// TestNoCookie: without EDNS or without a COOKIE option the request goes on
// untouched and the answer gets no cookie (and no OPT it did not have).
func TestNoCookie(t *testing.T) {
	c, n := newPlugin(newClock(), secretA)
	for _, edns := range []bool{false, true} {
		w := &sink{}
		serve(t, c, w, query(t, edns))
		m := only(t, w)
		if n.verdict != Missing || len(m.Answer) != 1 || len(cookiesOf(m)) != 0 {
			t.Errorf("edns %v: verdict %v, answer %v", edns, n.verdict, m)
		}
		if !edns && m.IsEdns0() != nil {
			t.Errorf("an answer to a request without EDNS got an OPT record")
		}
	}
}

// TestMalformed: every length RFC 7873 §5.2.2 calls malformed is FORMERR
// with an EDE, and nothing else happens: the next plugin never sees the
// request, the answer carries no cookie and no records, only the malformed
// counter moves.
func TestMalformed(t *testing.T) {
	c, n := newPlugin(newClock(), secretA)
	var lens []int
	for l := 0; l <= 7; l++ {
		lens = append(lens, l)
	}
	for l := 9; l <= 15; l++ {
		lens = append(lens, l)
	}
	lens = append(lens, 41, 48, 100, 255)
	for _, l := range lens {
		before := map[string]float64{}
		for _, v := range []string{"missing", "client_only", "valid", "invalid", "malformed"} {
			before[v] = testutil.ToFloat64(requests.WithLabelValues(v))
		}
		w := &sink{}
		r := query(t, true, strings.Repeat("ab", l))
		rc, err := c.ServeDNS(context.Background(), w, r)
		if err != nil || rc != dns.RcodeSuccess {
			t.Fatalf("%d octets: returned %d, %v (the answer is written: want 0, nil)", l, rc, err)
		}
		if n.calls != 0 {
			t.Fatalf("%d octets: the next plugin saw the request", l)
		}
		m := only(t, w)
		if m.Rcode != dns.RcodeFormatError || len(m.Answer)+len(m.Ns) != 0 || len(m.Question) != 1 {
			t.Fatalf("%d octets: answer %v, want FORMERR with the question only", l, m)
		}
		if len(cookiesOf(m)) != 0 {
			t.Fatalf("%d octets: FORMERR carries a cookie", l)
		}
		if e := edeOf(m); e == nil || e.InfoCode != dns.ExtendedErrorCodeOther || !strings.Contains(e.ExtraText, "COOKIE") {
			t.Fatalf("%d octets: EDE %v, want Other with the reason", l, e)
		}
		for v, b := range before {
			want := b
			if v == "malformed" {
				want++
			}
			if got := testutil.ToFloat64(requests.WithLabelValues(v)); got != want {
				t.Fatalf("%d octets: counter %s went from %v to %v, want %v", l, v, b, got, want)
			}
		}
	}
	// The valid lengths pass: 8 (client only) and 16..40.
	for _, l := range []int{8, 16, 24, 40} {
		w := &sink{}
		serve(t, c, w, query(t, true, strings.Repeat("ab", l)))
		if m := only(t, w); m.Rcode != dns.RcodeSuccess {
			t.Errorf("%d octets: %s, want an answer", l, dns.RcodeToString[m.Rcode])
		}
	}
}

func edeOf(m *dns.Msg) *dns.EDNS0_EDE {
	if o := m.IsEdns0(); o != nil {
		for _, e := range o.Option {
			if x, ok := e.(*dns.EDNS0_EDE); ok {
				return x
			}
		}
	}
	return nil
}

// TestRepeatedOptions: RFC 7873 §5.2 considers the first COOKIE option
// only: a malformed second one is ignored, a malformed first one is FORMERR
// whatever follows.
func TestRepeatedOptions(t *testing.T) {
	c, n := newPlugin(newClock(), secretA)
	w := &sink{}
	serve(t, c, w, query(t, true, clientCookie, "abab"))
	if m := only(t, w); n.calls != 1 || m.Rcode != dns.RcodeSuccess || n.verdict != ClientOnly {
		t.Fatalf("valid first, malformed second: %v (verdict %v)", m, n.verdict)
	}
	if m := w.Msgs[0]; len(cookiesOf(m)) != 1 {
		t.Fatalf("the answer has %d COOKIE options, want 1", len(cookiesOf(m)))
	}
	w = &sink{}
	serve(t, c, w, query(t, true, "abab", clientCookie))
	if m := only(t, w); n.calls != 1 || m.Rcode != dns.RcodeFormatError {
		t.Fatalf("malformed first, valid second: %v", m)
	}
}

// TestRequire: with require, a UDP request without a valid server cookie
// gets BADCOOKIE and a fresh cookie (and goes no further); with the cookie
// it is answered; over TCP it is answered anyway (RFC 7873 §5.2.3); a
// request without any COOKIE option is not affected.
func TestRequire(t *testing.T) {
	clk := newClock()
	c, n := newPlugin(clk, secretA)
	c.Require = true
	before := testutil.ToFloat64(badCookie)
	w := &sink{}
	serve(t, c, w, query(t, true, clientCookie))
	m := only(t, w)
	if m.Rcode != dns.RcodeBadCookie || len(m.Answer) != 0 || n.calls != 0 {
		t.Fatalf("UDP, client cookie only: %s with %d answers, next called %d times; want BADCOOKIE", dns.RcodeToString[m.Rcode], len(m.Answer), n.calls)
	}
	if testutil.ToFloat64(badCookie) != before+1 {
		t.Fatal("BADCOOKIE not counted")
	}
	sc := serverPart(t, m)
	w = &sink{}
	serve(t, c, w, query(t, true, clientCookie+sc))
	if m := only(t, w); m.Rcode != dns.RcodeSuccess || len(m.Answer) != 1 || n.verdict != Valid {
		t.Fatalf("with the cookie BADCOOKIE gave: %v", m)
	}
	w = &sink{ResponseWriter: test.ResponseWriter{TCP: true}}
	serve(t, c, w, query(t, true, clientCookie))
	if m := only(t, w); m.Rcode != dns.RcodeSuccess || len(m.Answer) != 1 {
		t.Fatalf("TCP, client cookie only: %v", m)
	}
	w = &sink{}
	serve(t, c, w, query(t, true))
	if m := only(t, w); m.Rcode != dns.RcodeSuccess || len(m.Answer) != 1 {
		t.Fatalf("UDP without a COOKIE option: %v", m)
	}
}

// TestRolloverAccept: secret B makes cookies, A is still accepted: a
// cookie made with A is valid and the answer carries one made with B.
func TestRolloverAccept(t *testing.T) {
	clk := newClock()
	old, _ := newPlugin(clk, secretA)
	w := &sink{}
	serve(t, old, w, query(t, true, clientCookie))
	scA := serverPart(t, only(t, w))

	c, n := newPlugin(clk, secretB, secretA)
	clk.Advance(time.Minute)
	w = &sink{}
	serve(t, c, w, query(t, true, clientCookie+scA))
	if n.verdict != Valid {
		t.Fatalf("a cookie of the accepted secret: verdict %v", n.verdict)
	}
	scB := serverPart(t, only(t, w))
	if scB == scA {
		t.Fatal("the answer returned the old secret's cookie; want one made with the current secret")
	}
	w = &sink{}
	serve(t, c, w, query(t, true, clientCookie+scB))
	if n.verdict != Valid || serverPart(t, only(t, w)) != scB {
		t.Fatalf("the new cookie: verdict %v, want valid and returned as it is", n.verdict)
	}
	// Without accept, A's cookie is not ours.
	strict, n2 := newPlugin(clk, secretB)
	serve(t, strict, &sink{}, query(t, true, clientCookie+scA))
	if n2.verdict != Invalid {
		t.Fatalf("without accept: verdict %v, want invalid", n2.verdict)
	}
}

// TestRandomRotation: a generated secret is replaced every rotate period;
// cookies made just before a rotation stay valid until they expire; after
// the next rotation the first secret is gone.
func TestRandomRotation(t *testing.T) {
	clk := newClock()
	n := &next{}
	c := &Cookie{Next: n, ring: randomRing(2*time.Hour, nil, clk.Now()), now: clk.Now}
	learn := func() string {
		w := &sink{}
		serve(t, c, w, query(t, true, clientCookie))
		return serverPart(t, only(t, w))
	}
	verdict := func(sc string) Verdict {
		serve(t, c, &sink{}, query(t, true, clientCookie+sc))
		return n.verdict
	}
	clk.Advance(2*time.Hour - time.Minute)
	before := learn() // one minute before the rotation
	clk.Advance(2 * time.Minute)
	after := learn() // the first request after it rotates
	if before == after {
		t.Fatal("no new secret after the rotation period")
	}
	clk.Advance(58 * time.Minute) // the old cookie is 59 minutes old
	if v := verdict(before); v != Valid {
		t.Fatalf("a cookie of the previous secret, 59 min old: %v, want valid", v)
	}
	if v := verdict(after); v != Valid {
		t.Fatalf("a cookie of the current secret: %v, want valid", v)
	}
	// Two more rotations: the first secret is no longer accepted (its cookie
	// made fresh again for the test's sake would not verify).
	clk.Advance(2 * time.Hour)
	learn()
	ks := c.ring.at(clk.Now())
	if len(ks) != 2 {
		t.Fatalf("%d secrets in force, want 2 (current, previous)", len(ks))
	}
}

// TestSignedReplyUntouched: an answer written as bytes (TSIG-signed) goes
// out unchanged; an rcode returned without writing is written through the
// cookie writer (so it carries the cookie).
func TestSignedReplyUntouched(t *testing.T) {
	c, n := newPlugin(newClock(), secretA)
	raw := []byte{1, 2, 3, 4}
	n.answer = func(w dns.ResponseWriter, r *dns.Msg) (int, error) {
		w.Write(raw)
		return dns.RcodeSuccess, nil
	}
	w := &sink{}
	serve(t, c, w, query(t, true, clientCookie))
	if len(w.Raw) != 1 || string(w.Raw[0]) != string(raw) || len(w.Msgs) != 0 {
		t.Fatalf("bytes answer changed: %v %v", w.Raw, w.Msgs)
	}
	n.answer = func(w dns.ResponseWriter, r *dns.Msg) (int, error) { return dns.RcodeRefused, nil }
	w = &sink{}
	serve(t, c, w, query(t, true, clientCookie))
	m := only(t, w)
	if m.Rcode != dns.RcodeRefused || len(cookiesOf(m)) != 1 {
		t.Fatalf("REFUSED left to the server: %v, want it written with a cookie", m)
	}
}

// TestIPv6Client: the cookie binds the 16-octet address.
func TestIPv6Client(t *testing.T) {
	clk := newClock()
	c, n := newPlugin(clk, secretA)
	w6 := func() *sink6 { return &sink6{} }
	w := w6()
	if _, err := c.ServeDNS(context.Background(), w, query(t, true, clientCookie)); err != nil {
		t.Fatal(err)
	}
	sc := serverPart(t, only(t, &w.sink))
	s, _ := parseSecret(secretA)
	var cc [clientLen]byte
	hex.Decode(cc[:], []byte(clientCookie))
	want := s.serverCookie(&cc, netip.MustParseAddr("fe80::42:ff:feca:4c65"), unixTime(clk.Now()))
	if sc != hex.EncodeToString(want[:]) {
		t.Fatalf("IPv6 client: server cookie %s, want %x", sc, want)
	}
	c.ServeDNS(context.Background(), w6(), query(t, true, clientCookie+sc))
	if n.verdict != Valid {
		t.Fatalf("IPv6 cookie back: %v", n.verdict)
	}
	// The same cookie from the IPv4 test address is not valid.
	serve(t, c, &sink{}, query(t, true, clientCookie+sc))
	if n.verdict != Invalid {
		t.Fatalf("IPv6 cookie from an IPv4 address: %v", n.verdict)
	}
}

type sink6 struct {
	test.ResponseWriter6
	sink sink
}

func (s *sink6) WriteMsg(m *dns.Msg) error { return s.sink.WriteMsg(m) }

// TestTracedChain: with the trace plugin in the block the next plugin is
// called through plugin.NextOrFailure; the answer carries the cookie all
// the same, and without a next plugin the request gets SERVFAIL with one.
func TestTracedChain(t *testing.T) {
	c, n := newPlugin(newClock(), secretA)
	c.traced = true
	w := &sink{}
	serve(t, c, w, query(t, true, clientCookie))
	if m := only(t, w); n.calls != 1 || len(m.Answer) != 1 || len(cookiesOf(m)) != 1 {
		t.Fatalf("traced: %v", m)
	}
	c.Next = nil
	w = &sink{}
	c.ServeDNS(context.Background(), w, query(t, true, clientCookie))
	if m := only(t, w); m.Rcode != dns.RcodeServerFailure || len(cookiesOf(m)) != 1 {
		t.Fatalf("no next plugin: %v", m)
	}
}
