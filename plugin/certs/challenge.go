package certs

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/go-acme/lego/v5/acme"
	"github.com/go-acme/lego/v5/acme/api"
	"github.com/go-acme/lego/v5/challenge"
	"github.com/go-acme/lego/v5/challenge/dns01"
	"github.com/go-acme/lego/v5/challenge/dnspersist01"
	"github.com/miekg/dns"

	"github.com/dnspki/dnspki/plugin/pkg/persist"
	"github.com/dnspki/dnspki/plugin/pkg/zonemodel"
)

// pollInterval is how often the propagation checks ask again.
const pollInterval = 250 * time.Millisecond

// validationError is a challenge the CA looked at and found wrong.
type validationError struct{ err error }

func (e *validationError) Error() string { return e.err.Error() }
func (e *validationError) Unwrap() error { return e.err }

// propagationError is a record that did not reach every authoritative
// server in time.
type propagationError struct{ err error }

func (e *propagationError) Error() string { return e.err.Error() }
func (e *propagationError) Unwrap() error { return e.err }

// solver solves the authorizations of one order (lego's certificate
// resolver interface) with the certificate's challenge method: lego's dns-01
// and dns-persist-01 challenges, with a provider that writes into the zone
// model and a propagation check against every authoritative server.
type solver struct {
	m    *manager
	c    *cert
	core *api.Core
}

func (s *solver) Solve(ctx context.Context, authzs []acme.Authorization) error {
	var todo []acme.Authorization
	for _, a := range authzs {
		if a.Status == acme.StatusValid {
			continue // reused by the CA
		}
		todo = append(todo, a)
	}
	switch s.c.cfg.method {
	case methodPersist01:
		return s.solvePersist(ctx, todo)
	case methodAccount01:
		return s.solveAccount01(ctx, todo)
	default:
		return s.solveDNS01(ctx, todo)
	}
}

// byAccount01 splits authorizations into those the CA offers dns-account-01
// for and the others (which fall back to dns-01, with a log line).
func (s *solver) byAccount01(todo []acme.Authorization) (account, fallback []acme.Authorization) {
	for _, a := range todo {
		if offers(a, challengeDNSAccount01) {
			account = append(account, a)
			continue
		}
		log.Warningf("cert %s: the CA offers no dns-account-01 challenge for %s (offered: %s): using dns-01", s.c.cfg.id, challenge.GetTargetedDomain(a), offered(a))
		fallback = append(fallback, a)
	}
	return account, fallback
}

// solveAccount01 solves the authorizations with dns-account-01 where the CA
// offers it, the others with dns-01 (said in the log).
func (s *solver) solveAccount01(ctx context.Context, todo []acme.Authorization) error {
	account, fallback := s.byAccount01(todo)
	if len(fallback) > 0 {
		if err := s.solveDNS01(ctx, fallback); err != nil {
			return err
		}
	}
	p := &dnsProvider{m: s.m, c: s.c}
	ch := &accountChallenge{
		core: s.core, validate: validateChallenge,
		present: func(_ context.Context, owner, value string) error { return p.add(owner, value) },
		remove:  func(_ context.Context, owner, value string) error { return p.del(owner, value) },
		served: func(ctx context.Context, owner, value string) (bool, error) {
			return s.check(ctx, owner, true, matchTXT(value))
		},
		timeout: s.m.b.propagation, interval: pollInterval,
	}
	var presented []acme.Authorization
	defer func() {
		for _, a := range presented {
			if err := ch.CleanUp(context.WithoutCancel(ctx), a); err != nil {
				log.Warningf("cert %s: removing the dns-account-01 challenge of %s: %v", s.c.cfg.id, challenge.GetTargetedDomain(a), err)
			}
		}
	}()
	for _, a := range account {
		if err := ch.PreSolve(ctx, a); err != nil {
			return err
		}
		presented = append(presented, a)
	}
	for _, a := range account {
		if err := ch.Solve(ctx, a); err != nil {
			return err
		}
	}
	return nil
}

func offered(a acme.Authorization) string {
	var t []string
	for _, c := range a.Challenges {
		t = append(t, c.Type)
	}
	return strings.Join(t, ", ")
}

func (s *solver) solveDNS01(ctx context.Context, todo []acme.Authorization) error {
	p := &dnsProvider{m: s.m, c: s.c}
	ch := dns01.NewChallenge(s.core, validateChallenge, p, dns01.WrapPreCheck(s.checkDNS01))
	var presented []acme.Authorization
	defer func() {
		for _, a := range presented {
			if err := ch.CleanUp(context.WithoutCancel(ctx), a); err != nil {
				log.Warningf("cert %s: removing the challenge of %s: %v", s.c.cfg.id, challenge.GetTargetedDomain(a), err)
			}
		}
	}()
	for _, a := range todo {
		if _, err := challenge.FindChallenge(challenge.DNS01, a); err != nil {
			return &refusedError{fmt.Errorf("the CA offers no dns-01 challenge for %s (offered: %s)", challenge.GetTargetedDomain(a), offered(a))}
		}
		if err := ch.PreSolve(ctx, a); err != nil {
			return err
		}
		presented = append(presented, a)
	}
	for _, a := range todo {
		if err := ch.Solve(ctx, a); err != nil {
			return err
		}
	}
	return nil
}

func (s *solver) solvePersist(ctx context.Context, todo []acme.Authorization) error {
	if h, err := s.m.persistHashing(); err != nil {
		return &refusedError{err}
	} else if h != nil {
		return s.solvePersist02(ctx, todo, h)
	}
	var opts []dnspersist01.ChallengeOption
	opts = append(opts, dnspersist01.WrapPreCheck(s.checkPersist))
	if !s.c.cfg.until.IsZero() {
		opts = append(opts, dnspersist01.WithPersistUntil(s.c.cfg.until))
	}
	if len(s.c.cfg.issuers) == 1 {
		opts = append(opts, dnspersist01.WithIssuerDomainName(s.c.cfg.issuers[0]))
	}
	ch, err := dnspersist01.NewChallenge(s.core, validateChallenge, &persistProvider{m: s.m, c: s.c}, opts...)
	if err != nil {
		return err
	}
	for _, a := range todo {
		if _, err := challenge.FindChallenge(challenge.DNSPersist01, a); err != nil {
			return &refusedError{fmt.Errorf("the CA offers no dns-persist-01 challenge for %s (offered: %s)", challenge.GetTargetedDomain(a), offered(a))}
		}
		if err := ch.Solve(ctx, a); err != nil {
			return err
		}
	}
	return nil
}

// solvePersist02 solves dns-persist-01 with a draft -02 CA (lego v5.6
// implements -01 only): the validation records (hashed accounturi, one per
// name) are published before the order; each must be served by every
// authoritative server, then the CA is asked to validate.
func (s *solver) solvePersist02(ctx context.Context, todo []acme.Authorization, h *persist.Hashing) error {
	uri, issuers := s.m.acct.known()
	for _, a := range todo {
		chlg, err := challenge.FindChallenge(challenge.DNSPersist01, a)
		if err != nil {
			return &refusedError{fmt.Errorf("the CA offers no dns-persist-01 challenge for %s (offered: %s)", challenge.GetTargetedDomain(a), offered(a))}
		}
		name := zonemodel.Fqdn(a.Identifier.Value)
		match := persist02Match(name, uri, issuers, h, a.Wildcard)
		err = waitServed(ctx, s.m.b.propagation, pollInterval, func() (bool, error) {
			return s.check(ctx, persist.Owner(name), false, match)
		})
		if err != nil {
			return err
		}
		if err := validateChallenge(ctx, s.core, challenge.GetTargetedDomain(a), chlg); err != nil {
			return err
		}
	}
	return nil
}

// persist02Match matches an RRset holding a draft -02 validation record of
// the account for name: one of the issuers, the hashed URI the CA computes
// for name (or the cross-domain one), policy=wildcard for a wildcard.
func persist02Match(name, accountURL string, issuers []string, h *persist.Hashing, wildcard bool) func([]dns.RR) bool {
	return func(rrs []dns.RR) bool {
		for _, rr := range rrs {
			t, ok := rr.(*dns.TXT)
			if !ok {
				continue
			}
			r, err := persist.Parse(persist.Value(t))
			if err != nil || !slices.Contains(issuers, r.Issuer) || !persist.MatchesAccount(r.AccountURI, name, accountURL, h) {
				continue
			}
			if wildcard && r.Policy != "wildcard" {
				continue
			}
			return true
		}
		return false
	}
}

// checkDNS01 is lego's propagation check for dns-01: the challenge TXT must
// be served by dnspki in every view and by every check server.
func (s *solver) checkDNS01(ctx context.Context, domain, _, value string, _ dns01.PreCheckFunc) (bool, error) {
	name := "_acme-challenge." + zonemodel.Fqdn(strings.TrimPrefix(domain, "*."))
	return s.check(ctx, name, true, matchTXT(value))
}

// matchTXT matches an RRset holding the TXT value.
func matchTXT(value string) func([]dns.RR) bool {
	return func(rrs []dns.RR) bool {
		for _, rr := range rrs {
			if t, ok := rr.(*dns.TXT); ok && strings.Join(t.Txt, "") == value {
				return true
			}
		}
		return false
	}
}

// checkPersist is lego's propagation check for dns-persist-01.
func (s *solver) checkPersist(ctx context.Context, _, fqdn string, matcher dnspersist01.RecordMatcher, _ dnspersist01.PreCheckFunc) (bool, error) {
	return s.check(ctx, zonemodel.Fqdn(fqdn), false, func(rrs []dns.RR) bool {
		var recs []dnspersist01.TXTRecord
		for _, rr := range rrs {
			if t, ok := rr.(*dns.TXT); ok {
				recs = append(recs, dnspersist01.TXTRecord{Value: persist.Value(t), TTL: t.Hdr.Ttl})
			}
		}
		return matcher(recs)
	})
}

func (s *solver) check(ctx context.Context, name string, allViews bool, match func([]dns.RR) bool) (bool, error) {
	if err := ctx.Err(); err != nil {
		return true, err
	}
	zb := s.m.zoneFor(name)
	if zb == nil {
		return true, fmt.Errorf("%s is in none of the zones of this certs block", name)
	}
	servers, missing := s.m.served(ctx, zb, name, dns.TypeTXT, allViews, match)
	if len(missing) == 0 {
		s.c.lastWait = time.Time{}
		log.Infof("cert %s: %s is served by %s; asking the CA to validate", s.c.cfg.id, name, strings.Join(servers, ", "))
		return true, nil
	}
	why := strings.Join(missing, "; ")
	s.c.logWait(fmt.Sprintf("waiting until every authoritative server serves %s (not yet: %s)", name, why))
	return false, &propagationError{fmt.Errorf("%s not served by %s", name, why)}
}

// dnsProvider is lego's dns-01 provider: the challenge TXT goes straight
// into the zone model (source "certs", every view), no UPDATE round trip.
type dnsProvider struct {
	m *manager
	c *cert
}

// dns01Owner is the dns-01 challenge owner of a domain.
func dns01Owner(domain string) string {
	return "_acme-challenge." + zonemodel.Fqdn(strings.TrimPrefix(domain, "*."))
}

func challengeTXT(owner, value string, ttl uint32) *dns.TXT {
	return &dns.TXT{
		Hdr: dns.RR_Header{Name: owner, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: ttl},
		Txt: []string{value},
	}
}

func (p *dnsProvider) Present(_ context.Context, domain, _, keyAuth string) error {
	return p.add(dns01Owner(domain), accountValue(keyAuth))
}

func (p *dnsProvider) CleanUp(_ context.Context, domain, _, keyAuth string) error {
	return p.del(dns01Owner(domain), accountValue(keyAuth))
}

// add puts a challenge TXT value into the zone (every view).
func (p *dnsProvider) add(owner, value string) error {
	rr := challengeTXT(owner, value, p.m.b.challengeTTL)
	zb := p.m.zoneFor(owner)
	if zb == nil || zb.source() == nil {
		return fmt.Errorf("no zone of this configuration serves %s", owner)
	}
	return zb.source().Update(nil, func(tx *zonemodel.Tx) error { tx.Add(rr); return nil })
}

// del takes a challenge TXT value out of the zone.
func (p *dnsProvider) del(owner, value string) error {
	rr := challengeTXT(owner, value, p.m.b.challengeTTL)
	zb := p.m.zoneFor(owner)
	if zb == nil || zb.source() == nil {
		return nil
	}
	return zb.source().Update(nil, func(tx *zonemodel.Tx) error { tx.Delete(rr); return nil })
}

func (p *dnsProvider) Timeout() (time.Duration, time.Duration) {
	return p.m.b.propagation, pollInterval
}

// persistProvider is lego's dns-persist-01 provider. The plugin publishes
// the certificate's validation records before it orders; lego calls Persist
// only when it found no matching record (the CA offered an issuer name the
// plugin did not publish): the record lego wants is published too, through
// the dnspersist plugin.
type persistProvider struct {
	m *manager
	c *cert
}

func (p *persistProvider) Persist(_ context.Context, fqdn, value string) error {
	r, err := persist.Parse(value)
	if err != nil {
		return fmt.Errorf("dns-persist-01 record %q: %v", value, err)
	}
	name := strings.TrimPrefix(zonemodel.Fqdn(fqdn), persist.Label+".")
	log.Infof("cert %s: publishing the validation record the CA asks for at %s: %s", p.c.cfg.id, fqdn, value)
	p.c.mu.Lock()
	p.c.extraPersist = append(p.c.extraPersist, extraRecord{name: name, rec: r})
	p.c.mu.Unlock()
	return p.m.publishPersist()
}

func (p *persistProvider) Timeout() (time.Duration, time.Duration) {
	return p.m.b.propagation, pollInterval
}

// validateChallenge tells the CA to validate a challenge and waits for the
// authorization to become valid (RFC 8555 §7.5.1).
func validateChallenge(ctx context.Context, core *api.Core, domain string, chlg acme.Challenge) error {
	ch, err := core.Challenges.New(ctx, chlg.URL)
	if err != nil {
		return fmt.Errorf("%s: asking the CA to validate: %w", domain, err)
	}
	wait := ch.RetryAfter
	if wait <= 0 {
		wait = time.Second
	}
	if wait > 10*time.Second {
		wait = 10 * time.Second
	}
	status := ch.Status
	if status == acme.StatusInvalid {
		return &validationError{fmt.Errorf("%s: the CA could not validate %s: %w", domain, chlg.Type, ch.Err())}
	}
	for status != acme.StatusValid {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		authz, err := core.Authorizations.Get(ctx, ch.AuthorizationURL)
		if err != nil {
			return fmt.Errorf("%s: reading the authorization: %w", domain, err)
		}
		status = authz.Status
		switch status {
		case acme.StatusValid, acme.StatusPending, acme.StatusProcessing:
		case acme.StatusInvalid:
			for _, c := range authz.Challenges {
				if c.Status == acme.StatusInvalid && c.Error != nil {
					return &validationError{fmt.Errorf("%s: the CA could not validate %s: %w", domain, c.Type, c.Error)}
				}
			}
			return &validationError{fmt.Errorf("%s: the authorization is invalid", domain)}
		default:
			return &validationError{fmt.Errorf("%s: the authorization is %s", domain, status)}
		}
	}
	log.Infof("%s: the CA validated %s", domain, chlg.Type)
	return nil
}

// refusedError is an order the plugin cannot place as configured.
type refusedError struct{ err error }

func (e *refusedError) Error() string { return e.err.Error() }
func (e *refusedError) Unwrap() error { return e.err }

// served checks that name/qtype is served as match wants by dnspki itself
// (every view, or the default view) and by every check server of the zone.
// It returns the servers checked and the ones that do not serve it yet.
func (m *manager) served(ctx context.Context, zb *zoneBinding, name string, qtype uint16, allViews bool, match func([]dns.RR) bool) (servers, missing []string) {
	z := zb.zoneModel()
	if z == nil {
		return nil, []string{"dnspki (the zone is not open)"}
	}
	views := z.ViewNames()
	if !allViews {
		views = []string{zonemodel.DefaultViewOf(views)}
	}
	for _, v := range views {
		var rrs []dns.RR
		if set := z.View(v).Snapshot().Get(name, qtype); set != nil {
			rrs = set.RRs
		}
		label := "dnspki"
		if len(z.ViewNames()) > 1 {
			label = "dnspki view " + v
		}
		servers = append(servers, label)
		if !match(rrs) {
			missing = append(missing, label)
		}
	}
	for _, t := range m.targets(ctx, zb) {
		servers = append(servers, t.addr)
		rrs, err := queryRRs(ctx, t.addr, name, qtype)
		if err != nil {
			missing = append(missing, fmt.Sprintf("%s (%v)", t.addr, err))
			continue
		}
		if !match(rrs) {
			missing = append(missing, t.addr)
		}
	}
	return servers, missing
}

// queryRRs asks addr (an authoritative server, no recursion) for name/qtype
// and returns the records of the answer at name.
func queryRRs(ctx context.Context, addr, name string, qtype uint16) ([]dns.RR, error) {
	q := new(dns.Msg)
	q.SetQuestion(name, qtype)
	q.RecursionDesired = false
	q.SetEdns0(4096, false)
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	c := &dns.Client{Timeout: 3 * time.Second}
	r, _, err := c.ExchangeContext(ctx, q, addr)
	if err == nil && r.Truncated {
		c.Net = "tcp"
		r, _, err = c.ExchangeContext(ctx, q, addr)
	}
	if err != nil {
		return nil, err
	}
	if r.Rcode != dns.RcodeSuccess && r.Rcode != dns.RcodeNameError {
		return nil, fmt.Errorf("rcode %s", dns.RcodeToString[r.Rcode])
	}
	var out []dns.RR
	for _, rr := range r.Answer {
		if rr.Header().Rrtype == qtype && strings.EqualFold(rr.Header().Name, name) {
			out = append(out, rr)
		}
	}
	return out, nil
}

// target is an authoritative server the checks ask, with the view whose
// records it serves.
type target struct{ addr, view string }

// targets lists the zone's check servers (see the check property).
func (m *manager) targets(ctx context.Context, zb *zoneBinding) []target {
	z := zb.zoneModel()
	if z == nil {
		return nil
	}
	def := zonemodel.DefaultViewOf(z.ViewNames())
	var out []target
	seen := map[string]bool{}
	add := func(addr, view string) {
		if view == "" {
			view = def
		}
		if !seen[addr] {
			seen[addr] = true
			out = append(out, target{addr, view})
		}
	}
	for _, c := range m.b.checks {
		switch c {
		case checkNone:
		case checkNotify:
			for _, t := range notifyTargets(z) {
				add(t.Addr, t.View)
			}
		case checkNS:
			for _, a := range nsAddresses(ctx, z.View(def).Snapshot(), z.Origin) {
				add(a, def)
			}
		default:
			add(c, def)
		}
	}
	return out
}

// nsAddresses returns the addresses (port 53) of the zone's NS hosts: from
// the zone for names inside it, else from the system resolver.
func nsAddresses(ctx context.Context, snap *zonemodel.Snapshot, origin string) []string {
	set := snap.Get(origin, dns.TypeNS)
	if set == nil {
		return nil
	}
	var out []string
	for _, rr := range set.RRs {
		host := zonemodel.Fqdn(rr.(*dns.NS).Ns)
		if zonemodel.InZone(host, origin) {
			for _, t := range []uint16{dns.TypeA, dns.TypeAAAA} {
				if s := snap.Get(host, t); s != nil {
					for _, a := range s.RRs {
						switch a := a.(type) {
						case *dns.A:
							out = append(out, joinPort(a.A.String()))
						case *dns.AAAA:
							out = append(out, joinPort(a.AAAA.String()))
						}
					}
				}
			}
			continue
		}
		lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		addrs, err := resolver.LookupHost(lctx, host)
		cancel()
		if err != nil {
			log.Warningf("zone %s: NS %s: %v (not checked)", origin, host, err)
			continue
		}
		for _, a := range addrs {
			out = append(out, joinPort(a))
		}
	}
	sort.Strings(out)
	return out
}

func joinPort(ip string) string {
	if strings.Contains(ip, ":") {
		return "[" + ip + "]:53"
	}
	return ip + ":53"
}

// isAccountGone reports the CA saying the account does not exist.
func isAccountGone(err error) bool {
	var pd *acme.ProblemDetails
	return errors.As(err, &pd) && pd.Type == acme.AccountDoesNotExistErrorType
}
