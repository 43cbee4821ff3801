// Package zonemodel is dnspki's one model of each zone: every record source
// (zone file, zone transfer, ACME updates, dns-persist records, TLSA, DNSSEC
// keys) contributes RRsets to it; answers, denial, serials, the journal, IXFR,
// NOTIFY and signatures are all computed from it.
//
// A Zone has one or more views. Each view has its own immutable Snapshot
// (swapped atomically on change), SOA serial and journal. A Source owns its
// records in the views it contributes to; the served RRset at a name and type is
// the union of every source's records there. Every change is one transaction:
// validated, given a new serial, written to the zone's store (with fsync) and
// only then made visible.
package zonemodel

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/miekg/dns"
)

// DefaultView is the name of the only view of a zone configured without views.
const DefaultView = "default"

// SerialPolicy chooses the next SOA serial of a view.
type SerialPolicy int

// Serial policies.
const (
	// SerialIncrement: one more than the current serial, or the zone file's
	// serial when that is ahead.
	SerialIncrement SerialPolicy = iota
	// SerialUnixTime: the current Unix time when that is ahead of the
	// increment.
	SerialUnixTime
)

// Errors of the model.
var (
	ErrSuperseded = errors.New("zone was reloaded; this generation no longer accepts changes")
	ErrNotOpen    = errors.New("zone is not open")
)

// Config of a zone.
type Config struct {
	Origin   string
	StateDir string
	Views    []string // nil: one view named DefaultView
	Serial   SerialPolicy
	// JournalMax bounds the journal of each view in entries and in bytes; the
	// oldest entries are dropped first (IXFR then falls back to AXFR).
	JournalMaxEntries int
	JournalMaxBytes   int
	// Digest is the hash algorithm of the zone digest (RFC 8976 ZONEMD,
	// zonemd.HashSHA384 or HashSHA512) the model computes into every
	// view's snapshot; 0: none (digest.go).
	Digest uint8
	Logf   func(format string, args ...any)
	// openStorage opens the storage of a zone's state in a state directory
	// (nil: bbolt, boltstore.go; tests use memstore.go).
	openStorage func(dir, origin string) (storage, error)
}

// Zone is one zone of one configuration generation.
type Zone struct {
	cfg    Config
	Origin string

	views     map[string]*View
	viewNames []string
	sources   []*Source
	byName    map[string]*Source

	tbl *srcTable // numbers of the sources (configured and stored)

	st         *store
	opened     atomic.Bool
	heldMu     sync.Mutex
	held       *store // the store read before Open (hold.go)
	superseded atomic.Bool

	subsMu sync.Mutex
	subs   []func(Change)

	signer atomic.Pointer[signerBox]

	// prevClosed is the closed channel of the previous configuration
	// generation's zone this one took the store from (nil if none); closed
	// is closed by Close.
	prevClosed <-chan struct{}
	closed     chan struct{}
	closeOnce  sync.Once
}

// View is one view of a zone.
type View struct {
	zone *Zone
	Name string
	snap atomic.Pointer[Snapshot]
	// Each source's records in this view are the contributions recorded in
	// the snapshot's RRsets. srcKeys counts the keys (name and type) each
	// source has records at; srcNames lists, for sources other than the
	// base, the names they have records at (with the number of keys there),
	// so that a small source is found without walking the zone.
	srcKeys  map[srcID]int
	srcNames map[srcID]map[string]int

	jFirst, jNext uint64 // journal sequence range [jFirst, jNext)
	jBytes        int
}

// Change is what subscribers hear after a committed change of a view.
type Change struct {
	View     *View
	Old, New *Snapshot
	Entry    *JournalEntry // nil for the initial load
}

// SourceOptions describe a source when it is added.
type SourceOptions struct {
	// Views the source contributes to when a change names none; nil: all.
	Views []string
	// Dynamic sources keep their records in the store across restarts and
	// reloads (ACME challenges, records set over UPDATE). A static source
	// supplies its whole content at every start (SetInitial).
	Dynamic bool
	// Base marks the source of the SOA and the zone's own data (zone file or
	// transfer from a primary). Exactly one source of a zone is the base.
	Base bool
	// Override: where this source has records of a name and type, they replace
	// those of non-override sources instead of joining them (a per-view file
	// that overrides the common zone file, for instance).
	Override bool
}

// Source is one contributor of records to a zone.
type Source struct {
	zone    *Zone
	Name    string
	id      srcID
	opts    SourceOptions
	initial map[string][]dns.RR
	// kept: views whose stored content of this source is its initial
	// content (a zone file unchanged since it was stored: SetInitialFile).
	kept map[string]bool
	// digest of the zone file the initial content was read from (nil: none).
	digest []byte
	metaMu sync.RWMutex
	meta   map[string][]byte
}

// New makes a zone that is not open yet: sources are added, then Open loads
// the stored state and the sources' initial content.
func New(cfg Config) *Zone {
	cfg.Origin = Fqdn(cfg.Origin)
	if len(cfg.Views) == 0 {
		cfg.Views = []string{DefaultView}
	}
	if cfg.JournalMaxEntries <= 0 {
		cfg.JournalMaxEntries = 1000
	}
	if cfg.JournalMaxBytes <= 0 {
		cfg.JournalMaxBytes = 64 << 20
	}
	if cfg.StateDir == "" {
		cfg.StateDir = "state"
	}
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	z := &Zone{cfg: cfg, Origin: cfg.Origin, views: map[string]*View{}, byName: map[string]*Source{}, tbl: newSrcTable(), closed: make(chan struct{})}
	for _, name := range cfg.Views {
		v := &View{zone: z, Name: name, srcKeys: map[srcID]int{}, srcNames: map[srcID]map[string]int{}}
		v.snap.Store(newSnapshot(cfg.Origin))
		z.views[name] = v
		z.viewNames = append(z.viewNames, name)
	}
	return z
}

// Config returns the zone's configuration.
func (z *Zone) Config() Config { return z.cfg }

// View returns the named view ("" is the default view), or nil.
func (z *Zone) View(name string) *View {
	if name == "" {
		return z.DefaultView()
	}
	return z.views[name]
}

// Views lists the zone's views in configuration order.
func (z *Zone) Views() []*View {
	out := make([]*View, len(z.viewNames))
	for i, n := range z.viewNames {
		out[i] = z.views[n]
	}
	return out
}

// ViewNames lists the names of the zone's views.
func (z *Zone) ViewNames() []string { return slices.Clone(z.viewNames) }

// Snapshot returns the current snapshot of the view.
func (v *View) Snapshot() *Snapshot { return v.snap.Load() }

// Zone returns the zone the view belongs to.
func (v *View) Zone() *Zone { return v.zone }

// HasData reports whether name has records of its own (not only names below
// it) in the named view: in the served snapshot once the zone is open;
// before Open, in the content the static sources staged for the view
// (SetInitial, e.g. the zone files), so that a source's Attach can choose
// the views it publishes in before anything is served.
func (z *Zone) HasData(view, name string) bool {
	v := z.views[view]
	if v == nil {
		return false
	}
	name = Fqdn(name)
	if z.opened.Load() {
		n := v.Snapshot().Node(name)
		return n != nil && !n.Empty()
	}
	for _, s := range z.sources {
		for _, rr := range s.initial[view] {
			if equalName(rr.Header().Name, name) {
				return true
			}
		}
		if s.kept[view] && z.storedHas(view, s.Name, name) {
			return true
		}
	}
	return false
}

// Subscribe registers fn to be called after every committed change of any view,
// in commit order. fn must not block and must not change the zone.
func (z *Zone) Subscribe(fn func(Change)) {
	z.subsMu.Lock()
	z.subs = append(z.subs, fn)
	z.subsMu.Unlock()
}

// AddSource registers a source. Sources are added before Open; their order is
// the order in which their records are merged (the base source first).
func (z *Zone) AddSource(name string, opts SourceOptions) (*Source, error) {
	if z.opened.Load() {
		return nil, fmt.Errorf("zone %s: source %q added after open", z.Origin, name)
	}
	if _, dup := z.byName[name]; dup {
		return nil, fmt.Errorf("zone %s: source %q configured twice", z.Origin, name)
	}
	for _, v := range opts.Views {
		if z.views[v] == nil {
			return nil, fmt.Errorf("zone %s: source %q: no view %q (views: %v)", z.Origin, name, v, z.viewNames)
		}
	}
	if opts.Base {
		for _, s := range z.sources {
			if s.opts.Base {
				return nil, fmt.Errorf("zone %s: two base sources (%q and %q): a zone has one zone file or primary", z.Origin, s.Name, name)
			}
		}
	}
	s := &Source{zone: z, Name: name, id: z.tbl.id(name), opts: opts, meta: map[string][]byte{}}
	if opts.Base {
		z.sources = append([]*Source{s}, z.sources...)
	} else {
		z.sources = append(z.sources, s)
	}
	z.byName[name] = s
	return s, nil
}

// Source returns the registered source of that name, or nil.
func (z *Zone) Source(name string) *Source { return z.byName[name] }

// Zone returns the source's zone.
func (s *Source) Zone() *Zone { return s.zone }

// views resolves the views a change applies to.
func (s *Source) views(explicit []string) ([]*View, error) {
	names := explicit
	if len(names) == 0 {
		names = s.opts.Views
	}
	if len(names) == 0 {
		names = s.zone.viewNames
	}
	out := make([]*View, 0, len(names))
	for _, n := range names {
		v := s.zone.views[n]
		if v == nil {
			return nil, fmt.Errorf("zone %s: no view %q", s.zone.Origin, n)
		}
		out = append(out, v)
	}
	return out, nil
}

// SetInitial stages the content a static source has at start, in the given
// views (nil: the source's views). Called before Open; calling it again for the
// same views adds to the staged content. The model keeps rrs until Open: the
// caller does not change it.
func (s *Source) SetInitial(views []string, rrs []dns.RR) error {
	vs, err := s.views(views)
	if err != nil {
		return err
	}
	if s.initial == nil {
		s.initial = map[string][]dns.RR{}
	}
	for _, v := range vs {
		if len(s.initial[v.Name]) == 0 {
			// Kept until Open, not copied (a zone file's records); the
			// length-capped slice makes a later call copy.
			s.initial[v.Name] = rrs[:len(rrs):len(rrs)]
			continue
		}
		s.initial[v.Name] = append(s.initial[v.Name], rrs...)
	}
	return nil
}

// Meta returns a copy of the source's stored metadata value for key, or nil.
func (s *Source) Meta(key string) []byte {
	s.metaMu.RLock()
	defer s.metaMu.RUnlock()
	return slices.Clone(s.meta[key])
}

// StoredMeta returns the metadata the named source has in the zone's store.
// Unlike Source.Meta it also works before Open, so that a source's Attach can
// stage its initial content from the state it stored before a restart.
func (z *Zone) StoredMeta(source string) (map[string][]byte, error) {
	var out map[string][]byte
	err := z.readStore(func(st *store) (err error) {
		out, err = st.be.sourceMeta(source)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("zone %s: %w", z.Origin, err)
	}
	return out, nil
}

// acquire returns the zone's shared store, opening it if needed.
func (z *Zone) acquire() (*store, error) {
	return acquireStore(z.cfg.StateDir, z.Origin, z.cfg.openStorage)
}

// MetaKeys lists the source's metadata keys, sorted.
func (s *Source) MetaKeys() []string {
	s.metaMu.RLock()
	defer s.metaMu.RUnlock()
	out := make([]string, 0, len(s.meta))
	for k := range s.meta {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Records returns the source's own records in a view (not merged with other
// sources), in canonical name order, then type order.
func (s *Source) Records(view string) []dns.RR {
	v := s.zone.View(view)
	if v == nil {
		return nil
	}
	s.zone.lockRead()
	defer s.zone.unlockRead()
	type set struct {
		key string
		t   uint16
		rrs []dns.RR
	}
	var sets []set
	v.eachKeyOf(s.id, func(k rrKey, rrs []dns.RR) {
		sets = append(sets, set{nameKey(k.name, s.zone.Origin), k.t, rrs})
	})
	slices.SortFunc(sets, func(a, b set) int {
		if c := strings.Compare(a.key, b.key); c != 0 {
			return c
		}
		return int(a.t) - int(b.t)
	})
	var out []dns.RR
	for _, x := range sets {
		out = append(out, x.rrs...)
	}
	return out
}

// eachKeyOf calls fn for every key at which source src has records in the
// view, with its records there: through the names index for small sources,
// by walking the snapshot for the base source.
func (v *View) eachKeyOf(src srcID, fn func(rrKey, []dns.RR)) {
	if v.srcKeys[src] == 0 {
		return
	}
	snap := v.Snapshot()
	if names, ok := v.srcNames[src]; ok && !v.zone.tbl.base[src] {
		for name := range names {
			if n := snap.Node(name); n != nil {
				for _, set := range n.Sets {
					if rrs := set.recsOf(src); len(rrs) > 0 {
						fn(rrKey{name, set.Type}, rrs)
					}
				}
			}
		}
		return
	}
	snap.Each(func(set *RRset) bool {
		if rrs := set.recsOf(src); len(rrs) > 0 {
			fn(rrKey{set.Name(), set.Type}, rrs)
		}
		return true
	})
}

func (z *Zone) lockRead() {
	if z.st != nil {
		z.st.mu.Lock()
	}
}

func (z *Zone) unlockRead() {
	if z.st != nil {
		z.st.mu.Unlock()
	}
}

// Replace sets the source's whole content in the given views (nil: the
// source's views) to rrs, as one change.
func (s *Source) Replace(views []string, rrs []dns.RR) error {
	return s.Update(views, func(tx *Tx) error {
		for _, v := range tx.views {
			tx.replaceView(v, s, rrs)
		}
		return nil
	})
}

// Update runs fn on a transaction of the source in the given views (nil: the
// source's views) and commits it: all or nothing. If fn returns an error,
// nothing is applied and that error is returned.
func (s *Source) Update(views []string, fn func(tx *Tx) error) error {
	z := s.zone
	if !z.opened.Load() {
		return ErrNotOpen
	}
	vs, err := s.views(views)
	if err != nil {
		return err
	}
	z.st.mu.Lock()
	defer z.st.mu.Unlock()
	if z.superseded.Load() {
		return ErrSuperseded
	}
	if err := z.st.writePending(); err != nil {
		return err
	}
	tx := newTx(s, vs)
	if err := fn(tx); err != nil {
		return err
	}
	return z.commit(tx)
}

// Open loads the zone's stored state, applies every source's initial content
// (dropping stored records of sources no longer configured) and makes the zone
// servable. A previous generation of the same zone stops accepting changes.
func (z *Zone) Open() error {
	if z.opened.Load() {
		return nil
	}
	st := z.takeHeld()
	if st == nil {
		var err error
		if st, err = z.acquire(); err != nil {
			return fmt.Errorf("zone %s: %w", z.Origin, err)
		}
	}
	st.mu.Lock()
	if err := st.writePending(); err != nil {
		// The previous generation's first load: this one loads its sources
		// again and stores them.
		z.cfg.Logf("%v; loading the zone's sources again", err)
		st.pending = nil
	}
	if err := z.openLocked(st); err != nil {
		st.pending = nil
		st.mu.Unlock()
		st.release()
		return fmt.Errorf("zone %s: %w", z.Origin, err)
	}
	if st.current != nil && st.current != z {
		st.current.superseded.Store(true)
		z.prevClosed = st.current.closed
	}
	st.current = z
	z.st = st
	z.opened.Store(true)
	if len(st.pending) > 0 {
		st.writeLater(z.cfg.Logf)
	}
	st.mu.Unlock()
	return nil
}

// Close releases the store (also one held by reads before Open); the zone
// accepts no more changes.
func (z *Zone) Close() {
	if st := z.takeHeld(); st != nil {
		st.release()
	}
	if !z.opened.Load() {
		return
	}
	z.superseded.Store(true)
	st := z.st
	st.mu.Lock()
	if err := st.writePending(); err != nil {
		z.cfg.Logf("%v; not stored: the next start loads the zone's sources again", err)
	}
	if st.current == z {
		st.current = nil
	}
	st.mu.Unlock()
	st.release()
	z.closeOnce.Do(func() { close(z.closed) })
}

// Opened reports whether the zone is open.
func (z *Zone) Opened() bool { return z.opened.Load() }

func (z *Zone) openLocked(st *store) error {
	stored, err := z.loadStored(st)
	if err != nil {
		return err
	}
	// Per view: rebuild what was served before, then apply the sources.
	var pend []*Tx
	for _, name := range z.viewNames {
		v, sv := z.views[name], stored[name]
		if err := z.restoreView(v, sv); err != nil {
			return fmt.Errorf("view %s: %w", name, err)
		}
		pend = append(pend, z.openTx(v, sv))
	}
	for _, tx := range pend {
		if err := z.commitOpen(st, tx); err != nil {
			return err
		}
	}
	for _, s := range z.sources {
		s.initial, s.kept = nil, nil
	}
	return nil
}

// loadStored reads the views' stored state and the sources' metadata, and
// numbers the stored sources.
func (z *Zone) loadStored(st *store) (map[string]*storedView, error) {
	stored, err := st.be.loadViews(z.Origin, z.viewNames)
	if err != nil {
		return nil, err
	}
	for _, s := range z.sources {
		meta, err := st.be.sourceMeta(s.Name)
		if err != nil {
			return nil, err
		}
		maps.Copy(s.meta, meta)
	}
	for _, name := range z.viewNames {
		for src := range stored[name].sources {
			z.tbl.id(src)
		}
	}
	z.tbl.rerank(z.sources)
	return stored, nil
}

// restoreView makes the view serve what it served before (its stored
// records, serial and model digest) and takes its journal bounds.
func (z *Zone) restoreView(v *View, sv *storedView) error {
	prev := newSnapshot(z.Origin)
	if sv.hasState {
		d, err := z.loadDelta(prev, sv)
		if err != nil {
			return fmt.Errorf("stored records: %w", err)
		}
		prev = d.b.finish(sv.serial)
		if sv.mdAlg != 0 && prev.soa != nil {
			// The digest it served: computed again, same serial.
			if _, _, err := z.setDigest(d.b, sv.mdAlg); err != nil {
				return fmt.Errorf("zone digest: %w", err)
			}
		}
		v.srcKeys, v.srcNames = d.keys, d.names
	}
	v.jFirst, v.jNext, v.jBytes = sv.jFirst, sv.jNext, sv.jBytes
	v.snap.Store(prev)
	return nil
}

// openTx is the Open-time transaction of a view: stored records of sources
// no longer configured go, static sources whose content changed (or was
// never stored) replace theirs.
func (z *Zone) openTx(v *View, sv *storedView) *Tx {
	tx := newTx(nil, []*View{v})
	tx.open = true
	tx.rewrite = sv.hasState && sv.oldLayout && len(sv.sources) > 0
	tx.redigest = sv.mdAlg != z.cfg.Digest
	tx.fresh = !sv.hasState && len(sv.sources) == 0
	z.adoptBase(tx, v, sv)
	for src := range sv.sources {
		if z.byName[src] == nil {
			tx.dropSource(v, z.tbl.id(src))
		}
	}
	for _, s := range z.sources {
		if s.opts.Dynamic {
			continue
		}
		if s.kept[v.Name] && sv.hasState && bytes.Equal(sv.digests[s.Name], s.digest) {
			continue
		}
		tx.replaceView(v, s, s.initial[v.Name])
		delete(s.initial, v.Name) // staged in the transaction (a copy)
		if tx.digests == nil {
			tx.digests = map[srcID][]byte{}
		}
		tx.digests[s.id] = s.digest
	}
	return tx
}

// loadDelta builds a view's content from its stored records, in one ordered
// pass (the store holds them in canonical order).
func (z *Zone) loadDelta(empty *Snapshot, sv *storedView) (*delta, error) {
	w := &walker{z: z, origin: z.Origin, cur: empty, load: true, md: sv.mdAlg != 0, l: newLoader(),
		d: &delta{ops: map[srcID]*srcOps{}, keys: map[srcID]int{}, names: map[srcID]map[string]int{}}}
	for src, recs := range sv.sources {
		w.streams = append(w.streams, &stream{src: z.tbl.id(src), st: &stage{}, chgs: recs})
	}
	slices.SortFunc(w.streams, func(a, b *stream) int { return int(a.src) - int(b.src) })
	return w.run()
}

// adoptBase handles a zone whose base source changed from static to dynamic
// (a zone file replaced by a primary, on a server that becomes a secondary):
// while the dynamic base has nothing stored in the view, it adopts the stored
// records of the source no longer configured that held the SOA, so the zone
// keeps serving its last data (same serial, nothing journaled) until the base
// source replaces it.
func (z *Zone) adoptBase(tx *Tx, v *View, sv *storedView) {
	var base *Source
	for _, s := range z.sources {
		if s.opts.Base {
			base = s
		}
	}
	if base == nil || !base.opts.Dynamic || len(sv.sources[base.Name]) > 0 {
		return
	}
	apex := v.Snapshot().Apex()
	for name, recs := range sv.sources {
		if z.byName[name] != nil || len(recs) == 0 {
			continue
		}
		if apex == nil || apex.Get(dns.TypeSOA).recsOf(z.tbl.id(name)) == nil {
			continue
		}
		var rrs []dns.RR
		for _, c := range recs {
			rrs = append(rrs, c.rrs...)
		}
		st := tx.stage(v, base.id)
		*st = stage{cleared: true, bulk: rrs}
		z.cfg.Logf("zone %s view %s: source %q adopts the stored records of %q until it has its own", z.Origin, v.Name, base.Name, name)
		return
	}
}

func beU64(b []byte) uint64 {
	var v uint64
	for _, c := range b {
		v = v<<8 | uint64(c)
	}
	return v
}

// storedDigests reports whether the store holds, in every one of views, the
// records of source from a zone file with this digest.
func (z *Zone) storedDigests(source string, views []*View, digest []byte) bool {
	if !z.mayHaveState() {
		return false // nothing stored (and nothing to create before Open)
	}
	ok := true
	err := z.readStore(func(st *store) error {
		for _, v := range views {
			ok = ok && st.be.hasDigest(v.Name, source, digest)
		}
		return nil
	})
	return err == nil && ok
}

// mayHaveState reports whether the zone may have stored state: false when
// the state directory's database does not hold it (statedb.go).
func (z *Zone) mayHaveState() bool {
	if z.cfg.openStorage != nil {
		return true
	}
	return mayHoldZone(z.cfg.StateDir, z.Origin)
}

// storedHas reports whether the store holds records of source at name in
// view (for HasData before Open, when a source keeps its stored records).
func (z *Zone) storedHas(view, source, name string) bool {
	if !InZone(name, z.Origin) {
		return false
	}
	found := false
	z.readStore(func(st *store) error {
		found = st.be.hasRecords(view, source, nameKey(name, z.Origin))
		return nil
	})
	return found
}
