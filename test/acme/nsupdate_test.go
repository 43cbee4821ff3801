package acme

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/dnspki/dnspki/test/harness"
)

// TestNsupdate: BIND's nsupdate adds and deletes challenges (UDP and TCP,
// hmac-sha256 and hmac-md5, delete one value, the RRset, the name,
// prerequisites); the changes reach AXFR and IXFR; everything outside a key's
// grant, and every bad signature, is refused and changes nothing.
func TestNsupdate(t *testing.T) {
	s, _ := example(t)
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

	// Refused: nothing changes.
	before := harness.MustSerial(t, addr, zone)
	for _, c := range []struct {
		name, key, cmd, want string
	}{
		{"other name", www, fmt.Sprintf("update add %s 60 TXT %s", mail, val2), "REFUSED"},
		{"other name below www", www, fmt.Sprintf("update add _acme-challenge.x.www.example.test. 60 TXT %s", val2), "REFUSED"},
		{"other type", www, fmt.Sprintf("check-names off\nupdate add %s 60 A 192.0.2.99", ch), "REFUSED"},
		{"the apex", www, fmt.Sprintf("update add example.test. 60 TXT %s", val2), "REFUSED"},
		{"the host itself", www, fmt.Sprintf("update add www.example.test. 60 TXT %s", val2), "REFUSED"},
		{"delete a zone file record", www, "update delete www.example.test. A", "REFUSED"},
		{"md5 key on www", "hmac-md5:acme-md5.:" + md5Secret, fmt.Sprintf("update add %s 60 TXT %s", ch, val2), "REFUSED"},
		{"not a digest", www, fmt.Sprintf("update add %s 60 TXT hello", ch), "REFUSED"},
		{"unknown key", "hmac-sha256:nobody.:" + wwwSecret, fmt.Sprintf("update add %s 60 TXT %s", ch, val2), "NOTAUTH"},
		{"wrong algorithm", "hmac-sha512:acme-www.:" + wwwSecret, fmt.Sprintf("update add %s 60 TXT %s", ch, val2), "NOTAUTH"},
		{"bad MAC", "hmac-sha256:acme-www.:" + md5Secret, fmt.Sprintf("update add %s 60 TXT %s", ch, val2), "NOTAUTH"},
		{"bad MAC md5", "hmac-md5:acme-md5.:" + wwwSecret, fmt.Sprintf("update add %s 60 TXT %s", mail, val2), "NOTAUTH"},
	} {
		for _, tcp := range []bool{false, true} {
			out, err := nsupdate(t, addr, c.key, tcp, c.cmd)
			if err == nil || !strings.Contains(out, c.want) {
				t.Errorf("%s (tcp=%v): not refused with %s: %v\n%s", c.name, tcp, c.want, err, out)
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
