package dnspersist

import (
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/coredns/caddy"
	"github.com/miekg/dns"

	"github.com/dnspki/dnspki/plugin/authzone"
	"github.com/dnspki/dnspki/plugin/pkg/persist"
	"github.com/dnspki/dnspki/plugin/pkg/zonemodel"
)

// Authorization is a dns-persist-01 authorization another plugin (the certs
// ACME client) asks dnspersist to publish: a validation record at
// _validation-persist.NAME for each name and issuer, like an `authorize`
// block of the Corefile.
type Authorization struct {
	Names      []string // the names the account may validate
	Issuers    []string // issuer-domain-names (the CA's caaIdentities)
	AccountURI string   // the ACME account URL
	Wildcard   bool     // policy=wildcard: covers *.NAME and subdomains
	// PersistUntil is published as persistUntil when not zero.
	PersistUntil time.Time
	// CAA publishes the matching CAA records at the names too.
	CAA bool
	// CAAAccountURI is the account URL the CAA records name when AccountURI
	// is a draft -02 hashed URI (required then); empty: AccountURI.
	CAAAccountURI string
	// Hash, when set, makes the records carry draft -02 hashed URIs
	// computed from AccountURI (the account URL) for each name.
	Hash *persist.Hashing
	// TTL of the records; 0: the zone's dnspersist ttl (default 3600).
	TTL uint32
}

// apiState holds the authorizations set through the Go API, by owner, and
// serializes publications (the renewal loop's and the API's).
type apiState struct {
	mu    sync.Mutex
	live  bool // published once: changes go to the zone at once
	auths map[string][]Authorization
}

type persistsKey struct{}

func persistsOf(c *caddy.Controller) map[string]*Persist {
	if m, ok := c.Get(persistsKey{}).(map[string]*Persist); ok {
		return m
	}
	m := map[string]*Persist{}
	c.Set(persistsKey{}, m)
	return m
}

// register binds a zone's Persist (from a dnspersist block, or made for the
// API) to the zone and makes it the one ForZone returns.
func register(c *caddy.Controller, p *Persist) {
	p.gen = generations.Add(1)
	persistsOf(c)[p.cfg.origin] = p
	authzone.Bind(c, p.cfg.origin, zonemodel.Binding{
		Plugin:  pluginName,
		Attach:  p.attach,
		Started: p.started,
	})
	c.OnShutdown(func() error { p.stop(); return nil })
}

// ForZone returns the zone's validation-record publisher in the
// configuration being loaded by c: the one of the Corefile's dnspersist
// block for origin, or a new one (bound to the zone, every view, ttl 3600)
// when there is none. Call it at setup; Set at any time.
func ForZone(c *caddy.Controller, origin string) *Persist {
	origin = zonemodel.Fqdn(origin)
	if p := persistsOf(c)[origin]; p != nil {
		return p
	}
	p := &Persist{cfg: &config{origin: origin, ttl: 3600, file: c.File()}}
	register(c, p)
	return p
}

// Origin is the zone the records are published in.
func (p *Persist) Origin() string { return p.cfg.origin }

// Set replaces the authorizations published for owner (a name such as
// "certs/intra"; nil or empty auths withdraws them). Each record is checked
// with the rules the CA applies; an invalid one is an error and changes
// nothing. Before the zone serves, the authorizations join its first
// publication; afterwards Set returns once the records are in the zone model
// (stored, served, on their way to the secondaries).
func (p *Persist) Set(owner string, auths []Authorization) error {
	for _, a := range auths {
		if err := a.check(p.cfg.origin); err != nil {
			return fmt.Errorf("dnspersist %s (%s): %w", p.cfg.origin, owner, err)
		}
	}
	p.api.mu.Lock()
	defer p.api.mu.Unlock()
	old := p.api.auths[owner]
	if p.api.auths == nil {
		p.api.auths = map[string][]Authorization{}
	}
	if len(auths) == 0 {
		delete(p.api.auths, owner)
	} else {
		p.api.auths[owner] = append([]Authorization(nil), auths...)
	}
	if !p.api.live {
		return nil
	}
	if err := p.publishLocked(time.Now()); err != nil {
		if old == nil {
			delete(p.api.auths, owner)
		} else {
			p.api.auths[owner] = old
		}
		return err
	}
	return nil
}

func (a Authorization) check(origin string) error {
	if len(a.Names) == 0 {
		return fmt.Errorf("no names to authorize")
	}
	if len(a.Issuers) == 0 {
		return fmt.Errorf("no issuer-domain-name")
	}
	for _, n := range a.Names {
		if !zonemodel.InZone(zonemodel.Fqdn(n), origin) {
			return fmt.Errorf("%s is not in zone %s", n, origin)
		}
	}
	for _, iss := range a.Issuers {
		if err := persist.ValidateIssuer(iss); err != nil {
			return err
		}
	}
	form, err := persist.ValidateAccountURI(a.AccountURI)
	if err != nil {
		return err
	}
	if a.Hash != nil {
		if err := a.Hash.Check(); err != nil {
			return err
		}
		if form != persist.AccountURL {
			return fmt.Errorf("with Hash, AccountURI is the account URL the hashed URIs are computed from")
		}
	}
	if err := checkCAAAccount(a.CAA, form, a.CAAAccountURI); err != nil {
		return err
	}
	for _, r := range a.records(a.Names[0]) {
		if err := r.Validate(); err != nil {
			return fmt.Errorf("the record %q would be rejected by the CA: %v", r.String(), err)
		}
	}
	return nil
}

// records are the validation records at name.
func (a Authorization) records(name string) []*persist.Record {
	account := a.AccountURI
	if a.Hash != nil {
		account = a.Hash.URI(name, a.AccountURI)
	}
	var out []*persist.Record
	for _, iss := range a.Issuers {
		r := &persist.Record{Issuer: iss, AccountURI: account, PersistUntil: a.PersistUntil}
		if a.Wildcard {
			r.Policy = "wildcard"
		}
		out = append(out, r)
	}
	return out
}

// publish replaces the source's records with the configured ones and those
// set through the API.
func (p *Persist) publish(now time.Time) error {
	p.api.mu.Lock()
	defer p.api.mu.Unlock()
	return p.publishLocked(now)
}

// apiRecords renders the API's authorizations (p.api.mu held).
func (p *Persist) apiRecords() []dns.RR {
	owners := make([]string, 0, len(p.api.auths))
	for o := range p.api.auths {
		owners = append(owners, o)
	}
	sort.Strings(owners)
	var rrs []dns.RR
	for _, o := range owners {
		for _, a := range p.api.auths[o] {
			ttl := a.TTL
			if ttl == 0 {
				ttl = p.cfg.ttl
			}
			for _, name := range a.Names {
				name = zonemodel.Fqdn(name)
				for _, r := range a.records(name) {
					rrs = append(rrs, r.TXT(name, ttl))
				}
				if a.CAA {
					caaAccount := a.CAAAccountURI
					if caaAccount == "" {
						caaAccount = a.AccountURI
					}
					rrs = append(rrs, persist.CAA(name, ttl, a.Issuers, caaAccount, a.Wildcard)...)
				}
			}
		}
	}
	return rrs
}
