package acme

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-acme/lego/v5/acme"
	"github.com/go-acme/lego/v5/acme/api"
	"github.com/go-acme/lego/v5/certificate"
	"github.com/go-acme/lego/v5/registration"
	"github.com/miekg/dns"

	"github.com/dnspki/dnspki/test/harness"
)

// TestDNSAccount01TwoAccounts: two ACME accounts obtain a certificate for
// www.example.test from Pebble at the same time by dns-account-01, each
// setting its own _<account label>._acme-challenge.www.example.test record
// with nsupdate and the example's key acme-www. (granted `account any`).
// Both records are published before either is validated; the first
// account's cleanup leaves the second's record, which Pebble then validates.
// lego v5.6 has no dns-account-01: the ACME side is lego's API layer driven
// by the test (the account label computed here as Pebble computes it).
func TestDNSAccount01TwoAccounts(t *testing.T) {
	harness.Need(t, "nsupdate")
	s, _ := example(t)
	pebble := harness.StartPebble(t, harness.PebbleOpts{DNSServer: s.Addr})
	const name = "www.example.test"
	key := "hmac-sha256:acme-www.:" + wwwSecret

	var mu sync.Mutex
	presented := map[string]bool{}
	bothPresented := make(chan struct{})
	firstDone := make(chan struct{})
	type result struct {
		who  string
		cert *certificate.Resource
		err  error
	}
	results := make(chan result, 2)
	for i, who := range []string{"first", "second"} {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		core, err := api.New(pebble.HTTPClient(t), "dnspki-test", pebble.Directory, "", k)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := registration.NewRegistrar(core, &account01User{key: k}).Register(context.Background(), registration.RegisterOptions{TermsOfServiceAgreed: true}); err != nil {
			t.Fatal(err)
		}
		solver := &account01Solver{t: t, core: core, dns: s.Addr, key: key, present: func(owner string) {
			mu.Lock()
			presented[owner] = true
			if len(presented) == 2 {
				close(bothPresented)
			}
			mu.Unlock()
		}}
		if i == 0 {
			// Validates once both are published, then cleans up.
			solver.before, solver.after = bothPresented, firstDone
		} else {
			// Validates after the first one's cleanup: its record must still
			// be there, the first one's gone.
			solver.before = firstDone
		}
		certKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		go func(who string, core *api.Core, solver *account01Solver) {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			certifier := certificate.NewCertifier(core, solver, certificate.CertifierOptions{Timeout: time.Minute})
			res, err := certifier.Obtain(ctx, certificate.ObtainRequest{Domains: []string{name}, PrivateKey: certKey, Bundle: true})
			results <- result{who, res, err}
		}(who, core, solver)
	}
	for range 2 {
		select {
		case r := <-results:
			if r.err != nil {
				t.Fatalf("%s account: %v", r.who, r.err)
			}
			pebble.VerifyCertificate(t, r.cert.Certificate, name)
		case <-time.After(4 * time.Minute):
			t.Fatal("the orders did not finish")
		}
	}
	if len(presented) != 2 {
		t.Fatalf("records published: %v", presented)
	}
}

type account01User struct{ key crypto.Signer }

func (u *account01User) GetEmail() string                       { return "" }
func (u *account01User) GetRegistration() *acme.ExtendedAccount { return nil }
func (u *account01User) GetPrivateKey() crypto.Signer           { return u.key }

// account01Solver solves dns-account-01 for lego's certifier: nsupdate adds
// the record, the CA is asked to validate once before is closed, the record
// is deleted, and after is closed.
type account01Solver struct {
	t             *testing.T
	core          *api.Core
	dns, key      string
	present       func(owner string)
	before, after chan struct{}
}

func (s *account01Solver) Solve(ctx context.Context, authzs []acme.Authorization) error {
	for _, a := range authzs {
		var chlg acme.Challenge
		for _, c := range a.Challenges {
			if c.Type == "dns-account-01" {
				chlg = c
			}
		}
		if chlg.URL == "" {
			return errors.New("no dns-account-01 challenge offered")
		}
		keyAuth, err := s.core.GetKeyAuthorization(chlg.Token)
		if err != nil {
			return err
		}
		sum := sha256.Sum256([]byte(keyAuth))
		value := base64.RawURLEncoding.EncodeToString(sum[:])
		owner := accountLabel(s.core.GetKID()) + "._acme-challenge." + a.Identifier.Value + "."
		if out, err := nsupdate(s.t, s.dns, s.key, false, fmt.Sprintf("update add %s 60 TXT %q", owner, value)); err != nil {
			return fmt.Errorf("nsupdate add: %v: %s", err, out)
		}
		s.present(owner)
		select {
		case <-s.before:
		case <-ctx.Done():
			return ctx.Err()
		}
		// Every record published so far is still there (nobody's cleanup
		// touched it), and this one is served.
		if got := txtValues(s.t, s.dns, owner); len(got) != 1 || got[0] != value {
			return fmt.Errorf("%s serves %v before validation, want only %s", owner, got, value)
		}
		ext, err := s.core.Challenges.New(ctx, chlg.URL)
		if err != nil {
			return err
		}
		for {
			authz, err := s.core.Authorizations.Get(ctx, ext.AuthorizationURL)
			if err != nil {
				return err
			}
			if authz.Status == acme.StatusValid {
				break
			}
			if authz.Status == acme.StatusInvalid {
				return fmt.Errorf("Pebble found %s invalid: %+v", owner, authz.Challenges)
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(200 * time.Millisecond):
			}
		}
		if out, err := nsupdate(s.t, s.dns, s.key, false, fmt.Sprintf("update delete %s TXT %q", owner, value)); err != nil {
			return fmt.Errorf("nsupdate delete: %v: %s", err, out)
		}
		if got := txtValues(s.t, s.dns, owner); len(got) != 0 {
			return fmt.Errorf("%s still serves %v after the cleanup", owner, got)
		}
		if s.after != nil {
			close(s.after)
		}
	}
	return nil
}

// accountLabel computes the dns-account-01 label of an account URL as
// Pebble's VA does.
func accountLabel(accountURL string) string {
	h := sha256.Sum256([]byte(accountURL))
	return "_" + strings.ToLower(base32.StdEncoding.EncodeToString(h[:10]))
}

func txtValues(t *testing.T, addr, name string) []string {
	r, err := harness.Query(addr, name, dns.TypeTXT, false, false)
	if err != nil {
		t.Errorf("TXT %s: %v", name, err)
		return nil
	}
	var out []string
	for _, rr := range r.Answer {
		if x, ok := rr.(*dns.TXT); ok {
			out = append(out, strings.Join(x.Txt, ""))
		}
	}
	return out
}
