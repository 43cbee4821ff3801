package onlinesign

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"

	"github.com/dnspki/dnspki/plugin/pkg/zonemodel"
)

// Signed transfers (zonemodel.ChainSigner): the whole view signed for a
// secondary that is not dnspki (BIND, Knot, NSD), which serves it as it is.
// Those servers cannot sign online nor synthesize compact denial, so the
// zone carries RRSIGs over every authoritative RRset and a complete NSEC (or
// NSEC3) chain.
//
// Cost. Signatures are reused wherever they are still fresh enough (see
// chainHorizon): RRset signatures from the online cache (RRset.Aux) or from
// the previous signed zone, chain records (same owner, next name, bitmap and
// TTL) from the previous chain. What is missing is signed on every core. The
// result is kept per view until the snapshot, the keys or the chain kind
// change, so secondaries asking for the same serial share one signed zone.
//
// Freshness. A secondary holds the zone until its next transfer, which only
// happens when the serial changes. Every signature a signed zone reuses has
// at least chainHorizon left before its refresh time (newly made ones have
// validity-jitter-refresh); the earliest refresh time of the zone is
// recorded per view (source metadata, so it survives restarts). When it
// comes, or when the keys that sign change without a change of the zone's
// records, and the serial has not moved since, the manager gives the view a
// new serial (zonemodel.Tx.Bump): NOTIFY goes out, the secondaries ask, and
// get a zone with fresh signatures. Every signature a secondary receives is
// thus valid for at least refresh+chainHorizon after the transfer.

// Chain kinds of signed transfers.
const (
	chainNSEC  = "nsec"
	chainNSEC3 = "nsec3"
)

// chainMetaPrefix prefixes the source metadata key (per view) that records
// when the signed zone last handed to secondaries needs fresh signatures.
const chainMetaPrefix = "chain/"

// chainHorizon is how much life (time before its refresh time) a cached
// signature must still have to be put into a signed zone: half the life of a
// new signature. It bounds how often the zone must be re-sent to keep the
// secondaries' signatures fresh.
func chainHorizon(c *sigConfig) time.Duration {
	life := c.validity - c.jitter - c.refresh
	if life < 2*time.Second {
		return 0
	}
	return life / 2
}

// chainEntry is a record of the chain (NSEC, NSEC3 or NSEC3PARAM) with its
// signatures.
type chainEntry struct {
	rr      dns.RR
	sigs    []dns.RR
	keys    string // id of the key set that made sigs
	refresh int64
}

// signedZone is one signed version of a view.
type signedZone struct {
	snap    *zonemodel.Snapshot
	keys    string // key set id and chain kind
	refresh int64  // earliest refresh time of its signatures (unix)
	rrs     []dns.RR
}

// chainState is the signed-transfer cache of one view.
type chainState struct {
	mu    sync.Mutex
	last  *signedZone
	sets  map[*zonemodel.RRset]*sigEntry // signatures used by last
	chain map[string]*chainEntry         // chain records of last, by owner
}

func (s *signer) chainState(view string) *chainState {
	s.chainMu.Lock()
	defer s.chainMu.Unlock()
	if s.chains == nil {
		s.chains = map[string]*chainState{}
	}
	cs := s.chains[view]
	if cs == nil {
		cs = &chainState{}
		s.chains[view] = cs
	}
	return cs
}

// chainID identifies what a signed zone depends on besides its snapshot: the
// keys that sign and the chain kind.
func chainID(ks *keySet, c *sigConfig) string { return ks.id + "/" + c.chainKind() }

func (c *sigConfig) chainKind() string {
	if c.chain == "" {
		return chainNSEC
	}
	return c.chain
}

// SignedZone implements zonemodel.ChainSigner: the view's snapshot signed
// for a secondary that serves it as it is. The returned slice is shared by
// concurrent transfers and must not be modified.
func (s *signer) SignedZone(ctx context.Context, view *zonemodel.View, snap *zonemodel.Snapshot) ([]dns.RR, error) {
	ks := s.ks.Load()
	if ks == nil || len(ks.zone) == 0 || len(ks.keys) == 0 {
		s.failures.Inc()
		return nil, errNoKeys
	}
	if snap.SOA() == nil {
		return nil, errors.New("the zone has no data")
	}
	cfg := s.cfg.Load()
	id := chainID(ks, cfg)
	cs := s.chainState(view.Name)
	cs.mu.Lock()
	defer cs.mu.Unlock()
	now := time.Now()
	if l := cs.last; l != nil && l.snap == snap && l.keys == id && now.Unix() < l.refresh {
		signedZones.WithLabelValues(s.origin, "cached").Inc()
		return l.rrs, nil
	}
	sz, made, err := s.buildSigned(ctx, cs, snap, ks, cfg, now)
	if err == nil {
		var refresh int64
		sz.rrs, refresh, err = s.digestSigned(sz.rrs, snap, ks, now)
		sz.refresh = min(sz.refresh, refresh)
	}
	if err != nil {
		signedZones.WithLabelValues(s.origin, "failed").Inc()
		s.failures.Inc()
		return nil, err
	}
	sz.keys = id
	cs.last = sz
	took := time.Since(now)
	signedZones.WithLabelValues(s.origin, "built").Inc()
	signedZoneSeconds.WithLabelValues(s.origin).Observe(took.Seconds())
	signedZoneRefresh.WithLabelValues(s.origin, view.Name).Set(float64(sz.refresh))
	log.Infof("zone %s view %s: signed zone for transfer at serial %d: %d records, %d new signatures, %s chain, signatures fresh until %s, %s",
		s.origin, view.Name, snap.Serial, len(sz.rrs), made, strings.ToUpper(cfg.chainKind()),
		time.Unix(sz.refresh, 0).UTC().Format(time.RFC3339), took.Round(time.Millisecond))
	if fn := s.chainBuilt; fn != nil {
		fn(view.Name, snap.Serial, id, sz.refresh)
	}
	return sz.rrs, nil
}

// item is one piece of a signed zone in transfer order: an RRset (signed or
// not) or a chain record.
type item struct {
	set  *zonemodel.RRset
	sign bool
	se   *sigEntry
	ce   *chainEntry
	new  bool // ce must be signed
}

// dnssecType reports the types the signed zone makes itself: such records
// in the zone's data (a pre-signed zone file) are not transferred.
func dnssecType(t uint16) bool {
	switch t {
	case dns.TypeRRSIG, dns.TypeNSEC, dns.TypeNSEC3, dns.TypeNSEC3PARAM:
		return true
	}
	return false
}

// chainMember is a name of the chain with the types of its bitmap (without
// RRSIG, NSEC and NSEC3PARAM).
type chainMember struct {
	name  string
	types []uint16
	cut   bool
	at    int // NSEC: the item that holds its record
}

// zoneBuild is one run of buildSigned: the items of the signed zone in
// transfer order, what they reuse from the chain state, and the chain.
type zoneBuild struct {
	cs       *chainState
	ks       *keySet
	keep     int64 // a reused signature must not need refreshing before
	kind     string
	origin   string
	ttl      uint32 // of the chain records
	items    []item
	members  []chainMember
	ents     []string // NSEC3: empty non-terminals
	newChain map[string]*chainEntry
}

// buildSigned signs the snapshot with a complete chain: the zone's RRsets
// (walk), the chain records (nsecChain, nsec3Chain), the signatures that
// could not be reused (signItems), then the records in transfer order
// (assemble). It returns the zone and how many items it signed.
func (s *signer) buildSigned(ctx context.Context, cs *chainState, snap *zonemodel.Snapshot, ks *keySet, cfg *sigConfig, now time.Time) (*signedZone, int, error) {
	b := &zoneBuild{
		cs:     cs,
		ks:     ks,
		keep:   now.Add(chainHorizon(cfg)).Unix(),
		kind:   cfg.chainKind(),
		origin: snap.Origin,
		ttl:    snap.NegativeSOA().Header().Ttl, // RFC 9077: min(SOA TTL, SOA MINIMUM)
		items:  make([]item, 0, 2*snap.Names()+snap.Records()/2),
	}
	if err := b.walk(ctx, snap); err != nil {
		return nil, 0, err
	}
	b.newChain = make(map[string]*chainEntry, len(b.members)+len(b.ents)+1)
	switch b.kind {
	case chainNSEC:
		b.nsecChain()
	case chainNSEC3:
		if err := b.nsec3Chain(); err != nil {
			return nil, 0, err
		}
	default:
		return nil, 0, fmt.Errorf("unknown chain kind %q", b.kind)
	}
	// Sign what is missing, on every core.
	var jobs []int
	for i := range b.items {
		if (b.items[i].sign && b.items[i].se == nil) || b.items[i].new {
			jobs = append(jobs, i)
		}
	}
	if err := s.signItems(ctx, b.items, jobs, snap, ks, now); err != nil {
		return nil, 0, err
	}
	return b.assemble(snap), len(jobs), nil
}

// fresh reports whether cached signatures can go into the signed zone: made
// with its keys, and fresh for long enough.
func (b *zoneBuild) fresh(e *sigEntry) bool {
	return e != nil && e.ks.id == b.ks.id && e.refresh >= b.keep
}

// addSet adds an RRset, with the signatures it can reuse (from the online
// cache or the previous signed zone) if it is signed.
func (b *zoneBuild) addSet(set *zonemodel.RRset, sign bool) {
	it := item{set: set, sign: sign}
	if sign {
		if e, ok := set.Aux().(*sigEntry); ok && b.fresh(e) {
			it.se = e
		} else if e := b.cs.sets[set]; b.fresh(e) {
			it.se = e
		}
	}
	b.items = append(b.items, it)
}

// walk adds the zone's RRsets in name order, SOA first, and collects the
// names of the chain (with a placeholder item for each NSEC).
func (b *zoneBuild) walk(ctx context.Context, snap *zonemodel.Snapshot) error {
	soa := snap.SOA()
	b.addSet(soa, true)
	occluder, belowCut := "", false
	for i, n := range snap.Sorted() {
		if i%4096 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		if occluder != "" && n.Name != occluder && zonemodel.InZone(n.Name, occluder) {
			// Below a zone cut only glue is served (unsigned, not in the
			// chain); below a DNAME nothing is.
			if belowCut {
				b.addGlue(n)
			}
			continue
		}
		occluder, belowCut = "", false
		var types []uint16
		if n.Cut() {
			occluder, belowCut = n.Name, true
			types = b.addCut(n)
		} else {
			types = b.addNode(n, soa)
			if n.Get(dns.TypeDNAME) != nil {
				occluder = n.Name
			}
		}
		b.addMember(n, types)
	}
	if len(b.members) == 0 {
		return errors.New("the zone has no apex data")
	}
	return nil
}

// addGlue adds the address records below a zone cut (unsigned).
func (b *zoneBuild) addGlue(n *zonemodel.Node) {
	for _, set := range n.Sets {
		if set.Type == dns.TypeA || set.Type == dns.TypeAAAA {
			b.addSet(set, false)
		}
	}
}

// addCut adds a delegation (NS unsigned, DS signed) and returns its types.
func (b *zoneBuild) addCut(n *zonemodel.Node) []uint16 {
	b.addSet(n.Get(dns.TypeNS), false)
	types := []uint16{dns.TypeNS}
	if ds := n.Get(dns.TypeDS); ds != nil {
		b.addSet(ds, true)
		types = append(types, dns.TypeDS)
	}
	return types
}

// addNode adds an authoritative name's RRsets (signed; the SOA is already
// in) and returns its types, without the ones the signed zone makes.
func (b *zoneBuild) addNode(n *zonemodel.Node, soa *zonemodel.RRset) []uint16 {
	var types []uint16
	for _, set := range n.Sets {
		if dnssecType(set.Type) {
			continue
		}
		types = append(types, set.Type)
		if set != soa {
			b.addSet(set, true)
		}
	}
	return types
}

// addMember puts a name with types into the chain; a name without is an
// empty non-terminal (NSEC3 hashes it, NSEC skips it).
func (b *zoneBuild) addMember(n *zonemodel.Node, types []uint16) {
	if len(types) == 0 {
		if b.kind == chainNSEC3 && n.Name != b.origin {
			b.ents = append(b.ents, n.Name)
		}
		return
	}
	m := chainMember{name: n.Name, types: types, cut: n.Cut(), at: -1}
	if b.kind == chainNSEC {
		m.at = len(b.items)
		b.items = append(b.items, item{})
	}
	b.members = append(b.members, m)
}

// chainItem is the item of a chain record: the previous chain's entry if it
// is the same record, still fresh, else a new one to sign.
func (b *zoneBuild) chainItem(owner string, rr dns.RR) item {
	if old := b.cs.chain[owner]; old != nil && old.keys == b.ks.id && old.refresh >= b.keep && dns.IsDuplicate(old.rr, rr) && old.rr.Header().Ttl == rr.Header().Ttl {
		b.newChain[owner] = old
		return item{ce: old}
	}
	ce := &chainEntry{rr: rr, keys: b.ks.id}
	b.newChain[owner] = ce
	return item{ce: ce, new: true}
}

// nsecChain fills each member's placeholder with its NSEC.
func (b *zoneBuild) nsecChain() {
	for i, m := range b.members {
		next := b.members[(i+1)%len(b.members)].name
		bm := append(slices.Clone(m.types), dns.TypeRRSIG, dns.TypeNSEC)
		slices.Sort(bm)
		nsec := &dns.NSEC{
			Hdr:        dns.RR_Header{Name: m.name, Rrtype: dns.TypeNSEC, Class: dns.ClassINET, Ttl: b.ttl},
			NextDomain: next,
			TypeBitMap: slices.Compact(bm),
		}
		b.items[m.at] = b.chainItem(m.name, nsec)
	}
}

// nsec3Hashed is a member or empty non-terminal of an NSEC3 chain.
type nsec3Hashed struct {
	hash  string
	types []uint16
}

// nsec3Chain appends the NSEC3PARAM and the NSEC3 chain (no salt, no extra
// iterations: RFC 9276) in hash order.
func (b *zoneBuild) nsec3Chain() error {
	param := &dns.NSEC3PARAM{
		Hdr:  dns.RR_Header{Name: b.origin, Rrtype: dns.TypeNSEC3PARAM, Class: dns.ClassINET, Ttl: 0},
		Hash: dns.SHA1,
	}
	b.items = append(b.items, b.chainItem("\x00nsec3param", param))
	hs := b.nsec3Hashes()
	for i, h := range hs {
		if i > 0 && hs[i-1].hash == h.hash {
			return fmt.Errorf("NSEC3 hash collision at %s (use the NSEC chain)", h.hash)
		}
		owner := strings.ToLower(h.hash) + "." + b.origin
		n3 := &dns.NSEC3{
			Hdr:        dns.RR_Header{Name: owner, Rrtype: dns.TypeNSEC3, Class: dns.ClassINET, Ttl: b.ttl},
			Hash:       dns.SHA1,
			HashLength: 20,
			NextDomain: hs[(i+1)%len(hs)].hash,
			TypeBitMap: h.types,
		}
		b.items = append(b.items, b.chainItem(owner, n3))
	}
	return nil
}

// nsec3Hashes are the hashed members (with their bitmaps) and empty
// non-terminals, in hash order.
func (b *zoneBuild) nsec3Hashes() []nsec3Hashed {
	hs := make([]nsec3Hashed, 0, len(b.members)+len(b.ents))
	for _, m := range b.members {
		bm := slices.Clone(m.types)
		if !m.cut || slices.Contains(m.types, dns.TypeDS) {
			bm = append(bm, dns.TypeRRSIG) // RFC 5155 §7.1: an insecure delegation has NS only
		}
		if m.name == b.origin {
			bm = append(bm, dns.TypeNSEC3PARAM)
		}
		slices.Sort(bm)
		hs = append(hs, nsec3Hashed{hash: dns.HashName(m.name, dns.SHA1, 0, ""), types: slices.Compact(bm)})
	}
	for _, e := range b.ents {
		hs = append(hs, nsec3Hashed{hash: dns.HashName(e, dns.SHA1, 0, "")})
	}
	sort.Slice(hs, func(i, j int) bool { return hs[i].hash < hs[j].hash })
	return hs
}

// assemble lays the items out in transfer order (SOA first) and keeps what
// the next build may reuse in the chain state.
func (b *zoneBuild) assemble(snap *zonemodel.Snapshot) *signedZone {
	n := 0
	for i := range b.items {
		it := &b.items[i]
		switch {
		case it.set != nil:
			n += len(it.set.RRs)
			if it.sign {
				n += len(it.se.sigs)
			}
		case it.ce != nil:
			n += 1 + len(it.ce.sigs)
		}
	}
	out := make([]dns.RR, 0, n)
	refresh := int64(1<<63 - 1)
	newSets := make(map[*zonemodel.RRset]*sigEntry, len(b.cs.sets))
	for i := range b.items {
		it := &b.items[i]
		if it.set != nil {
			out = append(out, it.set.RRs...)
			if it.sign {
				out = append(out, it.se.sigs...)
				refresh = min(refresh, it.se.refresh)
				newSets[it.set] = it.se
			}
			continue
		}
		out = append(out, it.ce.rr)
		out = append(out, it.ce.sigs...)
		refresh = min(refresh, it.ce.refresh)
	}
	b.cs.sets, b.cs.chain = newSets, b.newChain
	return &signedZone{snap: snap, refresh: refresh, rrs: out}
}

// signItems signs the items at the indexes in jobs, on every core (the
// private-key operations on the signing pool, after those answers wait for).
func (s *signer) signItems(ctx context.Context, items []item, jobs []int, snap *zonemodel.Snapshot, ks *keySet, now time.Time) error {
	if len(jobs) == 0 {
		return nil
	}
	workers := min(2*runtime.GOMAXPROCS(0), len(jobs))
	var next atomic.Int64
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	fail := func(err error) {
		mu.Lock()
		if first == nil {
			first = err
		}
		mu.Unlock()
	}
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				j := int(next.Add(1)) - 1
				if j >= len(jobs) {
					return
				}
				if j%256 == 0 && ctx.Err() != nil {
					fail(ctx.Err())
					return
				}
				it := &items[jobs[j]]
				if it.set != nil {
					e, err := s.signSet(it.set, snap, ks, now, true)
					if err != nil {
						fail(err)
						return
					}
					it.se = e
					continue
				}
				inc, exp, refresh := s.validity(now)
				for _, k := range ks.zone {
					sig, err := sign(k, ks.signer, []dns.RR{it.ce.rr}, inc, exp, true)
					if err != nil {
						s.failures.Inc()
						fail(err)
						return
					}
					s.sigChain.Inc()
					it.ce.sigs = append(it.ce.sigs, sig)
				}
				it.ce.refresh = refresh
			}
		}()
	}
	wg.Wait()
	return first
}

// chainMark records, per view, what the secondaries of signed transfers
// were last given: the key set and chain (id) and when its first signature
// needs refreshing. It is stored as source metadata (JSON of the exported
// fields).
type chainMark struct {
	Keys    string `json:"keys"`
	Refresh int64  `json:"refresh"`

	serial uint32 // the serial signed (unknown for a mark read at start)
	known  bool
	done   bool      // handled: wait for the next signed zone
	retry  time.Time // after a failed bump
}

// chainBuilt hears every signed zone made for a transfer: the mark of the
// view is replaced, and stored when what it says changed.
func (m *manager) chainBuilt(view string, serial uint32, keys string, refresh int64) {
	m.chainMu.Lock()
	old := m.marks[view]
	mk := &chainMark{Keys: keys, Refresh: refresh, serial: serial, known: true}
	if m.marks == nil {
		m.marks = map[string]*chainMark{}
	}
	m.marks[view] = mk
	store := old == nil || old.done || old.Keys != keys || old.Refresh != refresh
	m.chainMu.Unlock()
	if store {
		m.mu.Lock()
		src := m.src
		m.mu.Unlock()
		if src != nil {
			b, _ := json.Marshal(mk)
			if err := src.Update(nil, func(tx *zonemodel.Tx) error {
				tx.SetMeta(chainMetaPrefix+view, b)
				return nil
			}); err != nil {
				log.Warningf("zone %s view %s: storing when the signed zone needs refreshing: %v", m.origin, view, err)
			}
		}
	}
	select {
	case m.kick <- struct{}{}:
	default:
	}
}

// loadMarks reads the stored marks (once per manager: a configuration
// reload keeps the ones in memory).
func (m *manager) loadMarks(src *zonemodel.Source) {
	m.chainMu.Lock()
	defer m.chainMu.Unlock()
	if m.marks != nil {
		return
	}
	m.marks = map[string]*chainMark{}
	for _, k := range src.MetaKeys() {
		view, ok := strings.CutPrefix(k, chainMetaPrefix)
		if !ok {
			continue
		}
		mk := &chainMark{}
		if err := json.Unmarshal(src.Meta(k), mk); err != nil {
			log.Warningf("zone %s: stored signed-transfer state of view %s: %v (the view gets a new serial)", m.origin, view, err)
		}
		m.marks[view] = mk
	}
}

// checkChains gives a view a new serial when the signed zone its
// secondaries hold needs fresh signatures (its refresh time came) or was
// signed by keys that no longer sign, and nothing newer is pending for them.
// It returns when to look again (zero: no mark waiting).
func (m *manager) checkChains(now time.Time) time.Time {
	m.mu.Lock()
	src, z := m.src, m.zone
	m.mu.Unlock()
	ks := m.signer.ks.Load()
	if src == nil || z == nil || ks == nil {
		return time.Time{}
	}
	id := chainID(ks, m.signer.cfg.Load())
	m.chainMu.Lock()
	defer m.chainMu.Unlock()
	var next time.Time
	soonest := func(t time.Time) {
		if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	views := make([]string, 0, len(m.marks))
	for v := range m.marks {
		views = append(views, v)
	}
	sort.Strings(views)
	for _, view := range views {
		mk := m.marks[view]
		if mk.done {
			continue
		}
		refresh := time.Unix(mk.Refresh, 0)
		keysChanged := mk.Keys != id
		if !keysChanged && now.Before(refresh) {
			soonest(refresh)
			continue
		}
		if now.Before(mk.retry) {
			soonest(mk.retry)
			continue
		}
		v := z.View(view)
		if v == nil {
			mk.done = true
			continue
		}
		if snap := v.Snapshot(); snap.SOA() == nil || (mk.known && snap.Serial != mk.serial) {
			// A newer serial is already announced: the secondaries will
			// fetch it and get a freshly signed zone.
			mk.done = true
			continue
		}
		why := "signatures due for refresh"
		if keysChanged {
			why = "the signing keys or the chain changed"
		}
		err := src.Update([]string{view}, func(tx *zonemodel.Tx) error {
			tx.Bump()
			tx.DeleteMeta(chainMetaPrefix + view)
			return nil
		})
		if err != nil {
			log.Warningf("zone %s view %s: %s for the signed transfers, but a new serial failed: %v (retrying)", m.origin, view, why, err)
			mk.retry = now.Add(time.Minute)
			soonest(mk.retry)
			continue
		}
		mk.done = true
		signedZoneBumps.WithLabelValues(m.origin, view).Inc()
		log.Infof("zone %s view %s: %s for the signed transfers: new serial %d so that the secondaries fetch a freshly signed zone",
			m.origin, view, why, v.Snapshot().Serial)
	}
	return next
}
