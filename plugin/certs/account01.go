package certs

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/go-acme/lego/v5/acme"
	"github.com/go-acme/lego/v5/acme/api"
	"github.com/go-acme/lego/v5/challenge"

	"github.com/dnspki/dnspki/plugin/pkg/dnsaccount"
)

// challengeDNSAccount01 is the dns-account-01 challenge type
// (draft-ietf-acme-dns-account-label), which lego v5.6 does not implement.
const challengeDNSAccount01 = challenge.Type(dnsaccount.Challenge)

// accountChallenge solves dns-account-01 on lego's ACME API layer, shaped
// like lego's dns01.Challenge (PreSolve publishes, Solve waits until the
// record is served and asks the CA to validate, CleanUp removes): the
// record is a dns-01 value at _<account label>._acme-challenge.<name>, the
// account label being derived from the account URL the API client signs
// with (its KID), so two accounts never touch each other's records.
type accountChallenge struct {
	core     *api.Core
	validate func(ctx context.Context, core *api.Core, domain string, chlg acme.Challenge) error
	// present and remove put the TXT value at owner into DNS and take it
	// out; served reports whether every authoritative server serves it.
	present, remove func(ctx context.Context, owner, value string) error
	served          func(ctx context.Context, owner, value string) (bool, error)
	// timeout bounds the wait for served, polled every interval.
	timeout, interval time.Duration
}

// record is the owner and value of the challenge record of authz.
func (c *accountChallenge) record(authz acme.Authorization) (acme.Challenge, string, string, error) {
	chlg, err := challenge.FindChallenge(challengeDNSAccount01, authz)
	if err != nil {
		return acme.Challenge{}, "", "", err
	}
	account := c.core.GetKID()
	if account == "" {
		return acme.Challenge{}, "", "", errors.New("dns-account-01: the account has no URL (not registered)")
	}
	keyAuth, err := c.core.GetKeyAuthorization(chlg.Token)
	if err != nil {
		return acme.Challenge{}, "", "", err
	}
	chlg.KeyAuthorization = keyAuth
	return chlg, dnsaccount.Owner(authz.Identifier.Value, account), accountValue(keyAuth), nil
}

// accountValue is the TXT value of a key authorization (as for dns-01,
// RFC 8555 §8.4: base64url of its SHA-256 digest, no padding).
func accountValue(keyAuth string) string {
	sum := sha256.Sum256([]byte(keyAuth))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// PreSolve publishes the challenge record of authz.
func (c *accountChallenge) PreSolve(ctx context.Context, authz acme.Authorization) error {
	_, owner, value, err := c.record(authz)
	if err != nil {
		return err
	}
	if err := c.present(ctx, owner, value); err != nil {
		return fmt.Errorf("dns-account-01: publishing %s: %w", owner, err)
	}
	return nil
}

// Solve waits until the record is served everywhere, then asks the CA to
// validate and waits for the authorization.
func (c *accountChallenge) Solve(ctx context.Context, authz acme.Authorization) error {
	chlg, owner, value, err := c.record(authz)
	if err != nil {
		return err
	}
	err = waitServed(ctx, c.timeout, c.interval, func() (bool, error) { return c.served(ctx, owner, value) })
	if err != nil {
		return fmt.Errorf("dns-account-01: %s: %w", owner, err)
	}
	return c.validate(ctx, c.core, challenge.GetTargetedDomain(authz), chlg)
}

// waitServed polls served every interval until it says yes, for at most
// timeout; the error is served's last one, or says that it never did.
func waitServed(ctx context.Context, timeout, interval time.Duration, served func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	for {
		ok, err := served()
		if ok && err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if time.Now().After(deadline) {
			if err == nil {
				err = errors.New("not served everywhere")
			}
			return fmt.Errorf("%w (after %s)", err, timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(interval):
		}
	}
}

// CleanUp removes the challenge record of authz.
func (c *accountChallenge) CleanUp(ctx context.Context, authz acme.Authorization) error {
	_, owner, value, err := c.record(authz)
	if err != nil {
		return err
	}
	return c.remove(ctx, owner, value)
}

// offers reports whether the CA offers challenge type t for authz.
func offers(a acme.Authorization, t challenge.Type) bool {
	_, err := challenge.FindChallenge(t, a)
	return err == nil
}
