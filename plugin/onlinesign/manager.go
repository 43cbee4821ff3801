package onlinesign

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"

	"github.com/dnspki/dnspki/plugin/pkg/atomicfile"
	"github.com/dnspki/dnspki/plugin/pkg/zonemodel"
)

// sourceName is the zone model source of DNSKEY, CDS and CDNSKEY.
const sourceName = "dnssec"

// zoneConfig is the configuration of one signed zone.
type zoneConfig struct {
	origin   string
	keyDir   string
	policy   Policy
	sig      sigConfig
	parents  []string      // servers to check the DS at during KSK/CSK rollovers
	dsCheck  time.Duration // interval of those checks
	cacheSet int           // RRset signatures cached (entries)
	cacheDen int           // denial (NSEC) signatures cached (entries)
	// The memory the caches may take (estimated from their entries).
	cacheSetBytes, cacheDenBytes int64
}

// sigConfig sets the validity of signatures.
type sigConfig struct {
	validity  time.Duration
	inception time.Duration // backdating of the inception
	refresh   time.Duration // re-sign when less than this remains
	jitter    time.Duration // random reduction of the validity
	chain     string        // signed transfers: "nsec" (default) or "nsec3"
}

// stateFile is the path of the key state of zone in dir.
func stateFile(dir, zone string) string { return filepath.Join(dir, fileZone(zone)+".keystate") }

// trustAnchorFile is the path of the trust anchor file of zone in dir.
func trustAnchorFile(dir, zone string) string {
	return filepath.Join(dir, fileZone(zone)+".trust-anchor")
}

// submittedFile is where an operator confirms that the parent has the DS.
func submittedFile(dir, zone string) string {
	return filepath.Join(dir, fileZone(zone)+".ds-submitted")
}

// fileZone is the zone name as used in file names: no trailing dot.
func fileZone(zone string) string {
	if zone == "." {
		return "root"
	}
	return strings.TrimSuffix(zone, ".")
}

// manager keeps the keys of one zone (one key directory): their state,
// rollovers, the records it publishes in the zone and the signing key set.
// It lives across configuration reloads (one per key directory and zone).
type manager struct {
	origin string

	mu      sync.Mutex
	cfg     zoneConfig
	state   *State
	keys    map[string]*Key // key material by base name
	pending map[string]*Key // generated, not yet committed (by role)
	zone    *zonemodel.Zone
	src     *zonemodel.Source
	refs    int
	stop    chan struct{}
	done    chan struct{}
	kick    chan struct{}

	dsMu        sync.Mutex
	dsLast      time.Time
	dsID        string        // the keys whose DS is being waited for
	dsResult    dsObservation // last result for dsID
	dsMaxTTL    time.Duration // longest DS TTL seen at the parent while waiting
	dsSawOld    bool          // a parent answered without the new DS (its TTL is in dsMaxTTL)
	lastWaitLog time.Time

	chainMu sync.Mutex
	marks   map[string]*chainMark // signed transfers, by view (chain.go)

	*signer
}

type dsObservation struct {
	seen bool
	ttl  time.Duration
}

var (
	managersMu sync.Mutex
	managers   = map[string]*manager{}
)

// acquireManager returns the manager of the zone's keys, creating and
// loading it on first use; a later configuration generation updates its
// configuration.
func acquireManager(cfg zoneConfig) (*manager, error) {
	managersMu.Lock()
	defer managersMu.Unlock()
	abs, err := filepath.Abs(cfg.keyDir)
	if err != nil {
		return nil, err
	}
	id := abs + "\x00" + cfg.origin
	if m := managers[id]; m != nil {
		m.mu.Lock()
		m.cfg = cfg
		m.refs++
		m.mu.Unlock()
		m.signer.configure(cfg)
		select { // a new policy may start a rollover now
		case m.kick <- struct{}{}:
		default:
		}
		return m, nil
	}
	m := &manager{origin: cfg.origin, cfg: cfg, keys: map[string]*Key{}, pending: map[string]*Key{}, refs: 1, kick: make(chan struct{}, 1)}
	m.signer = newSigner(m, cfg)
	m.signer.chainBuilt = m.chainBuilt
	if err := m.load(); err != nil {
		return nil, err
	}
	managers[id] = m
	return m, nil
}

// release drops one reference; the last one stops the rollover loop.
func (m *manager) release() {
	managersMu.Lock()
	defer managersMu.Unlock()
	m.mu.Lock()
	m.refs--
	last := m.refs == 0
	stop, done := m.stop, m.done
	if last {
		m.stop = nil
	}
	m.mu.Unlock()
	if !last {
		return
	}
	for id, x := range managers {
		if x == m {
			delete(managers, id)
		}
	}
	if stop != nil {
		close(stop)
		<-done
	}
	m.signer.shutdown()
}

// load reads the key state (or adopts key files found in the directory, or
// creates the first keys) and makes the signing key set.
func (m *manager) load() error {
	dir := m.cfg.keyDir
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("key directory: %w", err)
	}
	path := stateFile(dir, m.origin)
	st, err := loadState(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		st, err = m.adopt()
		if err != nil {
			return err
		}
	case err != nil:
		return err
	}
	if st.Zone != "" && st.Zone != m.origin {
		return fmt.Errorf("%s is the key state of zone %s, not %s", path, st.Zone, m.origin)
	}
	st.Zone = m.origin
	for _, ks := range st.Keys {
		k, err := readKey(dir, ks.Key)
		if err != nil {
			return fmt.Errorf("key %s listed in %s: %w", ks.Key, path, err)
		}
		if k.DNSKEY.Hdr.Name != m.origin {
			return fmt.Errorf("key %s is for zone %s, not %s", ks.Key, k.DNSKEY.Hdr.Name, m.origin)
		}
		m.keys[ks.Key] = k
	}
	if len(st.Keys) == 0 {
		next := st.clone()
		evs, _, err := next.advance(m.cfg.policy, &managerEnv{m: m, now: time.Now()})
		if err != nil {
			return err
		}
		for _, e := range evs {
			log.Infof("zone %s: %s", m.origin, e.msg)
		}
		st = next
		for _, k := range m.pending {
			m.keys[k.Base] = k
		}
		m.pending = map[string]*Key{}
	}
	st.Updated = time.Now().UTC()
	if err := st.save(path); err != nil {
		return fmt.Errorf("writing the key state: %w", err)
	}
	m.state = st
	if err := m.writeTrustAnchor(); err != nil {
		return err
	}
	m.installKeys()
	for _, k := range st.Keys {
		if k.CDS {
			log.Infof("zone %s: DS for the parent: %s", m.origin, dsOf(m.keys[k.Key].DNSKEY, dns.SHA256, 3600).String())
		}
	}
	return nil
}

// adopt builds a state from key pairs already in the key directory (from
// dnssec-keygen, keymgr or an earlier installation): every key is adopted as
// published and active; without a ZSK the SEP keys are CSKs.
func (m *manager) adopt() (*State, error) {
	bases, err := findKeys(m.cfg.keyDir, m.origin)
	if err != nil {
		return nil, err
	}
	st := &State{Zone: m.origin}
	if len(bases) == 0 {
		return st, nil
	}
	var keys []*Key
	hasZSK := false
	for _, b := range bases {
		k, err := readKey(m.cfg.keyDir, b)
		if err != nil {
			return nil, err
		}
		if k.DNSKEY.Flags&dns.REVOKE != 0 {
			continue
		}
		keys = append(keys, k)
		if !k.SEP() {
			hasZSK = true
		}
	}
	now := time.Now().UTC()
	for _, k := range keys {
		role := RoleZSK
		if k.SEP() {
			role = RoleCSK
			if hasZSK {
				role = RoleKSK
			}
		}
		st.Keys = append(st.Keys, &KeyState{
			Key: k.Base, Role: role, Algorithm: k.DNSKEY.Algorithm, Tag: k.Tag(), Created: now, Active: now,
			Published: true, SignsZone: role != RoleKSK, SignsKeys: role != RoleZSK, CDS: role != RoleZSK,
		})
		log.Infof("zone %s: adopted %s as %s", m.origin, k.Base, strings.ToUpper(role))
	}
	if st.scheme() == "" && len(st.Keys) > 0 {
		return nil, fmt.Errorf("key directory %s has only zone-signing keys for %s (no key with the SEP flag, 257): add a KSK or remove them", m.cfg.keyDir, m.origin)
	}
	return st, nil
}

// managerEnv is the env of the live state: real keys, the zone's TTLs, the
// parent's DS.
type managerEnv struct {
	m   *manager
	now time.Time
}

func (e *managerEnv) Now() time.Time { return e.now }

func (e *managerEnv) NewKey(role string, alg uint8) (*KeyState, error) {
	m := e.m
	k := m.pending[role]
	if k == nil || k.DNSKEY.Algorithm != alg {
		taken := map[uint16]bool{}
		for _, x := range m.keys {
			taken[x.Tag()] = true
		}
		for _, x := range m.pending {
			taken[x.Tag()] = true
		}
		var err error
		k, err = generateKey(m.origin, alg, role != RoleZSK, uint32(m.cfg.policy.DNSKEYTTL/time.Second), taken)
		if err != nil {
			return nil, err
		}
		if err := writeKey(m.cfg.keyDir, k, e.now); err != nil {
			return nil, fmt.Errorf("storing key %s: %w", k.Base, err)
		}
		m.pending[role] = k
	}
	return &KeyState{Key: k.Base, Role: role, Algorithm: alg, Tag: k.Tag(), Created: e.now.UTC()}, nil
}

func (e *managerEnv) MaxTTL() time.Duration {
	z := e.m.zone
	if z == nil {
		return 24 * time.Hour
	}
	var max uint32
	for _, v := range z.Views() {
		s := v.Snapshot()
		if neg := s.NegativeSOA(); neg != nil && neg.Header().Ttl > max {
			max = neg.Header().Ttl
		}
		s.Each(func(set *zonemodel.RRset) bool {
			if t := set.TTL(); t > max {
				max = t
			}
			return true
		})
	}
	return time.Duration(max) * time.Second
}

func (e *managerEnv) DSSeen(keys []*KeyState, since time.Time) (bool, time.Duration) {
	m := e.m
	if len(keys) == 0 {
		return true, 0
	}
	if m.cfg.policy.DSWait > 0 && !e.now.Before(since.Add(m.cfg.policy.DSWait)) {
		return true, 0
	}
	if b, err := os.ReadFile(submittedFile(m.cfg.keyDir, m.origin)); err == nil {
		tags := strings.Fields(string(b))
		all := true
		for _, k := range keys {
			if !slices.Contains(tags, fmt.Sprint(k.Tag)) {
				all = false
			}
		}
		if all {
			return true, 0
		}
	}
	if len(m.cfg.parents) > 0 {
		return m.checkParents(keys, e.now)
	}
	if e.now.Sub(m.lastWaitLog) > time.Hour {
		m.lastWaitLog = e.now
		var tags []string
		for _, k := range keys {
			tags = append(tags, fmt.Sprint(k.Tag))
		}
		log.Warningf("zone %s: waiting for the DS of key(s) %s at the parent; no 'parent' is configured to check it: run 'dnspki ds -keys %s -submitted %s' once the parent has it", m.origin, strings.Join(tags, " "), m.cfg.keyDir, fileZone(m.origin))
	}
	return false, 0
}

// checkParents asks every configured parent server for the zone's DS set
// (at most once per check interval) and reports whether each has the DS of
// every key, with the DS TTL to wait for: caches may hold the parent's old DS
// set, so it is the longest TTL seen at the parent while waiting (or, if the
// new DS was there at the first check, at least the configured ds-ttl).
func (m *manager) checkParents(keys []*KeyState, now time.Time) (bool, time.Duration) {
	m.dsMu.Lock()
	defer m.dsMu.Unlock()
	id := ""
	for _, k := range keys {
		id += k.Key + " "
	}
	if id != m.dsID {
		m.dsID, m.dsMaxTTL, m.dsSawOld, m.dsLast = id, 0, false, time.Time{}
	} else if now.Sub(m.dsLast) < m.cfg.dsCheck {
		return m.dsResult.seen, m.dsResult.ttl
	}
	m.dsLast = now
	seen := true
	for _, p := range m.cfg.parents {
		ok, t, err := parentHasDS(p, m.origin, keys, m.keys)
		m.dsMaxTTL = max(m.dsMaxTTL, t)
		if err != nil {
			log.Warningf("zone %s: checking the DS at %s: %v", m.origin, p, err)
		}
		if !ok {
			seen = false
			if err == nil {
				m.dsSawOld = true
			}
		}
	}
	ttl := m.dsMaxTTL
	if !m.dsSawOld {
		ttl = max(ttl, m.cfg.policy.DSTTL)
	}
	m.dsResult = dsObservation{seen, ttl}
	if seen {
		log.Infof("zone %s: every parent server has the DS of %s (DS TTL %s)", m.origin, strings.TrimSpace(id), ttl)
	}
	return seen, ttl
}

// parentHasDS asks server for zone's DS set and reports whether it has a DS
// of each key (any digest type).
func parentHasDS(server, zone string, keys []*KeyState, material map[string]*Key) (bool, time.Duration, error) {
	q := new(dns.Msg)
	q.SetQuestion(zone, dns.TypeDS)
	q.SetEdns0(1232, false)
	c := &dns.Client{Timeout: 3 * time.Second}
	r, _, err := c.Exchange(q, server)
	if err == nil && r.Truncated {
		c.Net = "tcp"
		r, _, err = c.Exchange(q, server)
	}
	if err != nil {
		return false, 0, err
	}
	if r.Rcode != dns.RcodeSuccess {
		return false, 0, fmt.Errorf("%s DS: %s", zone, dns.RcodeToString[r.Rcode])
	}
	var ttl uint32
	var have []*dns.DS
	for _, rr := range r.Answer {
		if ds, ok := rr.(*dns.DS); ok && strings.EqualFold(ds.Hdr.Name, zone) {
			have = append(have, ds)
			ttl = max(ttl, ds.Hdr.Ttl)
		}
	}
	for _, k := range keys {
		km := material[k.Key]
		if km == nil {
			return false, time.Duration(ttl) * time.Second, fmt.Errorf("no key material for %s", k.Key)
		}
		found := false
		for _, ds := range have {
			if ds.KeyTag != k.Tag || ds.Algorithm != k.Algorithm {
				continue
			}
			if want := km.DNSKEY.ToDS(ds.DigestType); want != nil && strings.EqualFold(want.Digest, ds.Digest) {
				found = true
				break
			}
		}
		if !found {
			return false, time.Duration(ttl) * time.Second, nil
		}
	}
	return true, time.Duration(ttl) * time.Second, nil
}

// attach joins a zone of a configuration generation: the "dnssec" source
// with the published records, and the signer.
func (m *manager) attach(z *zonemodel.Zone) error {
	src, err := z.AddSource(sourceName, zonemodel.SourceOptions{})
	if err != nil {
		return err
	}
	m.mu.Lock()
	rrs := m.records()
	m.zone, m.src = z, src
	m.mu.Unlock()
	if err := src.SetInitial(nil, rrs); err != nil {
		return err
	}
	z.SetSigner(m.signer)
	z.Subscribe(m.signer.changed)
	return nil
}

// started runs once the zone serves: the rollover loop starts (once per
// manager) and the zone is signed in the background.
func (m *manager) started(z *zonemodel.Zone) {
	m.mu.Lock()
	if m.stop == nil {
		m.stop, m.done = make(chan struct{}), make(chan struct{})
		go m.loop(m.stop, m.done)
	}
	src := m.src
	m.mu.Unlock()
	if src != nil {
		m.loadMarks(src)
	}
	select { // look at the signed transfers' marks now
	case m.kick <- struct{}{}:
	default:
	}
	go m.signer.presignAll(z)
}

// records are the DNSKEY, CDS and CDNSKEY records the state publishes.
func (m *manager) records() []dns.RR {
	ttl := uint32(m.cfg.policy.DNSKEYTTL / time.Second)
	var out []dns.RR
	for _, ks := range m.state.Keys {
		k := m.keys[ks.Key]
		if k == nil {
			continue
		}
		if ks.Published {
			dk := *k.DNSKEY
			dk.Hdr.Ttl = ttl
			out = append(out, &dk)
		}
		if ks.CDS {
			cds := dsOf(k.DNSKEY, dns.SHA256, ttl).ToCDS()
			cds.Hdr.Ttl = ttl
			out = append(out, cds)
			cdk := k.DNSKEY.ToCDNSKEY()
			cdk.Hdr.Ttl = ttl
			out = append(out, cdk)
		}
	}
	return out
}

// installKeys makes the signing key set from the state.
func (m *manager) installKeys() {
	ks := &keySet{signer: m.origin}
	var zids, kids []string
	for _, st := range m.state.Keys {
		k := m.keys[st.Key]
		if k == nil {
			continue
		}
		sk := &signingKey{key: k, tag: k.Tag(), alg: k.DNSKEY.Algorithm}
		if st.SignsZone {
			ks.zone = append(ks.zone, sk)
			zids = append(zids, fmt.Sprintf("%d/%d", sk.alg, sk.tag))
		}
		if st.SignsKeys {
			ks.keys = append(ks.keys, sk)
			kids = append(kids, fmt.Sprintf("%d/%d", sk.alg, sk.tag))
		}
	}
	slices.Sort(zids)
	slices.Sort(kids)
	ks.id = "zone " + strings.Join(zids, ",") + " keys " + strings.Join(kids, ",")
	m.signer.setKeys(ks)
	updateKeyMetrics(m.origin, m.state)
}

// writeTrustAnchor writes the DNSKEY records of the published KSKs/CSKs to
// <keydir>/<zone>.trust-anchor, one RR per line (unbound's trust-anchor-file
// format).
func (m *manager) writeTrustAnchor() error {
	var b strings.Builder
	for _, ks := range m.state.published() {
		if ks.Role == RoleZSK {
			continue
		}
		k := m.keys[ks.Key]
		fmt.Fprintf(&b, "%s %d IN DNSKEY %d %d %d %s\n", m.origin, uint32(m.cfg.policy.DNSKEYTTL/time.Second), k.DNSKEY.Flags, k.DNSKEY.Protocol, k.DNSKEY.Algorithm, k.DNSKEY.PublicKey)
	}
	path := trustAnchorFile(m.cfg.keyDir, m.origin)
	if old, err := os.ReadFile(path); err == nil && string(old) == b.String() {
		return nil
	}
	if err := atomicfile.Write(path, []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("writing the trust anchor: %w", err)
	}
	return nil
}

// loop runs the rollovers: it wakes at the next scheduled event (at least
// every tick) and applies what is due.
func (m *manager) loop(stop, done chan struct{}) {
	defer close(done)
	for {
		m.tick()
		chainNext := m.checkChains(time.Now())
		m.mu.Lock()
		next, waitingDS := m.state.nextEvent(m.cfg.policy)
		dsCheck := m.cfg.dsCheck
		m.mu.Unlock()
		wait := time.Minute
		if waitingDS && dsCheck < wait {
			wait = dsCheck
		}
		for _, t := range []time.Time{next, chainNext} {
			if !t.IsZero() {
				if d := time.Until(t); d < wait {
					wait = max(d, 10*time.Millisecond)
				}
			}
		}
		t := time.NewTimer(wait)
		select {
		case <-stop:
			t.Stop()
			return
		case <-m.kick:
		case <-t.C:
		}
		t.Stop()
	}
}

// tick advances the key state and, when it changed, stores it: key files
// first (already written by NewKey), then the published records (a committed
// zone change), then the state file, then the signing keys.
func (m *manager) tick() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.src == nil {
		return
	}
	next := m.state.clone()
	before, _ := stateJSON(m.state)
	start := time.Now()
	evs, removed, err := next.advance(m.cfg.policy, &managerEnv{m: m, now: start})
	if err != nil {
		log.Errorf("zone %s: key rollover: %v", m.origin, err)
		rolloverErrors.WithLabelValues(m.origin).Inc()
		return
	}
	after, _ := stateJSON(next)
	if before == after {
		return
	}
	for _, k := range m.pending {
		m.keys[k.Base] = k
	}
	prev := m.state
	m.state = next
	rrs := m.records()
	if err := m.src.Replace(nil, rrs); err != nil {
		m.state = prev
		log.Errorf("zone %s: publishing the key records: %v (retrying)", m.origin, err)
		rolloverErrors.WithLabelValues(m.origin).Inc()
		return
	}
	// The waits of the steps taken now run from when the records are
	// served (the commit is done), not from when the step was decided: a
	// slow commit (fsync under load) must not shorten them, or a key could
	// sign before resolvers can have its DNSKEY.
	next.delaySteps(start, time.Since(start))
	next.Updated = time.Now().UTC()
	if err := next.save(stateFile(m.cfg.keyDir, m.origin)); err != nil {
		log.Errorf("zone %s: writing the key state: %v", m.origin, err)
		rolloverErrors.WithLabelValues(m.origin).Inc()
	}
	m.pending = map[string]*Key{}
	for _, e := range evs {
		log.Infof("zone %s: %s", m.origin, e.msg)
	}
	if err := m.writeTrustAnchor(); err != nil {
		log.Errorf("zone %s: %v", m.origin, err)
	}
	m.retire(removed)
	m.installKeys()
	for _, k := range next.Keys {
		if k.CDS && !wasCDS(prev, k.Key) {
			log.Infof("zone %s: new DS for the parent: %s", m.origin, dsOf(m.keys[k.Key].DNSKEY, dns.SHA256, 3600).String())
		}
	}
	if m.zone != nil {
		go m.signer.presignAll(m.zone)
	}
}

func wasCDS(st *State, key string) bool {
	if k := st.key(key); k != nil {
		return k.CDS
	}
	return false
}

// retire moves the files of removed keys to <keydir>/retired/.
func (m *manager) retire(bases []string) {
	if len(bases) == 0 {
		return
	}
	rd := filepath.Join(m.cfg.keyDir, "retired")
	if err := os.MkdirAll(rd, 0o700); err != nil {
		log.Warningf("zone %s: %v", m.origin, err)
		return
	}
	for _, b := range bases {
		for _, ext := range []string{".key", ".private"} {
			if err := os.Rename(filepath.Join(m.cfg.keyDir, b+ext), filepath.Join(rd, b+ext)); err != nil {
				log.Warningf("zone %s: retiring %s: %v", m.origin, b+ext, err)
			}
		}
		delete(m.keys, b)
	}
}
