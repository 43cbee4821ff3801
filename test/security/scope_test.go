package security

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/dnspki/dnspki/test/harness"
)

// TestOutOfScope: an ACME key changes exactly what it is granted. With
// nsupdate (UDP and TCP), acme-www. (granted _acme-challenge TXT of www and
// of the intra subtree) is REFUSED for other names (mail, a name below www,
// the host itself, the apex, a label with an escaped dot that only looks
// like part of intra), other types, deletions of zone file data, in any
// letter case, with and without the trailing dot, and with its key name in
// another case or without its trailing dot; each refusal is logged with the
// key, the name and why, and nothing changes. The same key, spelled the
// same ways, is accepted on its own names (so the refusals are about the
// names, not the spelling).
func TestOutOfScope(t *testing.T) {
	harness.Need(t, "nsupdate")
	f := startFixture(t, "")
	keyNames := []string{"acme-www.", "ACME-WWW.", "acme-www", "Acme-Www"}
	refused := []struct {
		cmd   string
		owner string // as the log names it
	}{
		{"update add _acme-challenge.mail.example.test 60 TXT " + val1, "_acme-challenge.mail.example.test./TXT"},
		{"update add _ACME-CHALLENGE.MAIL.EXAMPLE.TEST. 60 TXT " + val1, "_acme-challenge.mail.example.test./TXT"},
		{"update add _acme-challenge.x.www.example.test 60 TXT " + val1, "_acme-challenge.x.www.example.test./TXT"},
		{"update add _acme-challenge.x\\.intra.example.test 60 TXT " + val1, `_acme-challenge.x\.intra.example.test./TXT`},
		{"update add www.example.test 60 TXT " + val1, "www.example.test./TXT"},
		{"update add Example.Test. 60 TXT " + val1, "example.test./TXT"},
		{"check-names off\nupdate add _acme-challenge.www.example.test 60 A 192.0.2.66", "_acme-challenge.www.example.test./A"},
		{"update add _acme-challenge.WWW.example.test 60 CNAME www.example.test.", "_acme-challenge.www.example.test./CNAME"},
		{"update delete www.example.test A", "www.example.test./A"},
		{"update delete WWW.EXAMPLE.TEST", "www.example.test."},
		{"update add _acme-challenge.www.example.test 60 TXT not-a-digest", "_acme-challenge.www.example.test./TXT"},
	}
	before := f.state(t)
	for i, c := range refused {
		kn := keyNames[i%len(keyNames)]
		for _, tcp := range []bool{false, true} {
			f.logs.take(1)
			mark := f.LogMark()
			out, err := nsupdate(t, f.Addr, "127.0.0.2", keyWWW, kn, tcp, c.cmd)
			if err == nil || !strings.Contains(out, "REFUSED") {
				t.Errorf("%q with key name %s (tcp=%v) was not refused: %v\n%s", c.cmd, kn, tcp, err, out)
			}
			logged(t, f.Proc, mark, 1, `plugin/acmechallenge: UPDATE example\.test\. by acme-www\. from `+src(f.ext)+` refused \(REFUSED\): acme-www\.: [a-z-]+ `+regexp.QuoteMeta(c.owner)+`: (not granted|invalid record)`)
		}
	}
	// Unsigned: REFUSED, whatever the name.
	f.logs.take(1)
	mark := f.LogMark()
	r, err := f.ext.Exchange(addTXT("_acme-challenge.www.example.test.", val1), false)
	if err != nil || r.Rcode != dns.RcodeRefused || r.IsTsig() != nil {
		t.Errorf("unsigned UPDATE: %v %v", r, err)
	}
	logged(t, f.Proc, mark, 1, `UPDATE example\.test\. from `+src(f.ext)+` refused: not signed`)
	// Within its grant, a key cannot delete what another source (the
	// internal zone file) holds: NOERROR, nothing to change.
	if out, err := nsupdate(t, f.Addr, "127.0.0.1", keyWWW, "acme-www.", false, "update delete _acme-challenge.vault.intra.example.test TXT"); err != nil {
		t.Errorf("deleting a zone file record within the grant: %v\n%s", err, out)
	}
	logged(t, f.Proc, 0, 1, `zone example\.test\.: UPDATE by acme-www\.: nothing to change`)
	f.unchanged(t, before, "out-of-scope UPDATEs")

	// The same key, in every spelling, on its own names in any case.
	for i, owner := range []string{"_acme-challenge.www.example.test", "_Acme-Challenge.WWW.Example.Test.", "_acme-challenge.db.intra.example.test.", "_ACME-CHALLENGE.DEEP.DB.INTRA.EXAMPLE.TEST"} {
		kn := keyNames[i%len(keyNames)]
		if out, err := nsupdate(t, f.Addr, "127.0.0.2", keyWWW, kn, i%2 == 1, fmt.Sprintf("update add %s 60 TXT %s", owner, val2)); err != nil {
			t.Fatalf("%s with key name %s: %v\n%s", owner, kn, err, out)
		}
		if got := harness.TXTValues(t, f.Addr, strings.ToLower(dns.Fqdn(owner))); !slices.Equal(got, []string{val2}) {
			t.Errorf("%s after the accepted UPDATE: %v", owner, got)
		}
	}
	logged(t, f.Proc, 0, 4, `zone example\.test\.: UPDATE by acme-www\.: added`)
}

// prereqMsg is an UPDATE whose prerequisite section holds one
// prerequisite of kind ("yxdomain", "nxdomain", "yxrrset", "nxrrset",
// "value": the RRset exactly rr) about name, and no update.
func prereqMsg(kind, name string, rr dns.RR) *dns.Msg {
	m := new(dns.Msg)
	m.SetUpdate(zone)
	hdr := dns.RR_Header{Name: name, Rrtype: dns.TypeANY, Class: dns.ClassANY}
	switch kind {
	case "yxdomain":
		m.NameUsed([]dns.RR{&dns.ANY{Hdr: hdr}})
	case "nxdomain":
		m.NameNotUsed([]dns.RR{&dns.ANY{Hdr: hdr}})
	case "yxrrset":
		m.RRsetUsed([]dns.RR{rr})
	case "nxrrset":
		m.RRsetNotUsed([]dns.RR{rr})
	case "value":
		m.Used([]dns.RR{rr})
	}
	return m
}

// normalized is an answer with what differs between two requests (ID, the
// TSIG record) left out.
func normalized(m *dns.Msg) string {
	c := m.Copy()
	c.Id = 0
	if len(c.Extra) > 0 && c.Extra[len(c.Extra)-1].Header().Rrtype == dns.TypeTSIG {
		c.Extra = c.Extra[:len(c.Extra)-1]
	}
	for i := range c.Question {
		c.Question[i].Name = "Z"
	}
	return c.String()
}

// TestPrerequisiteNoOracle: RFC 2136 prerequisites and refusals must not
// tell an outsider holding a key which names exist in the internal view.
// From outside, with acme-www.:
//   - an update it is not granted, of a name that exists only internally,
//     of a public name and of a name that never existed: the same answer;
//   - a prerequisite (every kind, the exact internal value included) about
//     such names, which the key may not change: the same answer (REFUSED,
//     signed) for all three;
//   - a prerequisite about a name the key may change that has data only in
//     the internal view (_acme-challenge.vault.intra): answered exactly like
//     for a name that never existed (evaluated in the requester's view),
//     while from inside it holds (so there is something to hide).
//
// Nothing changes.
func TestPrerequisiteNoOracle(t *testing.T) {
	f := startFixture(t, "")
	before := f.state(t)
	ask := func(c harness.Client, m *dns.Msg, k *harness.TSIGKey) *dns.Msg {
		t.Helper()
		b, mac := signNow(t, m, k)
		r, raw := rawExchange(t, c, b, true)
		if err := verifyReply(t, raw, k, mac); err != nil {
			t.Errorf("answer not signed with %s: %v (%s)", k.Name, err, describe(r))
		}
		return r
	}
	a := func(name, addr string) dns.RR {
		rr, _ := dns.NewRR(fmt.Sprintf("%s 0 IN A %s", name, addr))
		return rr
	}
	txt := func(name, v string) dns.RR {
		rr, _ := dns.NewRR(fmt.Sprintf("%s 0 IN TXT %q", name, v))
		return rr
	}
	// (internal-only, public, never existed) triples of the same question.
	type triple [3]*dns.Msg
	var cases []struct {
		what string
		msgs triple
	}
	add := func(what string, mk func(name string, i int) *dns.Msg) {
		var tr triple
		for i, n := range []string{"db.intra.example.test.", "www.example.test.", "nxzq.intra.example.test."} {
			tr[i] = mk(n, i)
		}
		cases = append(cases, struct {
			what string
			msgs triple
		}{what, tr})
	}
	addrs := []string{"10.1.2.4", "192.0.2.10", "10.1.2.4"}
	add("update A", func(n string, i int) *dns.Msg { return updateMsg(n + " 60 IN A 192.0.2.66") })
	add("delete name", func(n string, i int) *dns.Msg {
		m := new(dns.Msg)
		m.SetUpdate(zone)
		m.RemoveName([]dns.RR{&dns.ANY{Hdr: dns.RR_Header{Name: n, Rrtype: dns.TypeANY, Class: dns.ClassINET}}})
		return m
	})
	for _, kind := range []string{"yxdomain", "nxdomain", "yxrrset", "nxrrset", "value"} {
		add("prereq "+kind, func(n string, i int) *dns.Msg {
			return prereqMsg(kind, n, a(n, addrs[i]))
		})
	}
	for _, c := range cases {
		var first string
		for i, m := range c.msgs {
			r := ask(f.ext, m, keyWWW)
			if r.Rcode != dns.RcodeRefused {
				t.Errorf("%s about %s: %s, want REFUSED", c.what, m.Ns, describe(r))
			}
			if i == 0 {
				first = normalized(r)
			} else if got := normalized(r); got != first {
				t.Errorf("%s: the answer differs between an internal-only name and another:\n%s\n---\n%s", c.what, first, got)
			}
		}
	}
	logged(t, f.Proc, 0, 1, `UPDATE example\.test\. by acme-www\. from `+src(f.ext)+` refused \(REFUSED\): acme-www\. may not change db\.intra\.example\.test\., so it may not ask about it in a prerequisite`)

	// Names the key may change: _acme-challenge.vault.intra has a TXT in the
	// internal view only.
	inner, never := "_acme-challenge.vault.intra.example.test.", "_acme-challenge.nxzq.intra.example.test."
	for _, kind := range []string{"yxdomain", "nxdomain", "yxrrset", "nxrrset", "value"} {
		ri := ask(f.ext, prereqMsg(kind, inner, txt(inner, "internalonlychallenge")), keyWWW)
		rn := ask(f.ext, prereqMsg(kind, never, txt(never, "internalonlychallenge")), keyWWW)
		if normalized(ri) != normalized(rn) {
			t.Errorf("prereq %s from outside: %s for the internal-only name, %s for one that never existed", kind, describe(ri), describe(rn))
		}
	}
	// From inside the internal data is seen (the prerequisite holds).
	if r := ask(f.in, prereqMsg("value", inner, txt(inner, "internalonlychallenge")), keyWWW); r.Rcode != dns.RcodeSuccess {
		t.Errorf("prereq value from inside: %s, want NOERROR (the internal view has it)", describe(r))
	}
	if r := ask(f.ext, prereqMsg("value", inner, txt(inner, "internalonlychallenge")), keyWWW); r.Rcode != dns.RcodeNXRrset {
		t.Errorf("prereq value from outside: %s, want NXRRSET (the external view lacks it)", describe(r))
	}
	f.unchanged(t, before, "prerequisite probes")
}
