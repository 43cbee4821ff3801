package certs

import (
	"crypto"
	"slices"
	"sort"
	"time"

	"github.com/dnspki/dnspki/plugin/tlsa"
)

// Status is what `dnspki certs` shows of one managed certificate: the
// certificate in use (issuer, expiry), the CA's renewal window (ARI), what
// the plugin does next and when, the last result, a certificate obtained
// and held until its TLSA records are ready, and the TLSA records.
type Status struct {
	ID        string    `json:"id"`
	Names     []string  `json:"names"`
	Challenge string    `json:"challenge"`
	Serial    string    `json:"serial,omitempty"`
	Issuer    string    `json:"issuer,omitempty"`
	NotBefore time.Time `json:"not_before,omitzero"`
	NotAfter  time.Time `json:"not_after,omitzero"`
	// ARI is the CA's suggested renewal window (RFC 9773) for the
	// certificate in use; nil when the CA gave none (yet).
	ARI *ARIStatus `json:"ari,omitempty"`
	// RenewAt is when the renewal is scheduled and why ("ari" or
	// "lifetime").
	RenewAt  time.Time `json:"renew_at,omitzero"`
	RenewWhy string    `json:"renew_why,omitempty"`
	// Next is what the plugin does next, at NextAt.
	Next   string    `json:"next_action"`
	NextAt time.Time `json:"next_action_at,omitzero"`
	// CAPausedUntil: every certificate of the block waits for the CA after
	// CA errors.
	CAPausedUntil time.Time `json:"ca_paused_until,omitzero"`
	LastResult    string    `json:"last_result,omitempty"`
	LastError     string    `json:"last_error,omitempty"`
	LastTry       time.Time `json:"last_try,omitzero"`
	Failures      int       `json:"failures,omitempty"`
	Held          *Held     `json:"held,omitempty"`
	TLSA          *TLSA     `json:"tlsa,omitempty"`
	// ARIAsked counts the ARI checks asked for from outside (certs check)
	// and done.
	ARIAsked int64     `json:"ari_checks_asked"`
	Updated  time.Time `json:"updated,omitzero"`

	nextPub crypto.PublicKey // the next key, whose readiness is asked at each snapshot
}

// ARIStatus is a renewal window and when the CA is asked again.
type ARIStatus struct {
	Start     time.Time `json:"start"`
	End       time.Time `json:"end"`
	NextCheck time.Time `json:"next_check,omitzero"`
	// Past: the window is over and the certificate was not replaced yet
	// (the CA asks to replace it now, e.g. after a revocation).
	Past  bool   `json:"past"`
	Error string `json:"error,omitempty"`
}

// Held is a certificate obtained and not installed yet.
type Held struct {
	Serial string    `json:"serial"`
	Issuer string    `json:"issuer,omitempty"`
	Key    string    `json:"key"`
	Since  time.Time `json:"since"`
}

// TLSA is the certificate's TLSA records (the tlsa plugin's) and whether
// the next key's are ready.
type TLSA struct {
	Zone         string               `json:"zone"`
	Names        []string             `json:"names"`
	Records      []tlsa.RecordStatus  `json:"records"`
	NextKey      string               `json:"next_key,omitempty"` // its 3 1 1
	NextKeyReady bool                 `json:"next_key_ready"`
	NextKeyWhy   string               `json:"next_key_reason,omitempty"`
	Checks       map[string]time.Time `json:"secondaries_serving_next_key_since,omitempty"`
}

// publishStatus records the certificate's status after a step (at: when it
// runs again; action: for what; asked: the step handled an ARI check asked
// for from outside, counted with the status, so that whoever sees the count
// sees the status too).
func (c *cert) publishStatus(now, at time.Time, action string, asked bool) {
	st := Status{
		ID: c.cfg.id, Names: slices.Clone(c.cfg.names), Challenge: c.cfg.method,
		RenewAt: c.st.RenewAt, RenewWhy: c.st.RenewWhy, Next: action, NextAt: at.UTC(),
		LastResult: c.st.LastResult, LastError: c.st.LastError, LastTry: c.st.LastTry, Failures: c.st.Failures,
		Updated: now.UTC(),
	}
	if cur := c.current(); cur != nil {
		leaf := cur.leaf()
		st.Serial, st.NotBefore, st.NotAfter = serialOf(cur), leaf.NotBefore.UTC(), leaf.NotAfter.UTC()
		st.Issuer = leaf.Issuer.CommonName
		if !c.st.WindowEnd.IsZero() && c.st.Serial == serialOf(cur) {
			st.ARI = &ARIStatus{Start: c.st.WindowStart, End: c.st.WindowEnd, NextCheck: c.st.ARICheck, Past: !now.Before(c.st.WindowEnd), Error: c.ariErr}
		} else if c.ariErr != "" {
			st.ARI = &ARIStatus{NextCheck: c.st.ARICheck, Error: c.ariErr}
		}
	}
	if until, _ := c.m.gate.pausedUntil(); now.Before(until) {
		st.CAPausedUntil = until.UTC()
	}
	if c.held != nil {
		st.Held = &Held{Serial: serialOf(c.held), Issuer: c.held.leaf().Issuer.CommonName, Key: c.heldKey, Since: c.st.HeldSince}
	}
	if c.tm != nil {
		t := &TLSA{Zone: c.tlsaZone, Names: slices.Clone(c.cfg.tlsaNames)}
		if c.next != nil && !c.cfg.reuseKey {
			t.NextKey = keyRecord(c.next.Public())
			st.nextPub = c.next.Public()
			if len(c.st.Seen) > 0 {
				t.Checks = map[string]time.Time{}
				for a, since := range c.st.Seen {
					t.Checks[a] = since
				}
			}
		}
		st.TLSA = t
	}
	c.mu.Lock()
	if asked {
		c.ariAsked.Add(1)
	}
	st.ARIAsked = c.ariAsked.Load()
	c.status = st
	c.mu.Unlock()
}

// lastStatus is the status the last step left (without the TLSA records).
func (c *cert) lastStatus() Status {
	c.mu.Lock()
	st := c.status
	c.mu.Unlock()
	if st.ID == "" {
		st = Status{ID: c.cfg.id, Names: c.cfg.names, Challenge: c.cfg.method, Next: "start"}
	}
	return st
}

// snapshot is the certificate's status with its TLSA records as the tlsa
// plugin publishes them now.
func (c *cert) snapshot() Status {
	st := c.lastStatus()
	if st.TLSA != nil && c.tm != nil {
		t := *st.TLSA
		t.Records = nil
		for _, cs := range c.tm.Status() {
			if cs.Cert == c.cfg.id {
				t.Records = cs.Records
			}
		}
		if st.nextPub != nil {
			mat, _ := tlsa.KeyMaterial(st.nextPub)
			if r, err := c.tm.Ready(c.cfg.id, &mat); err == nil {
				t.NextKeyReady, t.NextKeyWhy = r.Ready, r.Reason
			}
		}
		st.TLSA = &t
	}
	return st
}

// Statuses lists the managed certificates of the serving configuration,
// by id, as `dnspki certs` shows them (the status page's certificates).
func Statuses() []Status { return statuses() }

// statuses lists the serving certificates (optionally only ids), by id.
func statuses(ids ...string) []Status {
	var out []Status
	for _, c := range liveCerts(ids...) {
		out = append(out, c.snapshot())
	}
	return out
}

// liveCerts lists the serving certificates (only ids, when given), by id.
func liveCerts(ids ...string) []*cert {
	live.Lock()
	defer live.Unlock()
	var out []*cert
	for id, c := range live.m {
		if len(ids) == 0 || slices.Contains(ids, id) {
			out = append(out, c)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].cfg.id < out[j].cfg.id })
	return out
}
