package acmechallenge

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/dnspki/dnspki/plugin/pkg/persist"
	"github.com/dnspki/dnspki/plugin/pkg/zonemodel"
)

const (
	hostVP  = "_validation-persist.host.intra.example.test."
	acctURI = "https://ca.example/acme/acct/1"
	goodVal = "ca.example; accounturi=" + acctURI + "; policy=wildcard"
)

// persistGrants: the host key may set its own validation record; acme-www.
// those below intra.
const persistGrants = `grant host.intra.example.test. persist self
	grant acme-www. persist subdomain intra.example.test`

func TestPersistUpdate(t *testing.T) {
	f := newFixture(t, persistGrants+"\nexpire 1s")
	s0 := f.serial()
	r := f.send(update(txtRR(hostVP, goodVal)), &hostKey)
	wantRcode(t, r, dns.RcodeSuccess)
	if r.IsTsig() == nil {
		t.Fatal("reply not signed")
	}
	if got := f.txt(hostVP); !slices.Equal(got, []string{goodVal}) {
		t.Fatalf("served %v", got)
	}
	if f.serial() != s0+1 {
		t.Fatalf("serial %d, want %d", f.serial(), s0+1)
	}
	// In its own source, not the challenges'.
	if n := len(f.z.persist.src.Records("")); n != 1 || f.z.count() != 0 {
		t.Fatalf("persist source has %d records, challenges %d", n, f.z.count())
	}
	// The TTL is kept up to persist_ttl (3600 by default).
	long := txtRR(hostVP, "ca2.example; accounturi="+acctURI)
	long.Header().Ttl = 86400
	wantRcode(t, f.send(update(long), &hostKey), dns.RcodeSuccess)
	if set := f.model.View("").Snapshot().Get(hostVP, dns.TypeTXT); set.TTL() != 120 && set.TTL() > 3600 {
		t.Fatalf("TTL %d", set.TTL())
	}
	for _, rr := range f.z.persist.src.Records("") {
		if rr.Header().Ttl > 3600 {
			t.Fatalf("TTL not capped: %v", rr)
		}
	}

	// A value longer than 255 octets, as several strings (the CA
	// concatenates them).
	rec := &persist.Record{Issuer: "ca3.example", AccountURI: "https://ca3.example/acct/" + strings.Repeat("9", 300)}
	multi := rec.TXT("host.intra.example.test", 300)
	wantRcode(t, f.send(update(multi), &hostKey), dns.RcodeSuccess)
	if got := f.txt(hostVP); len(got) != 3 || !slices.Contains(got, rec.String()) {
		t.Fatalf("served %v", got)
	}

	// Never expired like a challenge, kept across restarts.
	f.z.expire(time.Now().Add(24 * time.Hour))
	f.restart()
	if got := f.txt(hostVP); len(got) != 3 {
		t.Fatalf("after expiry and restart: %v", got)
	}
	if n := len(f.z.persist.recs); n != 3 {
		t.Fatalf("%d validation records tracked", n)
	}

	// Delete one (class NONE), then the name (class ANY type ANY).
	m := new(dns.Msg)
	m.SetUpdate(origin)
	m.Remove([]dns.RR{txtRR(hostVP, goodVal)})
	wantRcode(t, f.send(m, &hostKey), dns.RcodeSuccess)
	if got := f.txt(hostVP); len(got) != 2 || slices.Contains(got, goodVal) {
		t.Fatalf("after delete: %v", got)
	}
	m = new(dns.Msg)
	m.SetUpdate(origin)
	m.RemoveName([]dns.RR{txtRR(hostVP, "")})
	wantRcode(t, f.send(m, &hostKey), dns.RcodeSuccess)
	if got := f.txt(hostVP); got != nil || len(f.z.persist.recs) != 0 || len(f.z.persist.src.MetaKeys()) != 0 {
		t.Fatalf("after deleting the name: %v %v", got, f.z.persist.src.MetaKeys())
	}

	// Prerequisites see the validation records (nsupdate "prereq nxrrset").
	m = new(dns.Msg)
	m.SetUpdate(origin)
	m.RRsetNotUsed([]dns.RR{txtRR(hostVP, "")})
	m.Insert([]dns.RR{txtRR(hostVP, goodVal)})
	wantRcode(t, f.send(m, &hostKey), dns.RcodeSuccess)
	m = new(dns.Msg)
	m.SetUpdate(origin)
	m.RRsetNotUsed([]dns.RR{txtRR(hostVP, "")})
	m.Insert([]dns.RR{txtRR(hostVP, "ca4.example; accounturi="+acctURI)})
	wantRcode(t, f.send(m, &hostKey), dns.RcodeYXRrset)
}

func TestPersistRefused(t *testing.T) {
	f := newFixture(t, persistGrants)
	wantRcode(t, f.send(update(txtRR(hostVP, goodVal)), &hostKey), dns.RcodeSuccess)
	s0 := f.serial()
	past := time.Now().Add(-time.Minute).Unix()
	bad := map[string]string{
		"empty":                "",
		"no accounturi":        "ca.example",
		"empty accounturi":     "ca.example; accounturi=",
		"uppercase issuer":     "CA.example; accounturi=" + acctURI,
		"trailing dot":         "ca.example.; accounturi=" + acctURI,
		"U-label issuer":       "bücher.example; accounturi=" + acctURI,
		"http account":         "ca.example; accounturi=http://ca.example/acct/1",
		"relative account":     "ca.example; accounturi=/acct/1",
		"duplicate tag":        "ca.example; accounturi=" + acctURI + "; AccountURI=" + acctURI,
		"trailing semicolon":   "ca.example; accounturi=" + acctURI + ";",
		"no tag=value":         "ca.example; accounturi=" + acctURI + "; policy",
		"unknown policy":       "ca.example; accounturi=" + acctURI + "; policy=subdomains",
		"persistUntil text":    "ca.example; accounturi=" + acctURI + "; persistUntil=soon",
		"persistUntil past":    fmt.Sprintf("ca.example; accounturi=%s; persistUntil=%d", acctURI, past),
		"space in value":       "ca.example; accounturi=" + acctURI + "; x=a b",
		"an ACME digest":       v1,
		"hashed form too long": "ca.example; accounturi=https://ca.example/sha-256/" + strings.Repeat("A", 44) + "x y",
	}
	for name, v := range bad {
		r := f.send(update(txtRR(hostVP, v)), &hostKey)
		if r.Rcode != dns.RcodeRefused {
			t.Errorf("%s (%q): rcode %s, want REFUSED", name, v, dns.RcodeToString[r.Rcode])
		}
	}
	for _, c := range []struct {
		name string
		m    *dns.Msg
		k    *key
	}{
		// One malformed record among good ones: nothing applied.
		{"one bad among good", update(txtRR(hostVP, "ca5.example; accounturi="+acctURI), txtRR(hostVP, "ca5.example")), &hostKey},
		{"self grant, name below", update(txtRR("_validation-persist.x.host.intra.example.test.", goodVal)), &hostKey},
		{"self grant, the host itself", update(txtRR("host.intra.example.test.", goodVal)), &hostKey},
		{"challenge-only key", update(txtRR("_validation-persist.mail.example.test.", goodVal)), &md5Key},
		{"subdomain grant, outside", update(txtRR("_validation-persist.www.example.test.", goodVal)), &wwwKey},
		{"other type", update(rr(hostVP + " 60 IN A 192.0.2.1")), &hostKey},
		{"a wildcard label", update(txtRR("_validation-persist.*.intra.example.test.", goodVal)), &wwwKey},
		{"at a CNAME's owner", update(txtRR("_validation-persist.cn.intra.example.test.", goodVal)), &wwwKey},
		{"below a delegation", update(txtRR("_validation-persist.deleg.intra.example.test.", goodVal)), &wwwKey},
		// Two kinds in one UPDATE are two sources: refused, nothing applied.
		{"challenge and validation record", update(txtRR("_acme-challenge.host.intra.example.test.", v1), txtRR(hostVP, "ca6.example; accounturi="+acctURI)), &hostKey},
		{"unsigned", update(txtRR(hostVP, "ca7.example; accounturi="+acctURI)), nil},
	} {
		r := f.send(c.m, c.k)
		if r.Rcode != dns.RcodeRefused {
			t.Errorf("%s: rcode %s, want REFUSED", c.name, dns.RcodeToString[r.Rcode])
		}
	}
	if f.serial() != s0 {
		t.Fatalf("refused updates moved the serial from %d to %d", s0, f.serial())
	}
	if got := f.txt(hostVP); !slices.Equal(got, []string{goodVal}) {
		t.Fatalf("served %v", got)
	}
	if f.z.count() != 0 || len(f.z.persist.recs) != 1 {
		t.Fatalf("tracked: %d challenges, %d validation records", f.z.count(), len(f.z.persist.recs))
	}
	// acme-www. below intra: allowed.
	wantRcode(t, f.send(update(txtRR("_validation-persist.a.intra.example.test.", goodVal)), &wwwKey), dns.RcodeSuccess)
}

func TestPersistLimits(t *testing.T) {
	f := newFixture(t, persistGrants+"\nmax_values 2\nmax_records 3")
	wantRcode(t, f.send(update(txtRR(hostVP, "a.example; accounturi="+acctURI), txtRR(hostVP, "b.example; accounturi="+acctURI)), &hostKey), dns.RcodeSuccess)
	wantRcode(t, f.send(update(txtRR(hostVP, "c.example; accounturi="+acctURI)), &hostKey), dns.RcodeRefused)
	// Both kinds count toward the key's records.
	wantRcode(t, f.send(update(txtRR("_acme-challenge.host.intra.example.test.", v1)), &hostKey), dns.RcodeSuccess)
	wantRcode(t, f.send(update(txtRR("_acme-challenge.host.intra.example.test.", v2)), &hostKey), dns.RcodeRefused)
}

func TestPersistViews(t *testing.T) {
	for _, c := range []struct {
		extra                  string
		inInternal, inExternal bool
	}{
		// Challenges in the external view only; validation records in every
		// view by default.
		{"view external", true, true},
		{"view external\npersist_view external", false, true},
	} {
		dir := t.TempDir()
		cf := `acmechallenge example.test {
			key host.intra.example.test. hmac-sha256 ` + wwwSecret + `
			grant host.intra.example.test. persist self
			grant host.intra.example.test. self
			` + c.extra + `
		}`
		_, z, m := openZone(t, cf, dir, "internal", "external")
		if _, _, err := z.change(kindPersist, "host.intra.example.test.", []op{{Change: changeAdd(txtRR(hostVP, goodVal))}}, nil); err != nil {
			t.Fatal(err)
		}
		if _, _, err := z.change(kindChallenge, "host.intra.example.test.", []op{{Change: changeAdd(txtRR("_acme-challenge.host.intra.example.test.", v1))}}, nil); err != nil {
			t.Fatal(err)
		}
		in := m.View("internal").Snapshot().Get(hostVP, dns.TypeTXT) != nil
		ex := m.View("external").Snapshot().Get(hostVP, dns.TypeTXT) != nil
		if in != c.inInternal || ex != c.inExternal {
			t.Errorf("%q: internal %v external %v", c.extra, in, ex)
		}
		if m.View("internal").Snapshot().Get("_acme-challenge.host.intra.example.test.", dns.TypeTXT) != nil {
			t.Errorf("%q: challenge in the internal view", c.extra)
		}
		z.shutdown()
		m.Close()
	}
}

func TestPersistValidator(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	ok := []string{
		goodVal,
		"ca.example; accounturi=" + acctURI + "; persistUntil=1800000001",
		// Draft -02 §10.2's hashed URI.
		"ca.example; accounturi=https://ca.example/account-hash/sha-256/5SQm7n6tPh2-PlLbCKGnViTXX5z19SCN4cPGQHSk-kw",
	}
	for _, v := range ok {
		if err := validatePersist(txtRR(hostVP, v), now); err != nil {
			t.Errorf("%q: %v", v, err)
		}
	}
	if err := validatePersist(txtRR(hostVP, "ca.example; accounturi="+acctURI+"; persistUntil=1800000000"), now); err == nil || !strings.Contains(err.Error(), "already past") {
		t.Errorf("persistUntil now: %v", err)
	}
	if err := validatePersist(rr(hostVP+" 60 IN A 192.0.2.1"), now); err == nil {
		t.Error("A record accepted")
	}
}

// A host's record follows persist_view when it changes (nothing lost).
func TestPersistViewChange(t *testing.T) {
	dir := t.TempDir()
	open := func(extra string) (*zone, *zonemodel.Zone) {
		cf := `acmechallenge example.test {
			key host.intra.example.test. hmac-sha256 ` + wwwSecret + `
			grant host.intra.example.test. persist self
			` + extra + `
		}`
		_, z, m := openZone(t, cf, dir, "internal", "external")
		return z, m
	}
	where := func(m *zonemodel.Zone) (in, ex bool) {
		return m.View("internal").Snapshot().Get(hostVP, dns.TypeTXT) != nil, m.View("external").Snapshot().Get(hostVP, dns.TypeTXT) != nil
	}
	z, m := open("persist_view external")
	if _, _, err := z.change(kindPersist, "host.intra.example.test.", []op{{Change: changeAdd(txtRR(hostVP, goodVal))}}, nil); err != nil {
		t.Fatal(err)
	}
	z.shutdown()
	m.Close()
	for _, c := range []struct {
		extra  string
		in, ex bool
	}{
		{"", true, true},
		{"persist_view internal", true, false},
		{"persist_view external", false, true},
	} {
		z, m := open(c.extra)
		if in, ex := where(m); in != c.in || ex != c.ex {
			t.Errorf("%q: internal %v external %v", c.extra, in, ex)
		}
		if len(z.persist.recs) != 1 {
			t.Errorf("%q: %d records tracked", c.extra, len(z.persist.recs))
		}
		z.shutdown()
		m.Close()
	}
}
