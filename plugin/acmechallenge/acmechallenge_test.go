package acmechallenge

import (
	"bytes"
	stdlog "log"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/dnspki/dnspki/plugin/pkg/loglimit"
	"github.com/dnspki/dnspki/plugin/pkg/tsigkey"
	"github.com/dnspki/dnspki/plugin/pkg/zonemodel"
)

const wwwCh = "_acme-challenge.www.example.test."

func wantRcode(t *testing.T, r *dns.Msg, rcode int) {
	t.Helper()
	if r.Rcode != rcode {
		t.Fatalf("rcode %s, want %s", dns.RcodeToString[r.Rcode], dns.RcodeToString[rcode])
	}
}

func TestAddDelete(t *testing.T) {
	f := newFixture(t, "")
	s0 := f.serial()

	// lego dnsupdate: delete the RRset, then add.
	m := new(dns.Msg)
	m.SetUpdate(origin)
	m.RemoveRRset([]dns.RR{txtRR(wwwCh, v1)})
	m.Insert([]dns.RR{txtRR(wwwCh, v1)})
	r := f.send(m, &wwwKey)
	wantRcode(t, r, dns.RcodeSuccess)
	if r.IsTsig() == nil || r.Opcode != dns.OpcodeUpdate || len(r.Question) != 1 {
		t.Fatalf("reply is not a signed UPDATE answer: %v", r)
	}
	if got := f.txt(wwwCh); !slices.Equal(got, []string{v1}) {
		t.Fatalf("served %v", got)
	}
	if f.serial() != s0+1 {
		t.Fatalf("serial %d, want %d", f.serial(), s0+1)
	}
	if f.model.View("").JournalLen() != 1 {
		t.Fatalf("journal has %d entries", f.model.View("").JournalLen())
	}

	// A name and its wildcard: two values at once (and a TTL above the
	// maximum is lowered).
	big := txtRR(wwwCh, v2)
	big.Header().Ttl = 86400
	wantRcode(t, f.send(update(big, txtRR(wwwCh, v3)), &wwwKey), dns.RcodeSuccess)
	if got := f.txt(wwwCh); len(got) != 3 {
		t.Fatalf("served %v", got)
	}
	if set := f.model.View("").Snapshot().Get(wwwCh, dns.TypeTXT); set.TTL() > 60 {
		t.Fatalf("TTL %d not capped", set.TTL())
	}

	// certbot, lego cleanup: delete one record (class NONE).
	m = new(dns.Msg)
	m.SetUpdate(origin)
	m.Remove([]dns.RR{txtRR(wwwCh, v1)})
	wantRcode(t, f.send(m, &wwwKey), dns.RcodeSuccess)
	if got := f.txt(wwwCh); len(got) != 2 || slices.Contains(got, v1) {
		t.Fatalf("served %v", got)
	}
	// acme.sh: delete the RRset (class ANY).
	m = new(dns.Msg)
	m.SetUpdate(origin)
	m.RemoveRRset([]dns.RR{txtRR(wwwCh, "")})
	wantRcode(t, f.send(m, &wwwKey), dns.RcodeSuccess)
	if got := f.txt(wwwCh); got != nil {
		t.Fatalf("served %v", got)
	}
	if n := f.z.count(); n != 0 {
		t.Fatalf("%d records tracked", n)
	}
	// Delete a name (class ANY type ANY) below intra.
	ch := "_acme-challenge.a.intra.example.test."
	wantRcode(t, f.send(update(txtRR(ch, v1)), &wwwKey), dns.RcodeSuccess)
	m = new(dns.Msg)
	m.SetUpdate(origin)
	m.RemoveName([]dns.RR{txtRR(ch, "")})
	wantRcode(t, f.send(m, &wwwKey), dns.RcodeSuccess)
	if got := f.txt(ch); got != nil {
		t.Fatalf("served %v", got)
	}
	// Deleting what is not there is no error and moves nothing.
	s := f.serial()
	m = new(dns.Msg)
	m.SetUpdate(origin)
	m.Remove([]dns.RR{txtRR(wwwCh, v1)})
	wantRcode(t, f.send(m, &wwwKey), dns.RcodeSuccess)
	if f.serial() != s {
		t.Fatal("serial moved without a change")
	}
}

func TestMD5AndSelf(t *testing.T) {
	f := newFixture(t, "")
	r := f.send(update(txtRR("_acme-challenge.mail.example.test.", v1)), &md5Key)
	wantRcode(t, r, dns.RcodeSuccess)
	// hmac-md5 replies are signed by the plugin itself (miekg/dns cannot).
	if r.IsTsig() == nil || r.IsTsig().Algorithm != dns.HmacMD5 {
		t.Fatalf("reply not signed with hmac-md5: %v", r)
	}
	wantRcode(t, f.send(update(txtRR("_acme-challenge.host.intra.example.test.", v1)), &hostKey), dns.RcodeSuccess)
	wantRcode(t, f.send(update(txtRR("_acme-challenge.x.host.intra.example.test.", v1)), &hostKey), dns.RcodeRefused)
}

func TestRefused(t *testing.T) {
	f := newFixture(t, "")
	wantRcode(t, f.send(update(txtRR(wwwCh, v1)), &wwwKey), dns.RcodeSuccess)
	s0 := f.serial()
	for _, c := range []struct {
		name  string
		m     *dns.Msg
		k     *key
		rcode int
		tsig  int
	}{
		{"other name", update(txtRR("_acme-challenge.mail.example.test.", v2)), &wwwKey, dns.RcodeRefused, 0},
		{"other type", update(rr(wwwCh + " 60 IN A 192.0.2.1")), &wwwKey, dns.RcodeRefused, 0},
		{"apex", update(txtRR(origin, v2)), &wwwKey, dns.RcodeRefused, 0},
		{"the name itself", update(txtRR("www.example.test.", v2)), &wwwKey, dns.RcodeRefused, 0},
		{"one bad among good", update(txtRR(wwwCh, v2), txtRR("_acme-challenge.mail.example.test.", v2)), &wwwKey, dns.RcodeRefused, 0},
		{"not a digest", update(txtRR(wwwCh, "hello")), &wwwKey, dns.RcodeRefused, 0},
		{"two strings", update(&dns.TXT{Hdr: dns.RR_Header{Name: wwwCh, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 60}, Txt: []string{v2, v3}}), &wwwKey, dns.RcodeRefused, 0},
		{"unsigned", update(txtRR(wwwCh, v2)), nil, dns.RcodeRefused, 0},
		{"unknown key", update(txtRR(wwwCh, v2)), &key{name: "nobody.", alg: dns.HmacSHA256, secret: wwwSecret}, dns.RcodeNotAuth, dns.RcodeBadKey},
		{"wrong algorithm", update(txtRR(wwwCh, v2)), &key{name: "acme-www.", alg: dns.HmacSHA512, secret: wwwSecret}, dns.RcodeNotAuth, dns.RcodeBadKey},
		{"bad MAC", update(txtRR(wwwCh, v2)), &key{name: "acme-www.", alg: dns.HmacSHA256, secret: md5Secret}, dns.RcodeNotAuth, dns.RcodeBadSig},
		{"bad MAC md5", update(txtRR("_acme-challenge.mail.example.test.", v2)), &key{name: "acme-md5.", alg: dns.HmacMD5, secret: wwwSecret}, dns.RcodeNotAuth, dns.RcodeBadSig},
		{"time outside fudge", update(txtRR(wwwCh, v2)), &key{name: "acme-www.", alg: dns.HmacSHA256, secret: wwwSecret, skew: -time.Hour}, dns.RcodeNotAuth, dns.RcodeBadTime},
		{"outside zone", update(txtRR("_acme-challenge.www.example.org.", v2)), &wwwKey, dns.RcodeNotZone, 0},
		{"at a CNAME", update(txtRR("_acme-challenge.cn.intra.example.test.", v2)), &wwwKey, dns.RcodeRefused, 0},
		{"below a delegation", update(txtRR("_acme-challenge.x.deleg.intra.example.test.", v2)), &wwwKey, dns.RcodeRefused, 0},
	} {
		r := f.send(c.m, c.k)
		if r.Rcode != c.rcode {
			t.Errorf("%s: rcode %s, want %s", c.name, dns.RcodeToString[r.Rcode], dns.RcodeToString[c.rcode])
		}
		if c.tsig != 0 {
			if tr := r.IsTsig(); tr == nil || int(tr.Error) != c.tsig {
				t.Errorf("%s: TSIG error %v, want %s", c.name, tr, dns.RcodeToString[c.tsig])
			}
		}
		if c.k != nil && c.tsig == 0 && r.IsTsig() == nil {
			t.Errorf("%s: reply to a signed request is not signed", c.name)
		}
	}
	if f.serial() != s0 {
		t.Fatalf("serial moved from %d to %d", s0, f.serial())
	}
	if got := f.txt(wwwCh); !slices.Equal(got, []string{v1}) {
		t.Fatalf("served %v", got)
	}
	if got := f.txt("_acme-challenge.mail.example.test."); got != nil {
		t.Fatalf("served %v", got)
	}
	// With EDNS the refusal says why (RFC 8914), with the metrics reason;
	// a prerequisite that does not hold is an answer, without EDE.
	for _, c := range []struct {
		name string
		m    *dns.Msg
		k    *key
		code uint16
		text string
	}{
		{"not granted", update(txtRR("_acme-challenge.mail.example.test.", v2)), &wwwKey, dns.ExtendedErrorCodeProhibited, "not_granted"},
		{"unsigned", update(txtRR(wwwCh, v2)), nil, dns.ExtendedErrorCodeProhibited, "unsigned"},
		{"zone not served", func() *dns.Msg { m := update(txtRR(wwwCh, v2)); m.Question[0].Name = "www.example.test."; return m }(), &wwwKey, dns.ExtendedErrorCodeNotAuthoritative, "notauth"},
	} {
		c.m.SetEdns0(1232, false)
		r := f.send(c.m, c.k)
		e := ednsError(r)
		if e == nil || e.InfoCode != c.code || e.ExtraText != c.text {
			t.Errorf("%s: EDE %v, want %d %q", c.name, e, c.code, c.text)
		}
	}
	m := update(txtRR(wwwCh, v2))
	m.NameNotUsed([]dns.RR{txtRR(wwwCh, "")})
	m.SetEdns0(1232, false)
	if r := f.send(m, &wwwKey); r.Rcode != dns.RcodeYXDomain || ednsError(r) != nil {
		t.Errorf("prerequisite: %v", r)
	}
}

func ednsError(m *dns.Msg) *dns.EDNS0_EDE {
	if o := m.IsEdns0(); o != nil {
		for _, e := range o.Option {
			if x, ok := e.(*dns.EDNS0_EDE); ok {
				return x
			}
		}
	}
	return nil
}

// A flood of refused UPDATEs (unsigned, not granted) is answered and
// counted in full but logged within the refusal log budget, the next line
// saying how many were not: an outsider cannot make the server write a log
// line per packet.
func TestRefusalLogBudget(t *testing.T) {
	f := newFixture(t, "")
	loglimit.Refusals.Reset()
	var buf bytes.Buffer
	stdlog.SetOutput(&buf)
	defer stdlog.SetOutput(os.Stderr)
	const n = 100
	unsigned := refusedTotal.WithLabelValues(origin, "none", "unsigned", "dns")
	counted := testutil.ToFloat64(unsigned)
	start := time.Now()
	for i := 0; i < n; i++ {
		k := &wwwKey
		if i%2 == 0 {
			k = nil
		}
		wantRcode(t, f.send(update(txtRR("_acme-challenge.mail.example.test.", v2)), k), dns.RcodeRefused)
	}
	if got := testutil.ToFloat64(unsigned) - counted; got != n/2 {
		t.Fatalf("%v unsigned refusals counted, want %d", got, n/2)
	}
	lines := strings.Count(buf.String(), "refused")
	// The loop may straddle a second boundary or two: a budget each.
	seconds := int(time.Since(start)/time.Second) + 2
	if lines == 0 || lines > loglimit.Burst*seconds || lines >= n {
		t.Fatalf("%d refusal lines for %d refusals in at most %d seconds:\n%s", lines, n, seconds, buf.String())
	}
	// A later line (once a second has a budget again) says how many were
	// not logged.
	for i := 0; !strings.Contains(buf.String(), "more refusals not logged)"); i++ {
		if i == 100 {
			t.Fatalf("no line counts the refusals not logged:\n%s", buf.String())
		}
		time.Sleep(50 * time.Millisecond)
		f.send(update(txtRR("_acme-challenge.mail.example.test.", v2)), nil)
	}
}

func TestZoneSection(t *testing.T) {
	f := newFixture(t, "")
	m := update(txtRR(wwwCh, v1))
	m.Question[0].Qtype = dns.TypeA
	wantRcode(t, f.send(m, &wwwKey), dns.RcodeFormatError)
	m = new(dns.Msg)
	m.SetUpdate("www.example.test.")
	m.Insert([]dns.RR{txtRR(wwwCh, v1)})
	wantRcode(t, f.send(m, &wwwKey), dns.RcodeNotAuth)
	// Malformed deletes.
	m = new(dns.Msg)
	m.SetUpdate(origin)
	m.Ns = append(m.Ns, &dns.ANY{Hdr: dns.RR_Header{Name: wwwCh, Rrtype: dns.TypeTXT, Class: dns.ClassANY, Ttl: 10}})
	wantRcode(t, f.send(m, &wwwKey), dns.RcodeFormatError)
	m = new(dns.Msg)
	m.SetUpdate(origin)
	m.Ns = append(m.Ns, &dns.ANY{Hdr: dns.RR_Header{Name: wwwCh, Rrtype: dns.TypeANY, Class: dns.ClassNONE}})
	wantRcode(t, f.send(m, &wwwKey), dns.RcodeFormatError)
	m = update(&dns.ANY{Hdr: dns.RR_Header{Name: wwwCh, Rrtype: dns.TypeANY, Class: dns.ClassINET, Ttl: 60}})
	wantRcode(t, f.send(m, &wwwKey), dns.RcodeFormatError)
	// A query is not ours.
	q := new(dns.Msg)
	q.SetQuestion(origin, dns.TypeSOA)
	w := &writer{}
	rc, err := f.a.ServeDNS(t.Context(), w, q)
	if err == nil || rc != dns.RcodeServerFailure || w.msg != nil {
		t.Fatalf("query handled: %d %v", rc, err)
	}
}

func TestPrerequisites(t *testing.T) {
	f := newFixture(t, "")
	wantRcode(t, f.send(update(txtRR(wwwCh, v1)), &wwwKey), dns.RcodeSuccess)
	ch2 := "_acme-challenge.b.intra.example.test."
	nxCh := "_acme-challenge.nx.intra.example.test."
	for _, c := range []struct {
		name   string
		prereq func(m *dns.Msg)
		rcode  int
	}{
		{"name in use", func(m *dns.Msg) { m.NameUsed([]dns.RR{txtRR(wwwCh, "")}) }, dns.RcodeSuccess},
		{"name in use fails", func(m *dns.Msg) { m.NameUsed([]dns.RR{txtRR(nxCh, "")}) }, dns.RcodeNameError},
		{"name not in use", func(m *dns.Msg) { m.NameNotUsed([]dns.RR{txtRR(nxCh, "")}) }, dns.RcodeSuccess},
		{"name not in use fails", func(m *dns.Msg) { m.NameNotUsed([]dns.RR{txtRR(wwwCh, "")}) }, dns.RcodeYXDomain},
		{"rrset exists", func(m *dns.Msg) { m.RRsetUsed([]dns.RR{txtRR(wwwCh, "")}) }, dns.RcodeSuccess},
		{"rrset exists fails", func(m *dns.Msg) { m.RRsetUsed([]dns.RR{rr(wwwCh + " 0 IN AAAA ::1")}) }, dns.RcodeNXRrset},
		{"rrset does not exist", func(m *dns.Msg) { m.RRsetNotUsed([]dns.RR{rr(wwwCh + " 0 IN AAAA ::1")}) }, dns.RcodeSuccess},
		{"rrset does not exist fails", func(m *dns.Msg) { m.RRsetNotUsed([]dns.RR{txtRR(wwwCh, "")}) }, dns.RcodeYXRrset},
		{"value dependent", func(m *dns.Msg) { m.Used([]dns.RR{txtRR(wwwCh, v1)}) }, dns.RcodeSuccess},
		{"value dependent fails", func(m *dns.Msg) { m.Used([]dns.RR{txtRR(wwwCh, v2)}) }, dns.RcodeNXRrset},
		{"value dependent of the zone file", func(m *dns.Msg) {
			m.Used([]dns.RR{rr("_acme-challenge.cn.intra.example.test. 0 IN CNAME delegated.example.org.")})
		}, dns.RcodeSuccess},
		// A prerequisite about a name the key may not change is refused
		// like a change that is not granted, whether the name exists or
		// not: no existence oracle.
		{"not granted, name exists", func(m *dns.Msg) { m.NameUsed([]dns.RR{txtRR("www.example.test.", "")}) }, dns.RcodeRefused},
		{"not granted, name does not exist", func(m *dns.Msg) { m.NameUsed([]dns.RR{txtRR("nx.example.test.", "")}) }, dns.RcodeRefused},
		{"not granted, name exists, not-in-use", func(m *dns.Msg) { m.NameNotUsed([]dns.RR{txtRR("mail.example.test.", "")}) }, dns.RcodeRefused},
		{"TTL not 0", func(m *dns.Msg) { m.Answer = append(m.Answer, rr("www.example.test. 5 IN A 192.0.2.10")) }, dns.RcodeFormatError},
		{"outside the zone", func(m *dns.Msg) { m.NameUsed([]dns.RR{txtRR("www.example.org.", "")}) }, dns.RcodeNotZone},
	} {
		s0 := f.serial()
		m := new(dns.Msg)
		m.SetUpdate(origin)
		c.prereq(m)
		m.Insert([]dns.RR{txtRR(ch2, v2)})
		r := f.send(m, &wwwKey)
		if r.Rcode != c.rcode {
			t.Errorf("%s: rcode %s, want %s", c.name, dns.RcodeToString[r.Rcode], dns.RcodeToString[c.rcode])
			continue
		}
		applied := f.txt(ch2) != nil
		if applied != (c.rcode == dns.RcodeSuccess) {
			t.Errorf("%s: applied=%v", c.name, applied)
		}
		if !applied && f.serial() != s0 {
			t.Errorf("%s: serial moved", c.name)
		}
		// Reset.
		m = new(dns.Msg)
		m.SetUpdate(origin)
		m.RemoveRRset([]dns.RR{txtRR(ch2, "")})
		wantRcode(t, f.send(m, &wwwKey), dns.RcodeSuccess)
	}
}

func TestLimits(t *testing.T) {
	f := newFixture(t, "max_values 2\nmax_records 3\nmax_size 600")
	// refusedFor checks that m is REFUSED for reason (the metric label) and
	// that nothing of it was applied: the serial stays, the names keep their
	// values.
	refusedFor := func(m *dns.Msg, reason string, names ...string) {
		t.Helper()
		before := map[string][]string{}
		for _, n := range names {
			before[n] = f.txt(n)
		}
		s := f.serial()
		n0 := testutil.ToFloat64(refusedTotal.WithLabelValues(origin, "acme-www.", reason, "dns"))
		wantRcode(t, f.send(m, &wwwKey), dns.RcodeRefused)
		if got := testutil.ToFloat64(refusedTotal.WithLabelValues(origin, "acme-www.", reason, "dns")); got != n0+1 {
			t.Errorf("refusal not counted with reason %s: %v -> %v", reason, n0, got)
		}
		if f.serial() != s {
			t.Errorf("refused (%s) UPDATE moved the serial %d -> %d", reason, s, f.serial())
		}
		for _, n := range names {
			if got := f.txt(n); !slices.Equal(got, before[n]) {
				t.Errorf("refused (%s) UPDATE changed %s: %v -> %v", reason, n, before[n], got)
			}
		}
	}
	wantRcode(t, f.send(update(txtRR(wwwCh, v1), txtRR(wwwCh, v2)), &wwwKey), dns.RcodeSuccess)
	// A third value at the name.
	refusedFor(update(txtRR(wwwCh, v3)), "limit_values", wwwCh)
	if got := f.txt(wwwCh); !slices.Equal(got, []string{v1, v2}) {
		t.Fatalf("after the values limit: %v", got)
	}
	// Replacing works: the limit is on the result.
	m := new(dns.Msg)
	m.SetUpdate(origin)
	m.Remove([]dns.RR{txtRR(wwwCh, v1)})
	m.Insert([]dns.RR{txtRR(wwwCh, v3)})
	wantRcode(t, f.send(m, &wwwKey), dns.RcodeSuccess)
	// Records per key: two at www, one more elsewhere is the third, a fourth is refused.
	wantRcode(t, f.send(update(txtRR("_acme-challenge.a.intra.example.test.", v1)), &wwwKey), dns.RcodeSuccess)
	refusedFor(update(txtRR("_acme-challenge.b.intra.example.test.", v1)), "limit_records", "_acme-challenge.b.intra.example.test.", wwwCh)
	if f.txt("_acme-challenge.b.intra.example.test.") != nil {
		t.Fatal("refused change applied")
	}
	// Another key has its own budget.
	wantRcode(t, f.send(update(txtRR("_acme-challenge.mail.example.test.", v1)), &md5Key), dns.RcodeSuccess)
	// Message size: refused whole, even the part that would fit. A
	// deletion of a value frees a record, so only the size stops it.
	many := []dns.RR{}
	for i := 0; i < 12; i++ {
		many = append(many, txtRR("_acme-challenge.c.intra.example.test.", v1))
	}
	big := update(many...)
	big.Remove([]dns.RR{txtRR(wwwCh, v2)})
	refusedFor(big, "limit_size", "_acme-challenge.c.intra.example.test.", wwwCh)
	if f.txt("_acme-challenge.c.intra.example.test.") != nil || !slices.Contains(f.txt(wwwCh), v2) {
		t.Fatalf("oversized UPDATE applied: c %v www %v", f.txt("_acme-challenge.c.intra.example.test."), f.txt(wwwCh))
	}
}

func TestExpiryAndRestart(t *testing.T) {
	f := newFixture(t, "expire 1h")
	wantRcode(t, f.send(update(txtRR(wwwCh, v1)), &wwwKey), dns.RcodeSuccess)
	// An instant strictly between the two records' times (no fixed sleeps:
	// the clock is read until it has moved on).
	mid := clockAfter(t, time.Now())
	clockAfter(t, mid)
	wantRcode(t, f.send(update(txtRR("_acme-challenge.mail.example.test.", v2)), &md5Key), dns.RcodeSuccess)

	// A restart keeps both records and their ages.
	f.restart()
	if got := f.txt(wwwCh); !slices.Equal(got, []string{v1}) {
		t.Fatalf("after restart: %v", got)
	}
	if f.z.count() != 2 {
		t.Fatalf("after restart: %d records tracked", f.z.count())
	}
	s0 := f.serial()
	// An hour after the first one: only it goes.
	f.z.expire(mid.Add(time.Hour))
	if f.txt(wwwCh) != nil || f.txt("_acme-challenge.mail.example.test.") == nil {
		t.Fatalf("expiry: www %v mail %v", f.txt(wwwCh), f.txt("_acme-challenge.mail.example.test."))
	}
	if f.serial() != s0+1 {
		t.Fatal("expiry did not move the serial")
	}
	if len(f.z.ch.src.MetaKeys()) != 1 {
		t.Fatalf("metadata left: %v", f.z.ch.src.MetaKeys())
	}
	f.z.expire(time.Now().Add(2 * time.Hour))
	if f.z.count() != 0 || len(f.z.ch.src.MetaKeys()) != 0 {
		t.Fatal("not everything expired")
	}
}

func TestReconcile(t *testing.T) {
	f := newFixture(t, "")
	// A record in the store without metadata (written by something else)
	// gets a time at start, so that it expires too.
	err := f.z.ch.src.Update(nil, func(tx *zonemodel.Tx) error {
		tx.Add(txtRR(wwwCh, v1))
		tx.SetMeta("stale-key", []byte(`{"t":1,"by":"x"}`))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	f.restart()
	keys := f.z.ch.src.MetaKeys()
	if len(keys) != 1 || keys[0] != recID(txtRR(wwwCh, v1)) {
		t.Fatalf("metadata after reconcile: %v", keys)
	}
}

func TestViews(t *testing.T) {
	dir := t.TempDir()
	c := `acmechallenge example.test {
		key acme-www. hmac-sha256 ` + wwwSecret + `
		grant acme-www. name www.example.test
		view external
	}`
	_, z, m := openZone(t, c, dir, "internal", "external")
	defer m.Close()
	defer z.shutdown()
	ops := []op{{Change: changeAdd(txtRR(wwwCh, v1))}}
	if _, _, err := z.change(kindChallenge, "acme-www.", ops, nil); err != nil {
		t.Fatal(err)
	}
	if m.View("external").Snapshot().Get(wwwCh, dns.TypeTXT) == nil || m.View("internal").Snapshot().Get(wwwCh, dns.TypeTXT) != nil {
		t.Fatal("record not only in the external view")
	}
}

func TestRingSecretsRegistered(t *testing.T) {
	f := newFixture(t, "")
	secrets := map[string]string{}
	if err := f.a.ring.Register(secrets); err != nil {
		t.Fatal(err)
	}
	if secrets["acme-www."] != wwwSecret || secrets["acme-md5."] != md5Secret {
		t.Fatalf("secrets: %v", secrets)
	}
	if _, err := tsigkey.Algorithm("hmac-md5"); err != nil {
		t.Fatal(err)
	}
}

func TestSweeper(t *testing.T) {
	f := newFixture(t, "expire 1s")
	wantRcode(t, f.send(update(txtRR(wwwCh, v1)), &wwwKey), dns.RcodeSuccess)
	deadline := time.Now().Add(10 * time.Second)
	for f.txt(wwwCh) != nil {
		if time.Now().After(deadline) {
			t.Fatal("stale challenge not removed by the timer")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if f.z.count() != 0 {
		t.Fatal("metadata left")
	}
}

// clockAfter returns the first reading of the clock later than prev
// (bounded: the clock moves within microseconds).
func clockAfter(t *testing.T, prev time.Time) time.Time {
	t.Helper()
	for range 10_000_000 {
		if now := time.Now(); now.After(prev) {
			return now
		}
	}
	t.Fatal("the clock did not move")
	return prev
}
