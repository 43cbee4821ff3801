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
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/miekg/dns"
	bolt "go.etcd.io/bbolt"
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
}

// Zone is one zone of one configuration generation.
type Zone struct {
	cfg    Config
	Origin string

	views     map[string]*View
	viewNames []string
	sources   []*Source
	byName    map[string]*Source

	st         *store
	opened     atomic.Bool
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
	// content holds each source's records in this view, by source name.
	content map[string]map[rrKey][]dns.RR

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
	opts    SourceOptions
	initial map[string][]dns.RR
	metaMu  sync.RWMutex
	meta    map[string][]byte
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
	z := &Zone{cfg: cfg, Origin: cfg.Origin, views: map[string]*View{}, byName: map[string]*Source{}, closed: make(chan struct{})}
	for _, name := range cfg.Views {
		v := &View{zone: z, Name: name, content: map[string]map[rrKey][]dns.RR{}}
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
	s := &Source{zone: z, Name: name, opts: opts, meta: map[string][]byte{}}
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
// same views replaces the staged content.
func (s *Source) SetInitial(views []string, rrs []dns.RR) error {
	vs, err := s.views(views)
	if err != nil {
		return err
	}
	if s.initial == nil {
		s.initial = map[string][]dns.RR{}
	}
	for _, v := range vs {
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
	st, err := acquireStore(storePath(z.cfg.StateDir, z.Origin))
	if err != nil {
		return nil, fmt.Errorf("zone %s: %w", z.Origin, err)
	}
	defer st.release()
	out := map[string][]byte{}
	err = st.db.View(func(tx *bolt.Tx) error {
		mb := tx.Bucket(bSrcMeta)
		if mb == nil {
			return nil
		}
		sb := mb.Bucket([]byte(source))
		if sb == nil {
			return nil
		}
		return sb.ForEach(func(k, v []byte) error {
			out[string(k)] = slices.Clone(v)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("zone %s: reading %s: %w", z.Origin, st.path, err)
	}
	return out, nil
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
// sources), in name/type order.
func (s *Source) Records(view string) []dns.RR {
	v := s.zone.View(view)
	if v == nil {
		return nil
	}
	s.zone.lockRead()
	defer s.zone.unlockRead()
	c := v.content[s.Name]
	keys := make([]rrKey, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	sortKeys(keys)
	var out []dns.RR
	for _, k := range keys {
		out = append(out, c[k]...)
	}
	return out
}

func sortKeys(keys []rrKey) {
	sort.Slice(keys, func(i, j int) bool {
		if c := CanonicalCompare(keys[i].name, keys[j].name); c != 0 {
			return c < 0
		}
		return keys[i].t < keys[j].t
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
	st, err := acquireStore(storePath(z.cfg.StateDir, z.Origin))
	if err != nil {
		return fmt.Errorf("zone %s: %w", z.Origin, err)
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if err := z.openLocked(st); err != nil {
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
	return nil
}

// Close releases the store; the zone accepts no more changes.
func (z *Zone) Close() {
	if !z.opened.Load() {
		return
	}
	z.superseded.Store(true)
	st := z.st
	st.mu.Lock()
	if st.current == z {
		st.current = nil
	}
	st.mu.Unlock()
	st.release()
	z.closeOnce.Do(func() { close(z.closed) })
}

// Opened reports whether the zone is open.
func (z *Zone) Opened() bool { return z.opened.Load() }

type storedView struct {
	serial   uint32
	hasState bool
	digest   uint8 // hash algorithm of the model's ZONEMD it served, 0: none
	content  map[string]map[rrKey][]dns.RR
	jFirst   uint64
	jNext    uint64
	jBytes   int
}

func (z *Zone) openLocked(st *store) error {
	stored := map[string]*storedView{}
	err := st.db.View(func(tx *bolt.Tx) error {
		for _, name := range z.viewNames {
			sv := &storedView{content: map[string]map[rrKey][]dns.RR{}}
			stored[name] = sv
			b, err := viewBucket(tx, name)
			if err != nil || b == nil {
				continue
			}
			if v := b.Bucket(bMeta).Get(kSerial); len(v) == 4 {
				sv.serial = uint32(v[0])<<24 | uint32(v[1])<<16 | uint32(v[2])<<8 | uint32(v[3])
				sv.hasState = true
			}
			if v := b.Bucket(bMeta).Get(kDigest); len(v) == 1 {
				sv.digest = v[0]
			}
			c := b.Bucket(bJournal).Cursor()
			if k, _ := c.First(); k != nil {
				sv.jFirst = beU64(k)
			}
			if k, _ := c.Last(); k != nil {
				sv.jNext = beU64(k) + 1
			}
			if sv.jNext == 0 {
				if v := b.Bucket(bMeta).Get(kSeq); len(v) == 8 {
					sv.jFirst, sv.jNext = beU64(v), beU64(v)
				}
			}
			b.Bucket(bJournal).ForEach(func(_, v []byte) error { sv.jBytes += len(v); return nil })
			err = b.Bucket(bSrc).ForEach(func(srcName, _ []byte) error {
				sb := b.Bucket(bSrc).Bucket(srcName)
				m := map[rrKey][]dns.RR{}
				err := sb.ForEach(func(k, v []byte) error {
					key, err := parseKey(k)
					if err != nil {
						return err
					}
					rrs, err := unpackRRs(v)
					if err != nil {
						return fmt.Errorf("stored records of %s/%d: %w", key.name, key.t, err)
					}
					m[key] = rrs
					return nil
				})
				sv.content[string(srcName)] = m
				return err
			})
			if err != nil {
				return err
			}
		}
		if mb := tx.Bucket(bSrcMeta); mb != nil {
			for _, s := range z.sources {
				if sb := mb.Bucket([]byte(s.Name)); sb != nil {
					sb.ForEach(func(k, v []byte) error { s.meta[string(k)] = slices.Clone(v); return nil })
				}
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("reading %s: %w", st.path, err)
	}

	// Per view: rebuild what was served before, then apply the sources.
	type pending struct {
		v    *View
		prev *Snapshot
		tx   *Tx
	}
	var pend []pending
	for _, name := range z.viewNames {
		v := z.views[name]
		sv := stored[name]
		prev := newSnapshot(z.Origin)
		if sv.hasState {
			keys := map[rrKey]bool{}
			srcOrder := make([]string, 0, len(sv.content))
			for s, m := range sv.content {
				srcOrder = append(srcOrder, s)
				for k := range m {
					keys[k] = true
				}
			}
			sort.Slice(srcOrder, func(i, j int) bool { return z.srcRank(srcOrder[i]) < z.srcRank(srcOrder[j]) })
			b := prev.edit()
			for k := range keys {
				if sv.digest != 0 && k == z.digestKey() {
					continue
				}
				b.set(k.name, k.t, z.mergeKey(sv.content, srcOrder, k))
			}
			prev = b.finish(sv.serial)
			if sv.digest != 0 && prev.soa != nil {
				// The digest it served: computed again, same serial.
				if _, _, err := z.setDigest(b, sv.digest, nil); err != nil {
					return fmt.Errorf("view %s: zone digest: %w", name, err)
				}
			}
		}
		v.content = sv.content
		v.jFirst, v.jNext, v.jBytes = sv.jFirst, sv.jNext, sv.jBytes
		v.snap.Store(prev)

		tx := newTx(nil, []*View{v})
		tx.open = true
		tx.redigest = sv.digest != z.cfg.Digest
		z.adoptBase(tx, v, sv.content)
		for srcName := range sv.content {
			if z.byName[srcName] == nil {
				tx.dropSource(v, srcName)
			}
		}
		for _, s := range z.sources {
			if s.opts.Dynamic {
				continue
			}
			tx.src = s
			tx.replaceView(v, s, s.initial[name])
		}
		tx.src = nil
		pend = append(pend, pending{v, prev, tx})
	}
	for _, p := range pend {
		if err := z.commitOpen(st, p.tx); err != nil {
			return err
		}
	}
	for _, s := range z.sources {
		s.initial = nil
	}
	return nil
}

// adoptBase handles a zone whose base source changed from static to dynamic
// (a zone file replaced by a primary, on a server that becomes a secondary):
// while the dynamic base has nothing stored in the view, it adopts the stored
// records of the source no longer configured that held the SOA, so the zone
// keeps serving its last data (same serial, nothing journaled) until the base
// source replaces it.
func (z *Zone) adoptBase(tx *Tx, v *View, content map[string]map[rrKey][]dns.RR) {
	var base *Source
	for _, s := range z.sources {
		if s.opts.Base {
			base = s
		}
	}
	if base == nil || !base.opts.Dynamic || len(content[base.Name]) > 0 {
		return
	}
	soa := rrKey{z.Origin, dns.TypeSOA}
	for name, m := range content {
		if z.byName[name] != nil || len(m[soa]) == 0 {
			continue
		}
		for k, rrs := range m {
			tx.put(v, base.Name, k, rrs)
		}
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

// srcRank orders sources for merging: registered sources in their order, then
// unknown (stored, no longer configured) ones by name.
func (z *Zone) srcRank(name string) int {
	for i, s := range z.sources {
		if s.Name == name {
			return i
		}
	}
	return len(z.sources)
}

// mergeKey is the served RRset at key: the union of every source's records, in
// source order, duplicates removed, all with the TTL of the first record.
func (z *Zone) mergeKey(content map[string]map[rrKey][]dns.RR, order []string, k rrKey) []dns.RR {
	return z.merge(order, k, func(s string) []dns.RR { return content[s][k] })
}

// merge computes the served records at k from the sources in order, get
// returning a source's records there.
func (z *Zone) merge(order []string, k rrKey, get func(string) []dns.RR) []dns.RR {
	override := false
	for _, s := range order {
		if src := z.byName[s]; src != nil && src.opts.Override && len(get(s)) > 0 {
			override = true
			break
		}
	}
	var out []dns.RR
	shared := true
	for _, s := range order {
		if override {
			if src := z.byName[s]; src == nil || !src.opts.Override {
				continue
			}
		}
		rrs := get(s)
		if len(rrs) == 0 {
			continue
		}
		if out == nil {
			out = rrs
			continue
		}
		for _, rr := range rrs {
			if !containsRdata(out, rr) {
				if shared {
					out = slices.Clone(out)
					shared = false
				}
				out = append(out, rr)
			}
		}
	}
	if len(out) < 2 {
		return out
	}
	ttl := out[0].Header().Ttl
	for i, rr := range out {
		if rr.Header().Ttl != ttl {
			if shared {
				out = slices.Clone(out)
				shared = false
			}
			c := dns.Copy(rr)
			c.Header().Ttl = ttl
			out[i] = c
		}
	}
	return out
}

func containsRdata(set []dns.RR, rr dns.RR) bool {
	for _, x := range set {
		if dns.IsDuplicate(x, rr) {
			return true
		}
	}
	return false
}

// sameRRs reports whether two record lists hold the same records with the same
// TTLs, in any order.
func sameRRs(a, b []dns.RR) bool {
	if len(a) != len(b) {
		return false
	}
	for _, x := range a {
		found := false
		for _, y := range b {
			if dns.IsDuplicate(x, y) && x.Header().Ttl == y.Header().Ttl {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// sourceOrder returns the names of sources with content in the view, merge
// order.
func (z *Zone) sourceOrder(content map[string]map[rrKey][]dns.RR) []string {
	out := make([]string, 0, len(content))
	for s := range content {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool {
		ri, rj := z.srcRank(out[i]), z.srcRank(out[j])
		if ri != rj {
			return ri < rj
		}
		return out[i] < out[j]
	})
	return out
}
