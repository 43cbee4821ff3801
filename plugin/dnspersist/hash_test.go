package dnspersist

import (
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/dnspki/dnspki/plugin/pkg/persist"
)

// Draft -02: with account-hash the records carry the hashed URI computed
// for the name each sits at (the `also` name's differs from the
// authorized name's), checked with the draft's rules; CAA names the account
// URL; any-name publishes the cross-domain value everywhere. Through the Go
// API too.
func TestAccountHash(t *testing.T) {
	const (
		acct   = "https://ca.example/acct/123"
		prefix = "https://ca.example/account-hash/"
		thumb  = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
	)
	z, p := openTestZone(t, t.TempDir(), `authorize intra.metrics.test {
			issuer ca.example
			accounturi `+acct+`
			account-hash `+prefix+` `+thumb+`
			policy wildcard
			also host.intra.metrics.test
			caa
		}`, 0, now)
	s := z.View("").Snapshot()
	value := func(name string) string {
		t.Helper()
		set := s.Get(name, dns.TypeTXT)
		if set == nil || len(set.RRs) != 1 {
			t.Fatalf("%s: %v", name, set)
		}
		return persist.Value(set.RRs[0].(*dns.TXT))
	}
	h := persist.Hashing{Prefix: prefix, Thumbprint: thumb}
	for _, name := range []string{"intra.metrics.test", "host.intra.metrics.test"} {
		want := "ca.example; accounturi=" + persist.HashedAccountURI(prefix, name, thumb, acct) + "; policy=wildcard"
		got := value("_validation-persist." + name + ".")
		if got != want {
			t.Fatalf("%s: %q, want %q", name, got, want)
		}
		r, err := persist.Parse(got)
		if err != nil || !persist.MatchesAccount(r.AccountURI, name, acct, &h) {
			t.Fatalf("%s: the CA's -02 check: %v", name, err)
		}
	}
	if value("_validation-persist.intra.metrics.test.") == value("_validation-persist.host.intra.metrics.test.") {
		t.Fatal("the same hashed URI at two names")
	}
	caa := s.Get("intra.metrics.test.", dns.TypeCAA)
	if caa == nil || !strings.Contains(caa.RRs[0].(*dns.CAA).Value, "accounturi="+acct+";") {
		t.Fatalf("CAA: %v", caa)
	}

	// Through the API, any-name: the cross-domain value at every name.
	a := Authorization{Names: []string{"api.metrics.test", "db.metrics.test"}, Issuers: []string{"ca.example"}, AccountURI: acct,
		Hash: &persist.Hashing{Prefix: prefix, Thumbprint: thumb, AnyName: true}}
	if err := p.Set("test", []Authorization{a}); err != nil {
		t.Fatal(err)
	}
	s = z.View("").Snapshot()
	star := "ca.example; accounturi=" + prefix + "sha-256/NpDnSwUthQK8zCgFdefYxAdAVPnygMLbs9US6oO-5ug"
	for _, n := range []string{"_validation-persist.api.metrics.test.", "_validation-persist.db.metrics.test."} {
		if got := value(n); got != star {
			t.Fatalf("%s: %q, want %q", n, got, star)
		}
	}
	// Refused: a hashed URI as the account, a bad thumbprint.
	bad := a
	bad.AccountURI = persist.HashedAccountURI(prefix, "x", thumb, acct)
	if err := p.Set("test", []Authorization{bad}); err == nil || !strings.Contains(err.Error(), "account URL") {
		t.Fatalf("hashed AccountURI with Hash: %v", err)
	}
	bad = a
	bad.Hash = &persist.Hashing{Prefix: prefix, Thumbprint: "short"}
	if err := p.Set("test", []Authorization{bad}); err == nil || !strings.Contains(err.Error(), "thumbprint") {
		t.Fatalf("bad thumbprint: %v", err)
	}
}
