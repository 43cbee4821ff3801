package security

import (
	"fmt"
	"regexp"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/dnspki/dnspki/test/harness"
)

// A two-TSIG case: the attacker holds one key and appends (or prepends) a
// TSIG record naming the key it wants to be taken for.
type twoTSIGCase struct {
	holds, wants *harness.TSIGKey
	validFirst   bool
	tcp          bool
}

func (c twoTSIGCase) String() string {
	order := "forged first"
	if c.validFirst {
		order = "forged last"
	}
	proto := "udp"
	if c.tcp {
		proto = "tcp"
	}
	return fmt.Sprintf("holds %s wants %s, %s, %s", c.holds.Name, c.wants.Name, order, proto)
}

// lastKey is the key name of the message's last TSIG record (the one the
// log names).
func (c twoTSIGCase) lastKey() string {
	if c.validFirst {
		return c.wants.Name
	}
	return c.holds.Name
}

func twoTSIGCases(pairs [][2]*harness.TSIGKey) []twoTSIGCase {
	var out []twoTSIGCase
	for _, p := range pairs {
		for _, validFirst := range []bool{true, false} {
			for _, tcp := range []bool{false, true} {
				out = append(out, twoTSIGCase{p[0], p[1], validFirst, tcp})
			}
		}
	}
	return out
}

// expectFormErr asserts the gate's answer to a malformed message: FORMERR,
// the question only, no TSIG (nothing was verified, nothing is signed).
func expectFormErr(t *testing.T, what string, r *dns.Msg) {
	t.Helper()
	if r.Rcode != dns.RcodeFormatError || len(r.Answer)+len(r.Ns)+len(r.Extra) != 0 {
		t.Errorf("%s: %s, want FORMERR with no records", what, describe(r))
	}
}

// TestTwoTSIGUpdate is attack 1 of issue 14: an UPDATE correctly signed
// with acme-md5. (granted _acme-challenge.mail only) carrying a second TSIG
// record naming acme-www. (granted www) must not be taken as acme-www.;
// and the other way round (sha256 -> md5), and sha512 -> sha256; the
// forged record after the signed message or inside it, over UDP and TCP.
// Each is FORMERR, logged with the key and the reason, counted, and the
// zone, its serials and journals do not move. The key the attacker holds
// is valid (alone, it is refused as not granted) and the target is
// reachable (the rightful key sets it afterwards).
func TestTwoTSIGUpdate(t *testing.T) {
	f := startFixture(t, "")
	target := map[string]string{
		keyWWW.Name: "_acme-challenge.www.example.test.",
		keyMD5.Name: "_acme-challenge.mail.example.test.",
	}
	cases := twoTSIGCases([][2]*harness.TSIGKey{{keyMD5, keyWWW}, {keyWWW, keyMD5}, {key512, keyWWW}})

	// Controls: each attacker's key alone is valid, and not granted the target.
	for _, p := range [][2]*harness.TSIGKey{{keyMD5, keyWWW}, {keyWWW, keyMD5}, {key512, keyWWW}} {
		b, mac := signNow(t, addTXT(target[p[1].Name], val1), p[0])
		r, raw := rawExchange(t, f.ext, b, true)
		if r.Rcode != dns.RcodeRefused {
			t.Fatalf("control: %s alone on %s: %s, want REFUSED", p[0].Name, target[p[1].Name], describe(r))
		}
		if err := verifyReply(t, raw, p[0], mac); err != nil {
			t.Fatalf("control: the REFUSED answer to %s is not signed with it: %v", p[0].Name, err)
		}
	}

	before := f.state(t)
	refused0 := harness.Metric(t, f.metrics, "coredns_dnspki_tsig_refused_total", map[string]string{"reason": "formerr_tsig"})
	for _, c := range cases {
		owner := target[c.wants.Name]
		f.logs.take(1)
		mark := f.LogMark()
		r, _ := rawExchange(t, f.ext, twoTSIG(t, addTXT(owner, val1), c.holds, c.wants, c.validFirst), c.tcp)
		expectFormErr(t, c.String(), r)
		logged(t, f.Proc, mark, 1, `plugin/dnspki-tsig: UPDATE example\.test\. from `+src(f.ext)+`, key `+regexp.QuoteMeta(c.lastKey())+`: refused \(FORMERR\): more than one TSIG record`)
	}
	f.unchanged(t, before, "two-TSIG UPDATEs")
	if got := harness.Metric(t, f.metrics, "coredns_dnspki_tsig_refused_total", map[string]string{"reason": "formerr_tsig"}) - refused0; got != float64(len(cases)) {
		t.Errorf("tsig_refused_total{reason=formerr_tsig} grew by %v, want %d", got, len(cases))
	}
	if n := harness.Metric(t, f.metrics, "coredns_dnspki_acme_updates_accepted_total", nil); n != 0 {
		t.Errorf("acme_updates_accepted_total = %v after refused UPDATEs only", n)
	}

	// The rightful keys reach the targets (the attacks aimed at something).
	for _, k := range []*harness.TSIGKey{keyWWW, keyMD5} {
		b, mac := signNow(t, addTXT(target[k.Name], val2), k)
		r, raw := rawExchange(t, f.ext, b, false)
		if r.Rcode != dns.RcodeSuccess || verifyReply(t, raw, k, mac) != nil {
			t.Fatalf("%s on its own name: %s", k.Name, describe(r))
		}
		if got := harness.TXTValues(t, f.Addr, target[k.Name]); len(got) != 1 || got[0] != val2 {
			t.Fatalf("%s after %s's UPDATE: %v", target[k.Name], k.Name, got)
		}
	}
}

// TestTwoTSIGViewSelection is attack 2 of issue 14 for queries: a client
// outside the internal networks holding acme-www. (or acme-md5., or the
// external view's transfer key) signs a query for internal names and adds a
// TSIG record naming xfr-internal. (the key that selects the internal
// view). FORMERR, in both orders, UDP and TCP, and nothing of the internal
// view in the answer; the same query signed with the held key alone gets
// the external view's signed answer, and with xfr-internal. the internal
// one (so the names are there to leak).
func TestTwoTSIGViewSelection(t *testing.T) {
	f := startFixture(t, "")
	sec := zoneSecrets(t)
	names := []struct {
		name  string
		qtype uint16
	}{
		{"www.intra.example.test.", dns.TypeA},
		{"vault.intra.example.test.", dns.TypeTXT},
		{"mail.example.test.", dns.TypeA},
		{"vpnzq.example.test.", dns.TypeANY},
	}
	// Controls.
	for _, n := range names {
		b, mac := signNow(t, queryMsg(n.name, n.qtype), keyInt)
		r, raw := rawExchange(t, f.ext, b, false)
		if len(sec.Leaks("", r.Answer)) == 0 || verifyReply(t, raw, keyInt, mac) != nil {
			t.Fatalf("control: %s/%s with xfr-internal. from outside: %s (want the internal data, signed)", n.name, dns.TypeToString[n.qtype], describe(r))
		}
		for _, k := range []*harness.TSIGKey{keyWWW, keyMD5, keyExt} {
			b, mac := signNow(t, queryMsg(n.name, n.qtype), k)
			r, raw := rawExchange(t, f.ext, b, false)
			if l := sec.Leaks(n.name, harness.MsgRRs(r)); len(l) > 0 || verifyReply(t, raw, k, mac) != nil {
				t.Fatalf("control: %s/%s with %s from outside: %s %v", n.name, dns.TypeToString[n.qtype], k.Name, describe(r), l)
			}
		}
	}
	before := f.state(t)
	selected0 := harness.Metric(t, f.metrics, "coredns_dnspki_horizon_queries_total", nil)
	sent := 0
	for _, c := range twoTSIGCases([][2]*harness.TSIGKey{{keyWWW, keyInt}, {keyMD5, keyInt}, {keyExt, keyInt}}) {
		for _, n := range names {
			for _, edns := range []bool{false, true} {
				m := queryMsg(n.name, n.qtype)
				if !edns {
					m.Extra = nil
				}
				f.logs.take(1)
				mark := f.LogMark()
				r, _ := rawExchange(t, f.ext, twoTSIG(t, m, c.holds, c.wants, c.validFirst), c.tcp)
				sent++
				what := fmt.Sprintf("%s/%s EDNS=%v, %s", n.name, dns.TypeToString[n.qtype], edns, c)
				expectFormErr(t, what, r)
				if l := sec.Leaks(n.name, harness.MsgRRs(r)); len(l) > 0 {
					t.Errorf("%s leaks: %v", what, l)
				}
				if !edns {
					// With an OPT record too the message has three
					// additional records, and the DNS library answers
					// FORMERR before any plugin (the gate included) sees
					// it: nothing to log (docs/SECURITY.md).
					logged(t, f.Proc, mark, 1, `plugin/dnspki-tsig: `+dns.TypeToString[n.qtype]+` `+regexp.QuoteMeta(n.name)+` from `+src(f.ext)+`, key `+regexp.QuoteMeta(c.lastKey())+`: refused \(FORMERR\): more than one TSIG record`)
				}
			}
		}
	}
	// No view was selected for any of them: the gate (or the library)
	// refused them before horizon.
	if got := harness.Metric(t, f.metrics, "coredns_dnspki_horizon_queries_total", nil) - selected0; got != 0 {
		t.Errorf("horizon selected a view for %v of the %d two-TSIG queries", got, sent)
	}
	f.unchanged(t, before, "two-TSIG queries")
	if n := harness.Metric(t, f.metrics, "coredns_dnspki_horizon_queries_total", map[string]string{"view": "internal"}); n == 0 {
		t.Errorf("the internal view was never selected (the controls should have)")
	}
}

// TestTwoTSIGTransfer is attack 2 of issue 14 for transfers: AXFR (TCP) and
// IXFR (UDP and TCP) of the zone from outside, signed with a key the
// attacker holds (an ACME key, or the external view's transfer key) plus a
// TSIG record naming xfr-internal.: FORMERR, no record, no transfer counted;
// the transfer ACLs let the held key alone have the external view at most.
func TestTwoTSIGTransfer(t *testing.T) {
	f := startFixture(t, "")
	sec := zoneSecrets(t)
	// Controls: the internal key transfers the internal view from anywhere,
	// the external key the external view, an ACME key nothing.
	if rrs, err := f.ext.Transfer(axfrMsg(), keyInt); err != nil || len(sec.Leaks("", rrs)) == 0 {
		t.Fatalf("control: AXFR with xfr-internal. from outside: %v (%d records)", err, len(rrs))
	}
	if rrs, err := f.ext.Transfer(axfrMsg(), keyExt); err != nil || len(rrs) < 5 || len(sec.Leaks("", rrs)) > 0 {
		t.Fatalf("control: AXFR with xfr-external.: %v, %d records, leaks %v", err, len(rrs), sec.Leaks("", rrs))
	}
	b, mac := signNow(t, axfrMsg(), keyWWW)
	if r, raw := rawExchange(t, f.ext, b, true); r.Rcode != dns.RcodeRefused || len(r.Answer) > 0 || verifyReply(t, raw, keyWWW, mac) != nil {
		t.Fatalf("control: AXFR with acme-www.: %s (want REFUSED, signed)", describe(r))
	}

	before := f.state(t)
	xfr0 := harness.Metric(t, f.metrics, "coredns_dnspki_xfr_out_total", map[string]string{"view": "internal"})
	serial := before.serials["internal"] - 1
	for _, c := range twoTSIGCases([][2]*harness.TSIGKey{{keyWWW, keyInt}, {keyMD5, keyInt}, {keyExt, keyInt}}) {
		msgs := map[string]*dns.Msg{"IXFR": ixfrMsg(serial)}
		if c.tcp {
			msgs["AXFR"] = axfrMsg()
		}
		for qt, m := range msgs {
			f.logs.take(1)
			mark := f.LogMark()
			r, _ := rawExchange(t, f.ext, twoTSIG(t, m, c.holds, c.wants, c.validFirst), c.tcp)
			what := qt + ", " + c.String()
			expectFormErr(t, what, r)
			if l := sec.Leaks("", harness.MsgRRs(r)); len(l) > 0 {
				t.Errorf("%s leaks: %v", what, l)
			}
			logged(t, f.Proc, mark, 1, `plugin/dnspki-tsig: `+qt+` example\.test\. from `+src(f.ext)+`, key `+regexp.QuoteMeta(c.lastKey())+`: refused \(FORMERR\): more than one TSIG record`)
		}
	}
	f.unchanged(t, before, "two-TSIG transfers")
	// unchanged ran one IXFR per view; the internal one is the only one
	// counted for the internal view since.
	if got := harness.Metric(t, f.metrics, "coredns_dnspki_xfr_out_total", map[string]string{"view": "internal"}) - xfr0; got != 1 {
		t.Errorf("xfr_out_total{view=internal} grew by %v, want 1 (the check's own IXFR)", got)
	}
}

// TestTwoTSIGNotify: a dnspki secondary accepts NOTIFY from its primary's
// address signed with the primary's key (xfr-internal.). A sender at that
// address holding only a key of the secondary's block that is not the
// primary's (acme-www.) adds a TSIG record naming xfr-internal.: FORMERR in
// both orders over UDP and TCP, and not accepted (the accepted NOTIFY
// count moves only for the real one sent after them).
func TestTwoTSIGNotify(t *testing.T) {
	f := startFixture(t, "")
	port, mp := harness.FreePort(t), harness.FreePort(t)
	conf := fmt.Sprintf(`example.test:%d {
    bind 127.0.0.1
    prometheus 127.0.0.1:%d
    errors
    acmechallenge example.test {
        key %s %s %s
        grant %s name www.example.test
    }
    authzone example.test {
        primary %s key %s
        key %s %s %s
    }
}
`, port, mp, keyWWW.Name, keyWWW.Algorithm, keyWWW.Secret, keyWWW.Name, f.Addr, keyInt.Name, keyInt.Name, keyInt.Algorithm, keyInt.Secret)
	sec := harness.StartDnspki(t, t.TempDir(), conf, port)
	harness.WaitServes(t, sec.Addr, zone, serialOf(t, f.in), 30*time.Second, sec.Proc)
	metrics := fmt.Sprintf("http://127.0.0.1:%d/metrics", mp)
	from := harness.NewClient("127.0.0.1", port) // the primary's address
	notify := func() *dns.Msg {
		m := new(dns.Msg)
		m.SetNotify(zone)
		return m
	}
	accepted := func() float64 {
		return harness.Metric(t, metrics, "coredns_dnspki_xfr_notify_in_total", map[string]string{"result": "accepted"})
	}
	serial := serialOf(t, from)

	// Control: acme-www. alone is a valid key of the block, not the primary's.
	b, mac := signNow(t, notify(), keyWWW)
	r, raw := rawExchange(t, from, b, false)
	if r.Rcode != dns.RcodeRefused || verifyReply(t, raw, keyWWW, mac) != nil {
		t.Fatalf("control: NOTIFY signed with acme-www.: %s (want REFUSED, signed)", describe(r))
	}
	a0 := accepted()
	var pc pacer
	for _, c := range twoTSIGCases([][2]*harness.TSIGKey{{keyWWW, keyInt}}) {
		pc.take(1)
		mark := sec.LogMark()
		r, _ := rawExchange(t, from, twoTSIG(t, notify(), c.holds, c.wants, c.validFirst), c.tcp)
		expectFormErr(t, "NOTIFY, "+c.String(), r)
		logged(t, sec.Proc, mark, 1, `plugin/dnspki-tsig: NOTIFY example\.test\. from 127\.0\.0\.1:\d+, key `+regexp.QuoteMeta(c.lastKey())+`: refused \(FORMERR\): more than one TSIG record`)
	}
	// The real NOTIFY: accepted, signed, counted once.
	mark := sec.LogMark()
	b, mac = signNow(t, notify(), keyInt)
	r, raw = rawExchange(t, from, b, false)
	if r.Rcode != dns.RcodeSuccess || verifyReply(t, raw, keyInt, mac) != nil {
		t.Fatalf("NOTIFY signed with xfr-internal.: %s", describe(r))
	}
	logged(t, sec.Proc, mark, 1, `NOTIFY from 127\.0\.0\.1`)
	if got := accepted() - a0; got != 1 {
		t.Errorf("accepted NOTIFYs grew by %v, want 1 (the real one only)", got)
	}
	if got := serialOf(t, from); got != serial {
		t.Errorf("the secondary's serial moved %d -> %d", serial, got)
	}
}
