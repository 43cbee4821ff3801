package certs

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/go-acme/lego/v5/acme"
	"github.com/go-acme/lego/v5/acme/api"
	"github.com/miekg/dns"

	"github.com/dnspki/dnspki/plugin/pkg/dnsaccount"
)

// testCore is an API client of account (its KID) at a directory served by
// a test server (nothing else of the CA is asked).
func testCore(t *testing.T, account string) *api.Core {
	t.Helper()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(acme.Directory{NewNonceURL: "http://x/nonce", NewAccountURL: "http://x/acct", NewOrderURL: "http://x/order"})
	}))
	t.Cleanup(srv.Close)
	core, err := api.New(srv.Client(), "test", srv.URL+"/dir", account, newKey(t))
	if err != nil {
		t.Fatal(err)
	}
	return core
}

func authz(name string, types ...string) acme.Authorization {
	a := acme.Authorization{Identifier: acme.Identifier{Type: "dns", Value: name}, Status: acme.StatusPending}
	for _, ty := range types {
		a.Challenges = append(a.Challenges, acme.Challenge{Type: ty, URL: "http://x/chall/" + ty, Token: "tok-" + ty})
	}
	return a
}

// dns-account-01 publishes the dns-01 value of the key authorization at
// the account's owner, waits until it is served, asks the CA to validate
// that challenge, and removes it; two accounts get two owners.
func TestAccountChallenge(t *testing.T) {
	const acct = "https://ca.example/acme/acct/7"
	core := testCore(t, acct)
	published := map[string][]string{}
	var validated []acme.Challenge
	servedAfter := 3
	ch := &accountChallenge{
		core: core,
		validate: func(_ context.Context, _ *api.Core, domain string, c acme.Challenge) error {
			validated = append(validated, c)
			return nil
		},
		present: func(_ context.Context, owner, value string) error {
			published[owner] = append(published[owner], value)
			return nil
		},
		remove: func(_ context.Context, owner, value string) error {
			published[owner] = slices.DeleteFunc(published[owner], func(v string) bool { return v == value })
			return nil
		},
		served: func(context.Context, string, string) (bool, error) {
			servedAfter--
			return servedAfter <= 0, nil
		},
		timeout: 10 * time.Second, interval: time.Millisecond,
	}
	a := authz("www.example.test", "dns-01", dnsaccount.Challenge)
	a.Wildcard = true
	if err := ch.PreSolve(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	owner := dnsaccount.Owner("www.example.test", acct)
	keyAuth, _ := core.GetKeyAuthorization("tok-" + dnsaccount.Challenge)
	if got := published[owner]; len(got) != 1 || got[0] != accountValue(keyAuth) || len(published) != 1 {
		t.Fatalf("published %v, want %s at %s", published, accountValue(keyAuth), owner)
	}
	if err := ch.Solve(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	if servedAfter > 0 || len(validated) != 1 || validated[0].Type != dnsaccount.Challenge || validated[0].KeyAuthorization != keyAuth {
		t.Fatalf("validated %+v (served checks left %d)", validated, servedAfter)
	}
	if err := ch.CleanUp(context.Background(), a); err != nil || len(published[owner]) != 0 {
		t.Fatalf("after CleanUp: %v %v", published, err)
	}
	// Another account, another owner.
	other := &accountChallenge{core: testCore(t, "https://ca.example/acme/acct/8"), present: ch.present}
	if err := other.PreSolve(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	if len(published) != 2 || published[dnsaccount.Owner("www.example.test", "https://ca.example/acme/acct/8")] == nil {
		t.Fatalf("second account: %v", published)
	}
	// Never served: Solve gives up after the timeout, the CA is not asked.
	never := &accountChallenge{core: core, served: func(context.Context, string, string) (bool, error) { return false, nil },
		validate: ch.validate, timeout: 20 * time.Millisecond, interval: time.Millisecond}
	if err := never.Solve(context.Background(), a); err == nil || len(validated) != 1 {
		t.Fatalf("never served: %v, %d validations", err, len(validated))
	}
	// A CA that offers no dns-account-01.
	if err := ch.PreSolve(context.Background(), authz("mail.example.test", "dns-01")); err == nil {
		t.Fatal("PreSolve without a dns-account-01 challenge")
	}
}

// A CA that offers no dns-account-01 for a name: that name falls back to
// dns-01 (with a log line), the others keep dns-account-01.
func TestAccount01Fallback(t *testing.T) {
	s := &solver{c: &cert{cfg: &certConfig{id: "unit-fallback", method: methodAccount01}}}
	with := authz("www.example.test", "http-01", "dns-01", dnsaccount.Challenge)
	without := authz("mail.example.test", "http-01", "dns-01")
	account, fallback := s.byAccount01([]acme.Authorization{with, without})
	if len(account) != 1 || account[0].Identifier.Value != "www.example.test" || len(fallback) != 1 || fallback[0].Identifier.Value != "mail.example.test" {
		t.Fatalf("account %v fallback %v", account, fallback)
	}
}

// The provider's records go into the zone model at the owner it is given.
func TestProviderAccountOwner(t *testing.T) {
	m := testManager(t)
	z := openZone(t, m)
	p := &dnsProvider{m: m, c: &cert{m: m, cfg: &certConfig{id: "unit-account"}}}
	owner := dnsaccount.Owner("www.example.test", "https://ca.example/acme/acct/7")
	if err := p.add(owner, "v"); err != nil {
		t.Fatal(err)
	}
	if set := z.View("").Snapshot().Get(owner, dns.TypeTXT); set == nil || set.RRs[0].(*dns.TXT).Txt[0] != "v" {
		t.Fatalf("served %v", set)
	}
	if err := p.del(owner, "v"); err != nil {
		t.Fatal(err)
	}
	if set := z.View("").Snapshot().Get(owner, dns.TypeTXT); set != nil {
		t.Fatalf("after del: %v", set)
	}
}
