package acme

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/dnspki/dnspki/test/harness"
)

// TestNsupdate: BIND's nsupdate adds and deletes challenges (UDP and TCP,
// hmac-md5, -sha1, -sha224, -sha256, -sha384 and -sha512 keys, each refused
// when signed with another algorithm; delete one value, the RRset, the name,
// prerequisites); the changes reach AXFR and IXFR; everything outside a key's
// grant, and every bad signature, is refused and changes nothing.
func TestNsupdate(t *testing.T) {
	// A key of each other algorithm, each for a name of its own (lego's
	// default is hmac-sha1): keys of the test, not of the example.
	algs := []struct{ alg, key, secret, name string }{
		{"hmac-sha1", "acme-sha1.", "ZG5zcGtpLWFjbWUtc2hhMS10ZXN0LWtleS0wMTIzNDU2Nzg5", "sha1.example.test."},
		{"hmac-sha224", "acme-sha224.", "ZG5zcGtpLWFjbWUtc2hhMjI0LXRlc3Qta2V5LTAxMjM0NTY3ODk=", "sha224.example.test."},
		{"hmac-sha384", "acme-sha384.", "ZG5zcGtpLWFjbWUtc2hhMzg0LXRlc3Qta2V5LTAxMjM0NTY3ODk=", "sha384.example.test."},
		{"hmac-sha512", "acme-sha512.", "ZG5zcGtpLWFjbWUtc2hhNTEyLXRlc3Qta2V5LTAxMjM0NTY3ODk=", "sha512.example.test."},
	}
	var extra []string
	for _, a := range algs {
		extra = append(extra, fmt.Sprintf("key %s %s %s", a.key, a.alg, a.secret), fmt.Sprintf("grant %s name %s", a.key, a.name))
	}
	s, _ := example(t, extra...)
	addr := s.Addr
	www := "hmac-sha256:acme-www.:" + wwwSecret
	ch := "_acme-challenge.www.example.test."

	run := func(key string, tcp bool, cmds ...string) {
		t.Helper()
		if out, err := nsupdate(t, addr, key, tcp, cmds...); err != nil {
			t.Fatalf("nsupdate %v: %v\n%s", cmds, err, out)
		}
	}
	s0 := harness.MustSerial(t, addr, zone)
	run(www, false, fmt.Sprintf("update add %s 120 TXT %s", ch, val1))
	if got := harness.TXTValues(t, addr, ch); !slices.Equal(got, []string{val1}) {
		t.Fatalf("after add over UDP: %v", got)
	}
	if harness.MustSerial(t, addr, zone) != s0+1 {
		t.Fatalf("serial %d, want %d", harness.MustSerial(t, addr, zone), s0+1)
	}
	// A second value (a name and its wildcard) over TCP.
	run(www, true, fmt.Sprintf("update add %s 120 TXT %s", ch, val2))
	if got := harness.TXTValues(t, addr, ch); !slices.Equal(got, []string{val1, val2}) {
		t.Fatalf("after add over TCP: %v", got)
	}

	// The records are part of the zone: AXFR and IXFR carry them.
	axfr := transfer(t, addr, func(m *dns.Msg) { m.SetAxfr(zone) })
	if n := countTXT(axfr, ch); n != 2 {
		t.Fatalf("AXFR has %d challenge records:\n%s", n, join(axfr))
	}
	ixfr := transfer(t, addr, func(m *dns.Msg) { m.SetIxfr(zone, s0, "ns1.example.test.", "hostmaster.example.test.") })
	if n := countTXT(ixfr, ch); n != 2 {
		t.Fatalf("IXFR from %d has %d challenge records:\n%s", s0, n, join(ixfr))
	}

	// certbot/lego cleanup: one value (class NONE).
	run(www, false, fmt.Sprintf("update delete %s TXT %s", ch, val1))
	if got := harness.TXTValues(t, addr, ch); !slices.Equal(got, []string{val2}) {
		t.Fatalf("after deleting one value: %v", got)
	}
	// acme.sh cleanup: the RRset (class ANY).
	run(www, true, fmt.Sprintf("update delete %s TXT", ch))
	if got := harness.TXTValues(t, addr, ch); got != nil {
		t.Fatalf("after deleting the RRset: %v", got)
	}
	// The name (class ANY, type ANY), below intra.
	deep := "_acme-challenge.host.intra.example.test."
	run(www, false, fmt.Sprintf("update add %s 60 TXT %s", deep, val1))
	run(www, false, fmt.Sprintf("update delete %s", deep))
	if got := harness.TXTValues(t, addr, deep); got != nil {
		t.Fatalf("after deleting the name: %v", got)
	}
	// Prerequisites (RFC 2136 §2.4).
	run(www, false, "prereq nxrrset "+ch+" TXT", fmt.Sprintf("update add %s 60 TXT %s", ch, val1))
	if out, err := nsupdate(t, addr, www, false, "prereq nxrrset "+ch+" TXT", fmt.Sprintf("update add %s 60 TXT %s", ch, val2)); err == nil || !strings.Contains(out, "YXRRSET") {
		t.Fatalf("prerequisite not enforced: %v\n%s", err, out)
	}
	if got := harness.TXTValues(t, addr, ch); !slices.Equal(got, []string{val1}) {
		t.Fatalf("after a failed prerequisite: %v", got)
	}
	// hmac-md5 (certbot's default), for mail only.
	mail := "_acme-challenge.mail.example.test."
	run("hmac-md5:acme-md5.:"+md5Secret, true, fmt.Sprintf("update add %s 60 TXT %s", mail, val1))
	if got := harness.TXTValues(t, addr, mail); !slices.Equal(got, []string{val1}) {
		t.Fatalf("md5 add: %v", got)
	}

	// hmac-sha1, -sha224, -sha384, -sha512 (sha256 and md5 are above): an
	// add and a delete over UDP and TCP, then one value left.
	for i, a := range algs {
		key := a.alg + ":" + a.key + ":" + a.secret
		owner := "_acme-challenge." + a.name
		tcp := i%2 == 1
		run(key, tcp, fmt.Sprintf("update add %s 60 TXT %s", owner, val1), fmt.Sprintf("update add %s 60 TXT %s", owner, val2))
		if got := harness.TXTValues(t, addr, owner); !slices.Equal(got, []string{val1, val2}) {
			t.Fatalf("%s add: %v", a.alg, got)
		}
		run(key, !tcp, fmt.Sprintf("update delete %s TXT %s", owner, val2))
		if got := harness.TXTValues(t, addr, owner); !slices.Equal(got, []string{val1}) {
			t.Fatalf("%s delete: %v", a.alg, got)
		}
	}

	// Refused: nothing changes.
	before := harness.MustSerial(t, addr, zone)
	// logRe, if set, is the log line the refusal must produce (twice: UDP
	// and TCP).
	type refusal struct{ name, key, cmd, want, logRe string }
	var algRefusals []refusal
	for i, a := range algs {
		// The right secret with the algorithm of the next key (BADKEY).
		other := algs[(i+1)%len(algs)].alg
		for _, o := range []string{other, "hmac-sha256"} {
			algRefusals = append(algRefusals, refusal{a.key + " signed with " + o, o + ":" + a.key + ":" + a.secret,
				fmt.Sprintf("update add _acme-challenge.%s 60 TXT %s", a.name, val2), "NOTAUTH",
				regexp.QuoteMeta(fmt.Sprintf("refused (NOTAUTH/BADKEY): TSIG key %s is %s, request signed with %s", a.key, a.alg, o))})
		}
	}
	for _, c := range append([]refusal{
		{"other name", www, fmt.Sprintf("update add %s 60 TXT %s", mail, val2), "REFUSED", ""},
		{"other name below www", www, fmt.Sprintf("update add _acme-challenge.x.www.example.test. 60 TXT %s", val2), "REFUSED", ""},
		{"other type", www, fmt.Sprintf("check-names off\nupdate add %s 60 A 192.0.2.99", ch), "REFUSED", ""},
		{"the apex", www, fmt.Sprintf("update add example.test. 60 TXT %s", val2), "REFUSED", ""},
		{"the host itself", www, fmt.Sprintf("update add www.example.test. 60 TXT %s", val2), "REFUSED", ""},
		{"delete a zone file record", www, "update delete www.example.test. A", "REFUSED", ""},
		{"md5 key on www", "hmac-md5:acme-md5.:" + md5Secret, fmt.Sprintf("update add %s 60 TXT %s", ch, val2), "REFUSED", ""},
		{"not a digest", www, fmt.Sprintf("update add %s 60 TXT hello", ch), "REFUSED", ""},
		{"unknown key", "hmac-sha256:nobody.:" + wwwSecret, fmt.Sprintf("update add %s 60 TXT %s", ch, val2), "NOTAUTH", ""},
		{"wrong algorithm", "hmac-sha512:acme-www.:" + wwwSecret, fmt.Sprintf("update add %s 60 TXT %s", ch, val2), "NOTAUTH", ""},
		{"bad MAC", "hmac-sha256:acme-www.:" + md5Secret, fmt.Sprintf("update add %s 60 TXT %s", ch, val2), "NOTAUTH", ""},
		{"bad MAC md5", "hmac-md5:acme-md5.:" + wwwSecret, fmt.Sprintf("update add %s 60 TXT %s", mail, val2), "NOTAUTH", ""},
	}, algRefusals...) {
		if c.logRe != "" {
			// Refusal lines share a budget of loglimit.Burst (20) a
			// second, and the cases before used some of it: start a case
			// whose two lines are counted in a fresh second.
			time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second)))
		}
		mark := s.LogMark()
		for _, tcp := range []bool{false, true} {
			out, err := nsupdate(t, addr, c.key, tcp, c.cmd)
			if err == nil || !strings.Contains(out, c.want) {
				t.Errorf("%s (tcp=%v): not refused with %s: %v\n%s", c.name, tcp, c.want, err, out)
			}
		}
		if c.logRe != "" {
			if l := s.LogSince(mark, c.logRe); len(l) != 2 {
				t.Errorf("%s: %d log lines %q, want 2", c.name, len(l), c.logRe)
			}
		}
	}
	// A time outside the fudge (nsupdate cannot shift its clock): BADTIME.
	m := new(dns.Msg)
	m.SetUpdate(zone)
	m.Insert([]dns.RR{&dns.TXT{Hdr: dns.RR_Header{Name: ch, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 60}, Txt: []string{val2}}})
	m.SetTsig("acme-www.", dns.HmacSHA256, 300, time.Now().Add(-time.Hour).Unix())
	c := &dns.Client{Net: "tcp", Timeout: 5 * time.Second, TsigSecret: map[string]string{"acme-www.": wwwSecret}}
	r, _, err := c.Exchange(m, addr)
	if r == nil {
		t.Fatalf("BADTIME: no answer: %v", err)
	}
	if r.Rcode != dns.RcodeNotAuth || r.IsTsig() == nil || r.IsTsig().Error != dns.RcodeBadTime {
		t.Fatalf("time outside the fudge: %v", r)
	}
	// Unsigned.
	m = new(dns.Msg)
	m.SetUpdate(zone)
	m.Insert([]dns.RR{&dns.TXT{Hdr: dns.RR_Header{Name: ch, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 60}, Txt: []string{val2}}})
	if r, err := harness.Exchange(addr, m, false); err != nil || r.Rcode != dns.RcodeRefused {
		t.Fatalf("unsigned: %v %v", r, err)
	}

	if got := harness.MustSerial(t, addr, zone); got != before {
		t.Fatalf("refused updates moved the serial from %d to %d", before, got)
	}
	if got := harness.TXTValues(t, addr, ch); !slices.Equal(got, []string{val1}) {
		t.Fatalf("refused updates changed %s: %v", ch, got)
	}
	if got := harness.TXTValues(t, addr, mail); !slices.Equal(got, []string{val1}) {
		t.Fatalf("refused updates changed %s: %v", mail, got)
	}
	for _, a := range algs {
		if got := harness.TXTValues(t, addr, "_acme-challenge."+a.name); !slices.Equal(got, []string{val1}) {
			t.Fatalf("refused updates changed the %s name: %v", a.alg, got)
		}
	}
	if got := harness.TXTValues(t, addr, "_acme-challenge.x.www.example.test."); got != nil {
		t.Fatalf("refused updates added TXT at _acme-challenge.x.www: %v", got)
	}
	// The apex keeps exactly the zone file's TXT.
	if got := harness.TXTValues(t, addr, zone); !slices.Equal(got, []string{"v=spf1 mx -all"}) {
		t.Fatalf("refused updates changed the apex TXT: %v", got)
	}
	r, err = harness.Query(addr, "www.example.test.", dns.TypeA, false, false)
	if err != nil || len(r.Answer) != 1 {
		t.Fatalf("www A after refused delete: %v %v", r, err)
	}
}

func transfer(t *testing.T, addr string, set func(*dns.Msg)) []dns.RR {
	t.Helper()
	m := new(dns.Msg)
	set(m)
	tr := &dns.Transfer{ReadTimeout: 5 * time.Second}
	env, err := tr.In(m, addr)
	if err != nil {
		t.Fatal(err)
	}
	var out []dns.RR
	for e := range env {
		if e.Error != nil {
			t.Fatal(e.Error)
		}
		out = append(out, e.RR...)
	}
	return out
}

func countTXT(rrs []dns.RR, name string) int {
	n := 0
	for _, rr := range rrs {
		if rr.Header().Rrtype == dns.TypeTXT && strings.EqualFold(rr.Header().Name, name) {
			n++
		}
	}
	return n
}

func join(rrs []dns.RR) string {
	var b strings.Builder
	for _, rr := range rrs {
		b.WriteString(rr.String() + "\n")
	}
	return b.String()
}
