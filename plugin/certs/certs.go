// Package certs is dnspki's ACME client: it obtains and renews
// certificates (lego v5 as the ACME library) with dns-01, whose challenge
// records it writes straight into the zone model, or dns-persist-01, whose
// validation record it publishes once through the dnspersist plugin; it
// rolls TLSA records (through the tlsa plugin) before every key change, so
// DANE never breaks, and writes the certificates in certbot's layout.
package certs

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/plugin"
	clog "github.com/coredns/coredns/plugin/pkg/log"
	"github.com/go-acme/lego/v5/acme/api"
	"github.com/go-acme/lego/v5/challenge/dns01"
	"github.com/go-acme/lego/v5/challenge/dnspersist01"
	legolog "github.com/go-acme/lego/v5/log"
	"github.com/miekg/dns"

	"github.com/dnspki/dnspki/plugin/authzone"
	"github.com/dnspki/dnspki/plugin/dnspersist"
	"github.com/dnspki/dnspki/plugin/pkg/persist"
	"github.com/dnspki/dnspki/plugin/pkg/zonemodel"
	"github.com/dnspki/dnspki/plugin/tlsa"
)

const pluginName = "certs"

// SourceName is the zone-model source of the dns-01 challenge records.
const SourceName = "certs"

var log = clog.NewWithPlugin(pluginName)

// Seams for tests.
var (
	notifyTargets = authzone.NotifyTargets
	resolver      = net.DefaultResolver
)

// Handler is the plugin in the server block's chain: it only passes queries
// on (certs answers nothing itself: its records are in the zone model), and
// tells the ready plugin whether every certificate exists.
type Handler struct {
	Next     plugin.Handler
	managers []*manager
}

// Name implements plugin.Handler.
func (h *Handler) Name() string { return pluginName }

// ServeDNS implements plugin.Handler.
func (h *Handler) ServeDNS(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
	return plugin.NextOrFailure(h.Name(), h.Next, ctx, w, r)
}

// Ready implements the ready plugin's Readiness: not ready only while a
// certificate has no valid (unexpired) certificate yet.
func (h *Handler) Ready() bool {
	now := time.Now()
	for _, m := range h.managers {
		for _, c := range m.certs {
			if !c.valid(now) {
				return false
			}
		}
	}
	return true
}

// zoneBinding is one zone in one configuration, shared by its certs blocks
// (several ACME accounts may solve challenges in one zone): the source of
// their challenge records.
type zoneBinding struct {
	origin string
	mu     sync.Mutex
	z      *zonemodel.Zone
	src    *zonemodel.Source
}

type bindingsKey struct{}

// zoneBindingFor returns the zone's binding in the configuration being
// loaded by c, binding it to the zone (the source, and the removal of
// challenges an interrupted order left) the first time.
func zoneBindingFor(c *caddy.Controller, origin string) *zoneBinding {
	m, ok := c.Get(bindingsKey{}).(map[string]*zoneBinding)
	if !ok {
		m = map[string]*zoneBinding{}
		c.Set(bindingsKey{}, m)
	}
	if zb := m[origin]; zb != nil {
		return zb
	}
	zb := &zoneBinding{origin: origin}
	m[origin] = zb
	authzone.Bind(c, origin, zonemodel.Binding{Plugin: pluginName, Attach: zb.attach, Started: zb.started})
	return zb
}

// started removes challenges left over by an order a crash interrupted
// (before any certs block of the configuration orders).
func (zb *zoneBinding) started(z *zonemodel.Zone) error {
	if src := zb.source(); src != nil && len(src.Records(z.ViewNames()[0])) > 0 {
		if err := src.Update(nil, func(tx *zonemodel.Tx) error { tx.Clear(); return nil }); err != nil {
			log.Warningf("zone %s: removing leftover challenges: %v", zb.origin, err)
		}
	}
	return nil
}

func (zb *zoneBinding) attach(z *zonemodel.Zone) error {
	src, err := z.AddSource(SourceName, zonemodel.SourceOptions{Dynamic: true})
	if err != nil {
		return err
	}
	zb.mu.Lock()
	zb.z, zb.src = z, src
	zb.mu.Unlock()
	return nil
}

func (zb *zoneBinding) zoneModel() *zonemodel.Zone {
	zb.mu.Lock()
	defer zb.mu.Unlock()
	return zb.z
}

func (zb *zoneBinding) source() *zonemodel.Source {
	zb.mu.Lock()
	defer zb.mu.Unlock()
	return zb.src
}

// manager runs one certs block: its account, its certificates, a scheduler
// that steps each certificate when it is due, at most concurrency at once,
// and the gate that pauses all of them while the CA fails.
type manager struct {
	b       *blockConfig
	acct    *account
	gate    *caGate
	certs   []*cert
	zones   map[string]*zoneBinding
	persist map[string]*dnspersist.Persist // by zone origin

	mu      sync.Mutex
	waiting int // zones not started yet
	running bool
	stopped bool
	httpOn  bool // the status endpoint was started

	ctx    context.Context
	cancel context.CancelFunc
	kick   chan struct{}
	wg     sync.WaitGroup
	// stepFn steps a certificate (cert.step; a test replaces it).
	stepFn func(c *cert, ctx context.Context, now time.Time) time.Time
}

func newManager(c *caddy.Controller, b *blockConfig) (*manager, error) {
	gate := newGate(b.backoffMin, b.backoffMax)
	acct, err := newAccount(b, gate)
	if err != nil {
		return nil, err
	}
	m := &manager{b: b, acct: acct, gate: gate, zones: map[string]*zoneBinding{}, persist: map[string]*dnspersist.Persist{}, kick: make(chan struct{}, 1)}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	for _, o := range b.origins {
		m.zones[o] = zoneBindingFor(c, o)
	}
	// The tlsa and dnspersist bindings come before certs' own: their
	// Started runs first, so the records can be set when certs starts.
	for _, cc := range b.certs {
		ct, err := newCert(m, cc)
		if err != nil {
			return nil, err
		}
		if len(cc.tlsaNames) > 0 {
			zone := b.zoneOf(cc.tlsaNames[0])
			for _, n := range cc.tlsaNames[1:] {
				if b.zoneOf(n) != zone {
					return nil, fmt.Errorf("cert %s: the TLSA owners %s and %s are in different zones; use one certs block per zone", cc.id, cc.tlsaNames[0], n)
				}
			}
			ct.tlsaZone = zone
			ct.tm = tlsa.ForZone(c, zone)
			err := tlsa.AddCert(c, zone, tlsa.CertConfig{ID: cc.id, Names: append([]string(nil), cc.tlsaNames...), Forms: cc.forms, TTL: cc.ttl, HoldDown: cc.holddown, Views: cc.views})
			if err != nil {
				return nil, err
			}
		}
		if cc.method == methodPersist01 {
			for _, n := range cc.names {
				zone := b.zoneOf(strings.TrimPrefix(n, "*."))
				if m.persist[zone] == nil {
					m.persist[zone] = dnspersist.ForZone(c, zone)
				}
			}
		}
		m.certs = append(m.certs, ct)
	}
	m.waiting = len(m.zones)
	for _, zb := range m.zones {
		authzone.Bind(c, zb.origin, zonemodel.Binding{Plugin: pluginName, Started: func(*zonemodel.Zone) error { return m.zoneStarted() }})
	}
	// A known account's validation records join the zones' first
	// publication (no gap across restarts).
	if err := m.publishPersist(); err != nil {
		return nil, err
	}
	c.OnShutdown(func() error { m.stop(); return nil })
	return m, nil
}

// zoneFor returns the binding of the zone that holds name.
func (m *manager) zoneFor(name string) *zoneBinding {
	return m.zones[m.b.zoneOf(name)]
}

// zoneStarted starts the worker once every zone of the block serves.
func (m *manager) zoneStarted() error {
	m.mu.Lock()
	m.waiting--
	start := m.waiting == 0 && !m.running && !m.stopped
	if start {
		m.running = true
	}
	m.mu.Unlock()
	if !start {
		return nil
	}
	setLegoDefaults(m.b.resolver)
	for _, c := range m.certs {
		register(c)
	}
	if m.b.httpAddr != "" {
		if err := startHTTP(m.b.httpAddr); err != nil {
			return err
		}
		m.mu.Lock()
		m.httpOn = true
		m.mu.Unlock()
	}
	m.wg.Add(1)
	go m.run()
	return nil
}

func (m *manager) stop() {
	m.mu.Lock()
	if m.stopped {
		m.mu.Unlock()
		return
	}
	m.stopped = true
	m.mu.Unlock()
	m.cancel()
	// lego's wait for an issued certificate does not end when its context
	// does (it polls until its own timeout): shutdown and reload do not wait
	// for it. Such an order only holds its certificate's lock meanwhile; its
	// result is not installed (the next configuration orders again).
	done := make(chan struct{})
	go func() { m.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		log.Infof("an order is still finishing; not waiting for it")
	}
	for _, c := range m.certs {
		unregister(c)
	}
	m.mu.Lock()
	httpOn := m.httpOn
	m.mu.Unlock()
	if httpOn {
		stopHTTP(m.b.httpAddr)
	}
}

// poke wakes the scheduler.
func (m *manager) poke() {
	select {
	case m.kick <- struct{}{}:
	default:
	}
}

// wake makes certificates due now (all of them with no ids) and wakes the
// scheduler.
func (m *manager) wake(ids ...string) {
	for _, c := range m.certs {
		if len(ids) == 0 || slices.Contains(ids, c.cfg.id) {
			c.wakeAt.Store(1)
		}
	}
	m.poke()
}

// stepDone is a finished step: when its certificate wants to run again.
type stepDone struct {
	c  *cert
	at time.Time
}

// run is the scheduler: each certificate's step runs when due, in its own
// goroutine, at most concurrency at once (the rest wait their turn, in the
// order of the configuration); a certificate never runs two steps at once.
func (m *manager) run() {
	defer m.wg.Done()
	timer := time.NewTimer(0)
	defer timer.Stop()
	done := make(chan stepDone)
	due := make(map[*cert]time.Time, len(m.certs))
	busy := map[*cert]bool{}
	for _, c := range m.certs {
		due[c] = time.Time{}
	}
	for {
		select {
		case <-m.ctx.Done():
			for len(busy) > 0 {
				d := <-done
				delete(busy, d.c)
			}
			return
		case <-timer.C:
		case <-m.kick:
		case d := <-done:
			delete(busy, d.c)
			due[d.c] = d.at
		}
		now := time.Now()
		next := now.Add(time.Hour)
		for _, c := range m.certs {
			if busy[c] {
				continue // (a wake waits until the step is over)
			}
			if c.wakeAt.Swap(0) != 0 {
				due[c] = now
			}
			if now.Before(due[c]) {
				if due[c].Before(next) {
					next = due[c]
				}
				continue
			}
			if len(busy) >= m.b.concurrency {
				continue // its turn comes when a step finishes
			}
			busy[c] = true
			step := m.stepFn
			if step == nil {
				step = (*cert).step
			}
			go func(c *cert) { done <- stepDone{c, step(c, m.ctx, time.Now())} }(c)
		}
		d := time.Until(next)
		if d < 10*time.Millisecond {
			d = 10 * time.Millisecond
		}
		timer.Reset(d)
	}
}

// publishPersist sets the dns-persist-01 authorizations of every
// dns-persist-01 certificate of the block for the account's URL (nothing
// before the account exists).
func (m *manager) publishPersist() error {
	if len(m.persist) == 0 {
		return nil
	}
	uri, caIssuers := m.acct.known()
	var errs []string
	hash, err := m.persistHashing()
	if err != nil && uri != "" {
		errs = append(errs, err.Error())
		uri = "" // nothing the CA would accept: publish nothing
	}
	for _, c := range m.certs {
		if c.cfg.method != methodPersist01 {
			continue
		}
		byZone := map[string][]dnspersist.Authorization{}
		issuers := c.cfg.issuers
		if len(issuers) == 0 {
			issuers = caIssuers
		}
		if uri != "" && len(issuers) > 0 {
			wild := map[string]bool{}
			var bases []string
			for _, n := range c.cfg.names {
				base := strings.TrimPrefix(n, "*.")
				if _, ok := wild[base]; !ok {
					bases = append(bases, base)
					wild[base] = false
				}
				if base != n {
					wild[base] = true
				}
			}
			for _, base := range bases {
				zone := m.b.zoneOf(base)
				byZone[zone] = append(byZone[zone], dnspersist.Authorization{
					Names: []string{base}, Issuers: issuers, AccountURI: uri, Wildcard: wild[base],
					PersistUntil: c.cfg.until, CAA: c.cfg.caa, Hash: hash,
				})
			}
		}
		c.mu.Lock()
		for _, x := range c.extraPersist {
			zone := m.b.zoneOf(x.name)
			a := dnspersist.Authorization{Names: []string{x.name}, Issuers: []string{x.rec.Issuer}, AccountURI: x.rec.AccountURI, Wildcard: x.rec.Policy == "wildcard", PersistUntil: x.rec.PersistUntil}
			byZone[zone] = append(byZone[zone], a)
		}
		c.mu.Unlock()
		for zone, p := range m.persist {
			if err := p.Set(pluginName+"/"+c.cfg.id, byZone[zone]); err != nil {
				errs = append(errs, err.Error())
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("dns-persist-01 records: %s", strings.Join(errs, "; "))
	}
	return nil
}

// persistHashing says how the block's dns-persist-01 records name the
// account: nil for the account URL (draft -01), else how the draft -02
// hashed accounturi is computed. persist-accounturi auto (the default)
// follows the CA's directory: hashed when it advertises an
// accountHashPrefix.
func (m *manager) persistHashing() (*persist.Hashing, error) {
	if m.b.persistForm == persistFormURL {
		return nil, nil
	}
	h := m.acct.hashing()
	if h == nil && m.b.persistForm != persistFormAuto {
		return nil, fmt.Errorf("persist-accounturi %s: the CA's directory advertises no accountHashPrefix (a draft -01 CA: use url or auto)", m.b.persistForm)
	}
	if h != nil && m.b.persistForm == persistFormHashAny {
		h.AnyName = true
	}
	return h, nil
}

// lego's DNS lookups (the CNAME check before a dns-01 challenge, the lookup
// of the validation record of dns-persist-01) are process-wide settings of
// the library: they go to this server (the resolver property).
var legoOnce sync.Once

func setLegoDefaults(resolver string) {
	legoOnce.Do(func() {
		legolog.SetDefault(slog.New(slog.NewTextHandler(logWriter{}, &slog.HandlerOptions{
			Level: slog.LevelInfo,
			ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
				if a.Key == slog.TimeKey {
					return slog.Attr{}
				}
				return a
			},
		})))
	})
	dns01.SetDefaultClient(dns01.NewClient(&dns01.Options{RecursiveNameservers: []string{resolver}, Timeout: 5 * time.Second}))
	dnspersist01.SetDefaultClient(dnspersist01.NewClient(&dnspersist01.Options{RecursiveNameservers: []string{resolver}, Timeout: 5 * time.Second}))
}

// logWriter sends lego's log lines to CoreDNS's log.
type logWriter struct{}

func (logWriter) Write(b []byte) (int, error) {
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if l != "" {
			log.Infof("lego: %s", l)
		}
	}
	return len(b), nil
}

var _ io.Writer = logWriter{}

// client returns the account's API client; a new account URL (or new issuer
// names from the CA) republishes the dns-persist-01 records.
func (m *manager) client(ctx context.Context) (*api.Core, error) {
	core, changed, err := m.acct.client(ctx)
	if err != nil {
		return nil, err
	}
	if changed && len(m.persist) > 0 {
		uri, issuers := m.acct.known()
		if err := m.publishPersist(); err != nil {
			log.Errorf("%v", err)
		} else {
			log.Infof("dns-persist-01 validation records published for the account %s (issuers %s)", uri, strings.Join(issuers, " "))
		}
	}
	return core, nil
}
