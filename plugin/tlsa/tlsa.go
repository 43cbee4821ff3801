// Package tlsa publishes TLSA records (RFC 6698, RFC 7671, RFC 7672) made
// from watched certificate files into dnspki's zone model, with a rollover
// that never breaks DANE: staged next keys are published before they are
// used, and a digest that stops being wanted stays for a hold-down of at
// least twice the TTL (RFC 7671 §8.1). It tells deploy hooks when a new
// certificate or key is safe to switch to (Ready, the HTTP endpoint and the
// "dnspki tlsa-ready" command).
package tlsa

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	clog "github.com/coredns/coredns/plugin/pkg/log"
	"github.com/fsnotify/fsnotify"
	"github.com/miekg/dns"

	"github.com/dnspki/dnspki/plugin/pkg/zonemodel"
)

const pluginName = "tlsa"

// SourceName is the zone-model source the records enter as.
const SourceName = "tlsa"

var log = clog.NewWithPlugin(pluginName)

// Errors of the Go API.
var (
	ErrNotStarted  = errors.New("tlsa: the zone is not serving yet")
	ErrUnknownCert = errors.New("tlsa: no such certificate")
)

// CertConfig is one certificate whose TLSA records a Manager publishes.
type CertConfig struct {
	// ID names the certificate in metrics, logs, the stored state and the
	// readiness endpoint; unique in a configuration.
	ID string
	// Path is the certificate file (a full chain, leaf first) or a folder in
	// one of the Layouts. Empty for a certificate set only through the Go API
	// (SetCurrent).
	Path   string
	Layout string // LayoutAuto when empty
	// Key is the private key file checked against the certificate ("" as the
	// layout names it, "none" for no check).
	Key string
	// Next are the next-key (or next-certificate) files; nil: as the layout
	// names them; empty and not nil: none.
	Next []string
	// Names are the TLSA owner names (absolute, in the zone), such as
	// _25._tcp.mail.example.test.
	Names []string
	// Forms of the records; default 3 1 1.
	Forms []Form
	// TTL of the records, in seconds.
	TTL uint32
	// HoldDown is how long a digest stays published after it stops being
	// wanted, and how long a new one must have been published before Ready
	// says yes; at least twice the TTL.
	HoldDown time.Duration
	// Views that publish the records; nil: every view of the zone.
	Views []string
}

// Validate checks a configuration against its zone's origin, filling in
// defaults.
func (c *CertConfig) Validate(origin string) error {
	if c.ID == "" || strings.ContainsAny(c.ID, " /\t") {
		return fmt.Errorf("certificate id %q: want a short name without spaces or slashes", c.ID)
	}
	if c.Layout == "" {
		c.Layout = LayoutAuto
	}
	if err := checkLayout(c.Layout); err != nil {
		return err
	}
	if len(c.Names) == 0 {
		return fmt.Errorf("certificate %s: no owner names (service PORT/PROTO HOST or name OWNER)", c.ID)
	}
	seen := map[string]bool{}
	for i, n := range c.Names {
		n = strings.ToLower(dns.Fqdn(n))
		if _, ok := dns.IsDomainName(n); !ok {
			return fmt.Errorf("certificate %s: bad owner name %q", c.ID, c.Names[i])
		}
		if !zonemodel.InZone(n, origin) {
			return fmt.Errorf("certificate %s: owner name %s is not in zone %s", c.ID, n, origin)
		}
		if seen[n] {
			return fmt.Errorf("certificate %s: owner name %s listed twice", c.ID, n)
		}
		seen[n] = true
		c.Names[i] = n
	}
	return c.SetRecordDefaults()
}

// entry is one configured certificate.
type entry struct {
	cfg   CertConfig
	views []string
	// auto: no views configured in a zone with several: each owner name is
	// published in the views where its host has records (viewsFor).
	auto bool
	// errs is the last error seen per input (logged and counted once).
	errs map[string]string
	// problem says why the files are not consistent now ("" when they are).
	problem string
}

// Manager publishes the TLSA records of one zone of a configuration.
type Manager struct {
	origin   string
	reread   time.Duration
	httpAddr string
	now      func() time.Time
	debounce time.Duration
	// newWatcher makes the file watcher (fsnotify.NewWatcher; a test makes
	// file events unavailable to exercise the periodic re-read alone).
	newWatcher func() (*fsnotify.Watcher, error)

	mu      sync.Mutex
	zone    *zonemodel.Zone
	src     *zonemodel.Source
	entries map[string]*entry
	states  map[string]*entryState // committed (or, before Started, staged) state, orphans included
	fresh   map[string]bool        // record keys first published by the Open of this generation
	// pendingStates is the state staged by attach, committed by start.
	pendingStates map[string]*entryState
	started       bool
	closed        bool

	kick chan struct{}
	// zoneChanged: another source changed the zone (a host may have
	// appeared in or left a view: viewsFor).
	zoneChanged chan struct{}
	done        chan struct{}
	wg          sync.WaitGroup
	watches     map[string]bool
	paths       map[string]bool // input files, symlink targets and folders whose events matter
}

func newManager(origin string) *Manager {
	return &Manager{
		origin:      zonemodel.Fqdn(origin),
		reread:      30 * time.Second,
		now:         time.Now,
		newWatcher:  fsnotify.NewWatcher,
		debounce:    250 * time.Millisecond,
		entries:     map[string]*entry{},
		states:      map[string]*entryState{},
		kick:        make(chan struct{}, 1),
		zoneChanged: make(chan struct{}, 1),
		done:        make(chan struct{}),
		watches:     map[string]bool{},
	}
}

// Origin is the zone the manager publishes into.
func (m *Manager) Origin() string { return m.origin }

// IDs lists the configured certificates.
func (m *Manager) IDs() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.idsLocked()
}

func (m *Manager) idsLocked() []string {
	out := make([]string, 0, len(m.entries))
	for id := range m.entries {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

// Add configures a certificate. Before the zone serves, it joins the
// initial content; afterwards its records are published at once.
func (m *Manager) Add(cfg CertConfig) error {
	if err := cfg.Validate(m.origin); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.entries[cfg.ID] != nil {
		return fmt.Errorf("certificate %s configured twice in zone %s", cfg.ID, m.origin)
	}
	e := &entry{cfg: cfg, errs: map[string]string{}}
	if m.zone != nil {
		if err := m.resolveViews(e); err != nil {
			return err
		}
	}
	m.entries[cfg.ID] = e
	if m.started {
		return m.refreshLocked()
	}
	return nil
}

// Remove stops maintaining a certificate: its records retire (they stay for
// the hold-down, then go).
func (m *Manager) Remove(id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.entries[id] == nil {
		return ErrUnknownCert
	}
	delete(m.entries, id)
	if m.started {
		return m.refreshLocked()
	}
	return nil
}

// Stage publishes material (a next key or next certificate) for a
// certificate under a label, until Unstage; it is kept across restarts.
func (m *Manager) Stage(id, label string, mat Material) error {
	return m.mutate(id, func(st *entryState) {
		st.Staged[label] = storeMaterial(mat)
	})
}

// Unstage withdraws staged material; its records retire (hold-down).
func (m *Manager) Unstage(id, label string) error {
	return m.mutate(id, func(st *entryState) { delete(st.Staged, label) })
}

// SetCurrent sets the certificate in use of a certificate configured without
// files (Path empty).
func (m *Manager) SetCurrent(id string, mat Material) error {
	if mat.IsKey() {
		return errors.New("tlsa: SetCurrent needs a certificate chain")
	}
	return m.mutate(id, func(st *entryState) {
		s := storeMaterial(mat)
		st.Current = &s
	})
}

func (m *Manager) mutate(id string, fn func(*entryState)) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.started {
		return ErrNotStarted
	}
	if m.entries[id] == nil {
		return ErrUnknownCert
	}
	st := m.states[id].clone()
	fn(st)
	next := m.copyStates()
	next[id] = m.evaluate(m.entries[id], st)
	return m.applyLocked(next, false)
}

// Refresh re-reads every certificate's files now (an ACME client calls it
// after writing them; file events and the periodic re-read do it otherwise).
func (m *Manager) Refresh() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.started {
		return ErrNotStarted
	}
	return m.refreshLocked()
}

func (m *Manager) copyStates() map[string]*entryState {
	out := make(map[string]*entryState, len(m.states))
	for k, v := range m.states {
		out[k] = v
	}
	return out
}

func (m *Manager) resolveViews(e *entry) error {
	if len(e.cfg.Views) == 0 {
		e.views = m.zone.ViewNames()
		e.auto = len(e.views) > 1
		return nil
	}
	e.auto = false
	for _, v := range e.cfg.Views {
		if m.zone.View(v) == nil || v == "" {
			return fmt.Errorf("certificate %s: view %q is not a view of zone %s (views: %s)", e.cfg.ID, v, m.origin, strings.Join(m.zone.ViewNames(), " "))
		}
	}
	e.views = e.cfg.Views
	return nil
}

// viewsFor is the views that publish the records at an owner name: the
// configured ones; without a configuration, in a zone with views, those in
// which the name's host (the name without its leading _port._proto labels)
// has records, so that the TLSA of an internal-only host stays in the
// internal view (split horizon). A host with records in no view gets every
// view (as without views).
func (m *Manager) viewsFor(e *entry, name string) []string {
	if !e.auto {
		return e.views
	}
	host := serviceHost(name)
	var out []string
	for _, v := range e.views {
		if m.zone.HasData(v, host) {
			out = append(out, v)
		}
	}
	if len(out) == 0 {
		return e.views
	}
	return out
}

// serviceHost strips the leading underscore labels (_443._tcp) of a TLSA
// owner name.
func serviceHost(name string) string {
	for strings.HasPrefix(name, "_") {
		i := strings.IndexByte(name, '.')
		if i < 0 || i == len(name)-1 {
			return name
		}
		name = name[i+1:]
	}
	return name
}

// report logs and counts an input error once per distinct error.
func (m *Manager) report(e *entry, input, reason string, err error) {
	msg := reason + ": " + err.Error()
	var re *readError
	if errors.As(err, &re) {
		msg += fmt.Sprintf(" (%x)", re.sum[:8])
	}
	if e.errs[input] == msg {
		return
	}
	e.errs[input] = msg
	errorsTotal.WithLabelValues(e.cfg.ID, reason).Inc()
	switch input {
	case "cert":
		log.Warningf("zone %s cert %s: %v; keeping the last good records", m.origin, e.cfg.ID, err)
	case "issuer":
		log.Warningf("zone %s cert %s: %v", m.origin, e.cfg.ID, err)
	default:
		log.Warningf("zone %s cert %s: %v; keeping the last good next-key records", m.origin, e.cfg.ID, err)
	}
}

func (m *Manager) clear(e *entry, input string) {
	if e.errs[input] != "" {
		delete(e.errs, input)
		if input == "cert" {
			log.Infof("zone %s cert %s: files read cleanly again", m.origin, e.cfg.ID)
		}
	}
}

// evaluate reads an entry's files and returns its new state (old is not
// changed). The time of the change is taken after the files are read: a
// record is never said to be published, or retired, earlier than it was.
func (m *Manager) evaluate(e *entry, old *entryState) *entryState {
	st := old.clone()
	now := m.now()
	var pending []Material
	e.problem = ""
	if e.cfg.Path != "" {
		in := resolveInputs(e.cfg.Path, e.cfg.Layout, e.cfg.Key, e.cfg.Next, e.cfg.Next != nil)
		pending = m.readCurrent(e, st, in, now)
		m.readNextKeys(e, st, in, now)
	}
	reconcile(st, m.wanted(e, st, pending), e.cfg.TTL, e.cfg.HoldDown, m.now())
	return st
}

// readCurrent reads the certificate and its key into st.Current (kept as it
// was when they cannot be read: the error is reported). A key that does not
// belong to the certificate (mid-renewal) makes both pending.
func (m *Manager) readCurrent(e *entry, st *entryState, in inputs, now time.Time) (pending []Material) {
	cur, keySPKI, keyPath, err := readCert(in, now)
	if err == nil && keySPKI != nil && !bytes.Equal(keySPKI, cur.SPKI) {
		err = &readError{reason: reasonKeyMismatch, err: fmt.Errorf("the key in %s does not belong to the certificate %s in %s (mid-renewal? the files are read again at the next change)", keyPath, cur.Leaf().Subject, in.cert)}
		pending = append(pending, cur, Material{SPKI: keySPKI})
	}
	if err != nil {
		var re *readError
		reason := reasonGarbage
		if errors.As(err, &re) {
			reason = re.reason
		}
		m.report(e, "cert", reason, err)
		e.problem = err.Error()
		return pending
	}
	m.clear(e, "cert")
	s := storeMaterial(cur)
	st.Current = &s
	if leaf := cur.Leaf(); leaf != nil {
		expiryGauge.WithLabelValues(e.cfg.ID).Set(float64(leaf.NotAfter.Unix()))
	}
	return pending
}

// readNextKeys reads the next-key files into st.Next: a missing or empty
// one has no next key staged (acme.sh empties the file after use), an
// invalid or unreadable one is reported and keeps what was read before.
func (m *Manager) readNextKeys(e *entry, st *entryState, in inputs, now time.Time) {
	seen := map[string]bool{}
	for _, p := range in.next {
		seen[p] = true
		mat, err := readNext(p, now)
		if err != nil {
			var re *readError
			if errors.As(err, &re) && (re.reason == reasonMissing || re.reason == reasonEmpty) {
				delete(st.Next, p)
				m.clear(e, "next:"+p)
				continue
			}
			reason := reasonNextInvalid
			if errors.As(err, &re) && re.reason == reasonUnreadable {
				reason = reasonUnreadable // a next key there, that dnspki cannot read
			}
			m.report(e, "next:"+p, reason, err)
			continue
		}
		m.clear(e, "next:"+p)
		st.Next[p] = storeMaterial(mat)
	}
	for p := range st.Next {
		if !seen[p] {
			delete(st.Next, p)
		}
	}
}

// wanted are the records the entry wants now: the current certificate's
// forms, the next keys' and staged material's announcements, and the
// pending material's.
func (m *Manager) wanted(e *entry, st *entryState, pending []Material) wantSet {
	ws := wantSet{}
	if st.Current != nil {
		if mat, err := st.Current.material(); err == nil {
			recs, noIssuer := currentRecords(mat, e.cfg.Forms)
			if noIssuer {
				m.report(e, "issuer", reasonNoIssuer, fmt.Errorf("a DANE-TA (2 x x) form needs the certificate's issuer, which is not in the file: no 2 x x record"))
			} else {
				m.clear(e, "issuer")
			}
			m.addWanted(ws, e, recs, RoleCurrent)
		}
	}
	for _, group := range []map[string]storedMaterial{st.Next, st.Staged} {
		for _, sm := range group {
			if mat, err := sm.material(); err == nil {
				m.addWanted(ws, e, nextRecords(mat, e.cfg.Forms), RoleNext)
			}
		}
	}
	for _, p := range pending {
		m.addWanted(ws, e, nextRecords(p, e.cfg.Forms), RolePending)
	}
	return ws
}

// addWanted wants the records at each of the certificate's names in that
// name's views.
func (m *Manager) addWanted(ws wantSet, e *entry, ds []rdata, role string) {
	for _, n := range e.cfg.Names {
		ws.add(m.viewsFor(e, n), []string{n}, ds, role)
	}
}

// readCert reads the certificate file and the key that goes with it (a
// private key in the certificate file itself, else the key file).
func readCert(in inputs, now time.Time) (cur Material, keySPKI []byte, keyPath string, err error) {
	pc, err := readPEMFile(in.cert)
	if err != nil {
		return Material{}, nil, "", err
	}
	cur, err = certMaterial(pc, in.cert, now)
	if err != nil {
		return Material{}, nil, "", err
	}
	if pc.keys > 0 {
		return cur, pc.spkis[0], in.cert, nil
	}
	if in.key == "" {
		return cur, nil, "", nil
	}
	kpc, err := readPEMFile(in.key)
	if err != nil {
		var re *readError
		if errors.As(err, &re) && re.reason == reasonMissing {
			// No key file (yet): nothing to check the certificate against.
			return cur, nil, "", nil
		}
		return Material{}, nil, "", err
	}
	if kpc.keys == 0 {
		return Material{}, nil, "", &readError{reason: reasonGarbage, path: in.key, err: errors.New("no private key in the key file")}
	}
	return cur, kpc.spkis[0], in.key, nil
}

// readNext reads a next-key file: a private or public key, or a certificate
// (chain) staged before use.
func readNext(p string, now time.Time) (Material, error) {
	pc, err := readPEMFile(p)
	if err != nil {
		return Material{}, err
	}
	if len(pc.certs) > 0 {
		return certMaterial(pc, p, now)
	}
	if len(pc.spkis) > 0 {
		return Material{SPKI: pc.spkis[0]}, nil
	}
	return Material{}, &readError{reason: reasonGarbage, path: p, err: errors.New("no key or certificate in the file")}
}

// retireOrphan moves the records of a certificate no longer configured
// towards removal.
func retireOrphan(old *entryState, now time.Time) *entryState {
	st := old.clone()
	var hold time.Duration
	for _, r := range st.Records {
		if h := time.Duration(r.Hold) * time.Second; h > hold {
			hold = h
		}
	}
	reconcile(st, nil, 0, hold, now)
	return st
}

// desired is the source's content per view, from every certificate's
// records. Records at one name share the longest TTL among them.
func (m *Manager) desired(states map[string]*entryState) map[string][]dns.RR {
	out := map[string][]dns.RR{}
	for _, v := range m.zone.ViewNames() {
		out[v] = nil
	}
	ttl := map[string]uint32{}
	for _, st := range states {
		for _, r := range st.Records {
			if k := r.View + "|" + r.Name; r.TTL > ttl[k] {
				ttl[k] = r.TTL
			}
		}
	}
	ids := make([]string, 0, len(states))
	for id := range states {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		for _, r := range states[id].Records {
			if _, ok := out[r.View]; !ok {
				continue
			}
			out[r.View] = append(out[r.View], r.rdata().RR(r.Name, ttl[r.View+"|"+r.Name]))
		}
	}
	return out
}

// evaluateAll re-reads every certificate: the state each should have now
// (a certificate no longer configured retires its records).
func (m *Manager) evaluateAll() map[string]*entryState {
	next := m.copyStates()
	for id, e := range m.entries {
		next[id] = m.evaluate(e, m.states[id])
	}
	for id, st := range m.states {
		if m.entries[id] == nil {
			next[id] = retireOrphan(st, m.now())
		}
	}
	return next
}

// refreshLocked re-reads every certificate and commits what changed.
func (m *Manager) refreshLocked() error {
	next := m.evaluateAll()
	return m.applyLocked(next, false)
}

// applyLocked commits the states that differ from the current ones.
func (m *Manager) applyLocked(next map[string]*entryState, force bool) error {
	var changed, deleted []string
	for id, st := range next {
		if m.entries[id] == nil && len(st.Records) == 0 {
			if m.states[id] != nil {
				deleted = append(deleted, id)
			}
			delete(next, id)
			continue
		}
		if old := m.states[id]; force || old == nil || !bytes.Equal(old.clone().encode(), st.clone().encode()) {
			changed = append(changed, id)
		}
	}
	if len(changed) == 0 && len(deleted) == 0 {
		return nil
	}
	sort.Strings(changed)
	desired := m.desired(next)
	err := m.src.Update(nil, func(tx *zonemodel.Tx) error {
		for v, rrs := range desired {
			tx.ReplaceIn(v, rrs)
		}
		for _, id := range changed {
			tx.SetMeta(metaPrefix+id, next[id].clone().encode())
		}
		for _, id := range deleted {
			tx.DeleteMeta(metaPrefix + id)
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, zonemodel.ErrSuperseded) {
			return err
		}
		for _, id := range changed {
			reason := reasonStore
			if !strings.Contains(err.Error(), "storing change") {
				reason = reasonRefused
			}
			errorsTotal.WithLabelValues(id, reason).Inc()
		}
		log.Errorf("zone %s: TLSA records not published: %v", m.origin, err)
		return err
	}
	for _, id := range changed {
		m.logChange(id, m.states[id], next[id])
	}
	for _, id := range deleted {
		log.Infof("zone %s cert %s: no longer configured; its last records are gone", m.origin, id)
		forgetMetrics(id)
	}
	m.states = next
	for _, id := range changed {
		observeState(id, next[id])
	}
	m.poke()
	return nil
}

func (m *Manager) logChange(id string, old, cur *entryState) {
	type info struct {
		role    string
		removed bool
		until   int64
	}
	summarize := func(st *entryState) map[string]info {
		out := map[string]info{}
		if st == nil {
			return out
		}
		for _, r := range st.Records {
			out[r.rdata().String()] = info{role: r.Role, until: r.removeAt()}
		}
		return out
	}
	a, b := summarize(old), summarize(cur)
	keys := map[string]bool{}
	for k := range a {
		keys[k] = true
	}
	for k := range b {
		keys[k] = true
	}
	var lines []string
	for k := range keys {
		d := parseRdataString(k)
		x, inA := a[k]
		y, inB := b[k]
		switch {
		case !inA:
			lines = append(lines, fmt.Sprintf("+ %s (%s)", describe(d), y.role))
		case !inB:
			lines = append(lines, fmt.Sprintf("- %s (hold-down over)", describe(d)))
		case x.role != y.role:
			if y.role == RoleRetiring {
				lines = append(lines, fmt.Sprintf("%s retiring, published until %s", describe(d), time.Unix(y.until, 0).UTC().Format(time.RFC3339)))
			} else {
				lines = append(lines, fmt.Sprintf("%s %s -> %s", describe(d), x.role, y.role))
			}
		}
	}
	if len(lines) == 0 {
		return
	}
	sort.Strings(lines)
	log.Infof("zone %s cert %s: %s", m.origin, id, strings.Join(lines, "; "))
}

func parseRdataString(s string) rdata {
	var d rdata
	fmt.Sscanf(s, "%d %d %d %s", &d.U, &d.S, &d.M, &d.Data)
	return d
}

// attach adds the source and stages the initial content from the stored
// state and the files (called before the zone opens).
func (m *Manager) attach(z *zonemodel.Zone) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.zone = z
	for _, id := range m.idsLocked() {
		if err := m.resolveViews(m.entries[id]); err != nil {
			return err
		}
	}
	src, err := z.AddSource(SourceName, zonemodel.SourceOptions{Override: true})
	if err != nil {
		return err
	}
	m.src = src
	stored, err := z.StoredMeta(SourceName)
	if err != nil {
		return err
	}
	views := map[string]bool{}
	for _, v := range z.ViewNames() {
		views[v] = true
	}
	before := map[string]bool{}
	for k, v := range stored {
		id, ok := strings.CutPrefix(k, metaPrefix)
		if !ok {
			continue
		}
		st, err := decodeState(v)
		if err != nil {
			log.Errorf("zone %s cert %s: stored state unreadable (%v); starting without it", m.origin, id, err)
			continue
		}
		kept := st.Records[:0]
		for _, r := range st.Records {
			if views[r.View] {
				kept = append(kept, r)
				before[r.key()] = true
			}
		}
		st.Records = kept
		m.states[id] = st
	}
	next := m.evaluateAll()
	m.fresh = map[string]bool{}
	for _, st := range next {
		for _, r := range st.Records {
			if !before[r.key()] {
				m.fresh[r.key()] = true
			}
		}
	}
	for v, rrs := range m.desired(next) {
		if err := src.SetInitial([]string{v}, rrs); err != nil {
			return err
		}
	}
	// The stored state of this start is written by start, once the zone is
	// open; until then m.states is the state before this start.
	m.pendingStates = next
	return nil
}
