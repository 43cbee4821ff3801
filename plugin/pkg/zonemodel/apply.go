package zonemodel

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/miekg/dns"
)

// delta is what a transaction changes in one view: the new content (to be
// finished with its serial), the served differences and what the store must
// write.
type delta struct {
	b          *builder
	changed    bool // anything changed: served records or who contributed them
	served     bool // served records changed (besides the SOA)
	del, add   []dns.RR
	soaChanged bool
	first      bool
	baseSerial uint32
	ops        map[srcID]*srcOps
	// Bulk deltas count every source's keys (and the indexed sources'
	// names) in the new content; incremental ones adjust by their ops.
	keys  map[srcID]int
	names map[srcID]map[string]int
}

// srcOps is what the store writes for one source in one view.
type srcOps struct {
	drop    bool      // the source is gone: its stored records go
	rewrite bool      // many changes: rewrite the source's records from the snapshot
	written bool      // rewritten already, before the commit (a first load)
	ops     []storeOp // else the changed keys, in key order
	n       int       // how many keys changed
}

// storeOp is one changed key of a source.
type storeOp struct {
	key  string // canonical key of the name
	name string
	t    uint16
	had  bool     // the source had records there before
	rrs  []dns.RR // its records now (none: removed)
}

func (d *delta) op(src srcID, o storeOp, maxOps int) {
	so := d.ops[src]
	if so == nil {
		so = &srcOps{}
		d.ops[src] = so
	}
	so.n++
	if so.rewrite {
		return
	}
	if maxOps > 0 && len(so.ops) >= maxOps {
		so.rewrite, so.ops = true, nil
		return
	}
	so.ops = append(so.ops, o)
}

// diff appends the records of old missing from new to del and those of new
// missing from old to add.
func (d *delta) diff(old, new []dns.RR) {
	for _, rr := range old {
		if !containsExact(new, rr) {
			d.del = append(d.del, rr)
		}
	}
	for _, rr := range new {
		if !containsExact(old, rr) {
			d.add = append(d.add, rr)
		}
	}
}

// testPath makes tests take one way of applying changes.
var testPath int

const (
	pathAuto = iota
	pathIncremental
	pathBulk
)

// bulkChange decides how a transaction is applied to a view: in one ordered
// pass over the whole view (a zone file load or reload, a zone transfer: the
// change is a good part of the view) or name by name (O(k log n)).
func bulkChange(cur *Snapshot, v *View, stages map[srcID]*stage) bool {
	switch testPath {
	case pathIncremental:
		return false
	case pathBulk:
		return true
	}
	n := 0
	for src, st := range stages {
		n += len(st.edits) + len(st.bulk)
		if st.cleared {
			n += v.srcKeys[src]
		}
	}
	return n > 256 && n*8 > cur.tree.Len()
}

// soaRules checks the apex SOA the contributions give and whether it changes
// what is served; d records the base serial.
func soaRules(d *delta, cur *Snapshot, merged []dns.RR, staged bool, origin string) (changed bool, err error) {
	if len(merged) > 1 {
		return false, fmt.Errorf("%d SOA records at %s; a zone has one", len(merged), origin)
	}
	if len(merged) == 0 {
		if cur.soa != nil && staged {
			return false, fmt.Errorf("the SOA record of %s would be removed", origin)
		}
		return false, nil
	}
	ns := merged[0].(*dns.SOA)
	d.baseSerial = ns.Serial
	if cur.soa == nil {
		d.first = true
		return true, nil
	}
	os := cur.soa.RRs[0].(*dns.SOA)
	return !sameSOA(os, ns) || SerialGreater(ns.Serial, os.Serial), nil
}

// soaSet is the new apex SOA set: the merged record when the served SOA
// changes (finish puts the serial in), else the served one with the new
// contributions.
func soaSet(old *RRset, merged []dns.RR, c []srcRecs, changed bool, origin string) *RRset {
	rrs := merged
	if !changed && old != nil {
		rrs = old.RRs
	}
	set := &RRset{Type: dns.TypeSOA, RRs: rrs}
	set.setContribs(c)
	return set
}

// contributions gathers the records of every source at one name and type
// after the transaction: the old set's contributors that were not staged,
// and each staged source's new records (rrsOf). c is a buffer to append to.
func contributions(c []srcRecs, old *RRset, stages map[srcID]*stage, rrsOf func(srcID, *stage) ([]dns.RR, bool)) []srcRecs {
	if old != nil {
		old.eachContrib(func(s srcID, rrs []dns.RR) {
			if stages[s] == nil {
				c = append(c, srcRecs{s, rrs})
			}
		})
	}
	for s, st := range stages {
		rrs, ok := rrsOf(s, st)
		if !ok {
			rrs = old.recsOf(s)
		}
		if len(rrs) > 0 {
			c = append(c, srcRecs{s, rrs})
		}
	}
	return c
}

// sameAsSet reports whether contributions c are those of set.
func sameAsSet(set *RRset, c []srcRecs) bool {
	if set == nil {
		return len(c) == 0
	}
	if set.srcs == nil {
		return len(c) == 1 && c[0].src == set.src && (sameSlice(c[0].rrs, set.RRs) || sameRRs(c[0].rrs, set.RRs))
	}
	return sameContribs(*set.srcs, c)
}

// incDelta applies the staged edits name by name to a copy of cur that
// shares everything else.
func (z *Zone) incDelta(v *View, cur *Snapshot, stages map[srcID]*stage) (*delta, error) {
	keys, soaStaged, err := z.stagedKeys(v, stages)
	if err != nil {
		return nil, err
	}
	p := &incPass{z: z, cur: cur, stages: stages, soaStaged: soaStaged,
		d: &delta{b: cur.edit(), ops: map[srcID]*srcOps{}}}
	for _, x := range keys {
		if err := p.key(x); err != nil {
			return nil, err
		}
	}
	d := p.d
	if d.served || d.soaChanged {
		for _, name := range p.names {
			if n := d.b.tb.t.get(nameKey(name, z.Origin)); n != nil {
				if err := validateNode(n, z.Origin); err != nil {
					return nil, err
				}
			}
		}
	}
	return d, nil
}

// stagedKey is a key the staged edits touch, with its canonical name key.
type stagedKey struct {
	ck string
	k  rrKey
}

// stagedKeys lists the keys the stages touch (and the apex SOA) in
// canonical order; soaStaged tells whether a stage touches the SOA.
func (z *Zone) stagedKeys(v *View, stages map[srcID]*stage) (keys []stagedKey, soaStaged bool, err error) {
	origin := z.Origin
	seen := map[rrKey]bool{}
	add := func(k rrKey) {
		if seen[k] || err != nil {
			return
		}
		seen[k] = true
		if !InZone(k.name, origin) {
			err = fmt.Errorf("%s/%s is outside zone %s", k.name, dns.TypeToString[k.t], origin)
			return
		}
		keys = append(keys, stagedKey{nameKey(k.name, origin), k})
	}
	soaKey := rrKey{origin, dns.TypeSOA}
	for src, st := range stages {
		st.fold()
		for k := range st.edits {
			add(k)
			soaStaged = soaStaged || k == soaKey
		}
		if st.cleared {
			v.eachKeyOf(src, func(k rrKey, _ []dns.RR) {
				add(k)
				soaStaged = soaStaged || k == soaKey
			})
		}
	}
	add(soaKey)
	if err != nil {
		return nil, false, err
	}
	slices.SortFunc(keys, func(a, b stagedKey) int {
		if c := strings.Compare(a.ck, b.ck); c != 0 {
			return c
		}
		return cmp.Compare(a.k.t, b.k.t)
	})
	return keys, soaStaged, nil
}

// incPass is the state of incDelta's pass over the staged keys.
type incPass struct {
	z         *Zone
	cur       *Snapshot
	stages    map[srcID]*stage
	soaStaged bool
	d         *delta
	names     []string // names whose served data changed
	cbuf      []srcRecs
}

// key applies the stages at one key.
func (p *incPass) key(x stagedKey) error {
	origin, tbl, d := p.z.Origin, p.z.tbl, p.d
	k := x.k
	soaKey := rrKey{origin, dns.TypeSOA}
	if k.t == dns.TypeSOA && k != soaKey {
		return fmt.Errorf("SOA record at %s, not at the zone apex %s", k.name, origin)
	}
	var old *RRset
	if n := p.cur.tree.get(x.ck); n != nil {
		old = n.Get(k.t)
	}
	rrsOf := func(_ srcID, st *stage) ([]dns.RR, bool) {
		if rrs, ok := st.edits[k]; ok {
			return rrs, true
		}
		return nil, st.cleared
	}
	c := contributions(p.cbuf[:0], old, p.stages, rrsOf)
	p.cbuf = c
	tbl.sortContribs(c)
	for src, st := range p.stages {
		nr, ok := rrsOf(src, st)
		if !ok {
			continue
		}
		if or := old.recsOf(src); !sameRRs(or, nr) {
			d.op(src, storeOp{key: x.ck, name: k.name, t: k.t, had: len(or) > 0, rrs: nr}, 0)
		}
	}
	if k == soaKey {
		return p.soa(old, c)
	}
	if sameAsSet(old, c) {
		return nil
	}
	d.changed = true
	if p.z.modelDigest(k) {
		// The sources' records there are only remembered (digest.go).
		d.b.put(k.name, x.ck, k.t, modelSet(old, c, tbl))
		return nil
	}
	merged := tbl.merge(c)
	var oldRRs []dns.RR
	if old != nil {
		oldRRs = old.RRs
	}
	if !sameRRs(oldRRs, merged) {
		d.served = true
		d.diff(oldRRs, merged)
		p.names = append(p.names, k.name)
	}
	if len(merged) == 0 {
		d.b.put(k.name, x.ck, k.t, nil)
	} else {
		set := &RRset{Type: k.t, RRs: merged}
		set.setContribs(c)
		d.b.put(k.name, x.ck, k.t, set)
	}
	return nil
}

// soa applies the stages at the apex SOA.
func (p *incPass) soa(old *RRset, c []srcRecs) error {
	origin, d := p.z.Origin, p.d
	merged := p.z.tbl.merge(c)
	changed, err := soaRules(d, p.cur, merged, p.soaStaged, origin)
	if err != nil {
		return err
	}
	d.soaChanged = changed
	if changed || !sameAsSet(old, c) {
		d.changed = true
		d.b.put(origin, "", dns.TypeSOA, soaSet(old, merged, c, changed, origin))
		if changed {
			p.names = append(p.names, origin)
		}
	}
	return nil
}

// validateNode checks the rules that make data unservable at a name: CNAME
// beside other data (RFC 1034 §3.6.2, RFC 2181 §10.1), more than one CNAME or
// DNAME, CNAME at the apex.
func validateNode(n *Node, origin string) error {
	name := n.Name
	if cn := n.Get(dns.TypeCNAME); cn != nil {
		if len(cn.RRs) > 1 {
			return fmt.Errorf("%d CNAME records at %s; a name has at most one", len(cn.RRs), name)
		}
		if name == origin {
			return fmt.Errorf("CNAME at the zone apex %s", name)
		}
		for _, set := range n.Sets {
			switch set.Type {
			case dns.TypeCNAME, dns.TypeRRSIG, dns.TypeNSEC:
			default:
				return fmt.Errorf("CNAME and other data (%s) at %s", dns.TypeToString[set.Type], name)
			}
		}
	}
	if dn := n.Get(dns.TypeDNAME); dn != nil && len(dn.RRs) > 1 {
		return fmt.Errorf("%d DNAME records at %s; a name has at most one", len(dn.RRs), name)
	}
	return nil
}

// chg is one staged change of a source at a key, for the ordered pass.
type chg struct {
	key string
	t   uint16
	rrs []dns.RR
}

func compareChg(a, b chg) int {
	if c := strings.Compare(a.key, b.key); c != 0 {
		return c
	}
	return cmp.Compare(a.t, b.t)
}

// stageChanges lists a stage's changes in key order.
func stageChanges(origin string, st *stage) ([]chg, error) {
	if len(st.bulk) > 0 {
		return groupBulk(origin, st.bulk, st.bulkAdd)
	}
	out := make([]chg, 0, len(st.edits))
	for k, rrs := range st.edits {
		if !InZone(k.name, origin) {
			return nil, fmt.Errorf("%s/%s is outside zone %s", k.name, dns.TypeToString[k.t], origin)
		}
		out = append(out, chg{nameKey(k.name, origin), k.t, rrs})
	}
	slices.SortFunc(out, compareChg)
	return out, nil
}

// groupBulk sorts records (in place) into key order and groups them into
// sets, duplicates removed: a later duplicate replaces an earlier one when
// replace is set, else it is dropped. Input already in order (a zone file
// read by ParseZone, a transfer, the store) is not sorted again. The sets
// are slices of recs (no allocation per set).
func groupBulk(origin string, recs []dns.RR, replace bool) ([]chg, error) {
	// An ordered pass that found them out of order left the duplicates it
	// had removed as holes.
	recs = slices.DeleteFunc(recs, func(rr dns.RR) bool { return rr == nil })
	keys := make([]string, len(recs))
	sorted := true
	prevName, prevKey := "", ""
	for i, rr := range recs {
		h := rr.Header()
		if i == 0 || h.Name != prevName {
			if !InZone(h.Name, origin) {
				return nil, fmt.Errorf("%s/%s is outside zone %s", h.Name, dns.TypeToString[h.Rrtype], origin)
			}
			k := nameKey(h.Name, origin)
			if k == prevKey {
				k = prevKey
			}
			prevName, prevKey = h.Name, k
		}
		keys[i] = prevKey
		if i > 0 && sorted {
			if c := strings.Compare(keys[i-1], keys[i]); c > 0 || (c == 0 && recs[i-1].Header().Rrtype > h.Rrtype) {
				sorted = false
			}
		}
	}
	if !sorted {
		idx := make([]int32, len(recs))
		for i := range idx {
			idx[i] = int32(i)
		}
		slices.SortStableFunc(idx, func(a, b int32) int {
			if c := strings.Compare(keys[a], keys[b]); c != 0 {
				return c
			}
			return cmp.Compare(recs[a].Header().Rrtype, recs[b].Header().Rrtype)
		})
		nr, nk := make([]dns.RR, len(recs)), make([]string, len(recs))
		for i, j := range idx {
			nr[i], nk[i] = recs[j], keys[j]
		}
		copy(recs, nr)
		keys = nk
	}
	out := make([]chg, 0, len(recs))
	for i := 0; i < len(recs); {
		t := recs[i].Header().Rrtype
		j := i + 1
		for j < len(recs) && keys[j] == keys[i] && recs[j].Header().Rrtype == t {
			j++
		}
		w := dedupe(recs, i, j, replace)
		out = append(out, chg{keys[i], t, recs[i:w:w]})
		i = j
	}
	return out, nil
}

// stream is one staged source's changes during the ordered pass, in key
// order: a list (edits, unsorted records grouped by groupBulk, stored
// records), or records already in key order (a zone file read by ParseZone,
// a transfer) grouped as the pass goes, without a list.
type stream struct {
	src     srcID
	st      *stage
	maxOps  int
	cleared bool

	chgs []chg
	pos  int

	recs    []dns.RR // lazy: the records, grouped in place from rpos on
	rpos    int
	replace bool // lazy: a later duplicate replaces an earlier one
	origin  string
	next    chg // lazy: the group at rpos (valid when ready)
	ready   bool
	keyName string // lazy: the name the last key was made for
	err     error  // lazy: records out of order, or outside the zone

	here []chg // the changes at the walker's current name
}

// peek returns the stream's next change.
func (s *stream) peek() (chg, bool) {
	if s.recs == nil {
		if s.pos < len(s.chgs) {
			return s.chgs[s.pos], true
		}
		return chg{}, false
	}
	if !s.ready {
		s.group()
	}
	return s.next, s.ready
}

// pop moves past the change peek returned.
func (s *stream) pop() {
	if s.recs == nil {
		s.pos++
		return
	}
	s.ready = false
}

// group makes the next group of the lazy records: the records at rpos with
// its name and type, duplicates removed in place.
func (s *stream) group() {
	recs := s.recs
	i := s.rpos
	if i >= len(recs) || s.err != nil {
		return
	}
	h := recs[i].Header()
	key := s.next.key
	if h.Name != s.keyName || i == 0 {
		if !InZone(h.Name, s.origin) {
			s.err = fmt.Errorf("%s/%s is outside zone %s", h.Name, dns.TypeToString[h.Rrtype], s.origin)
			return
		}
		key, s.keyName = nameKey(h.Name, s.origin), h.Name
	}
	if i > 0 {
		if c := strings.Compare(s.next.key, key); c > 0 || (c == 0 && s.next.t >= h.Rrtype) {
			s.err = errUnsorted
			return
		}
	}
	t := h.Rrtype
	j := i + 1
	for j < len(recs) && recs[j].Header().Rrtype == t && recs[j].Header().Name == h.Name {
		j++
	}
	w := dedupe(recs, i, j, s.replace)
	s.next, s.ready, s.rpos = chg{key, t, recs[i:w:w]}, true, j
}

// errUnsorted stops an ordered pass over records that are not in key order
// after all: they are sorted and the pass made again.
var errUnsorted = errors.New("records not in canonical order")

// dedupe removes duplicates from recs[i:j] in place (a later one replaces
// an earlier one when replace is set, else it is dropped) and returns the
// end of the kept records; the slots after it are cleared.
func dedupe(recs []dns.RR, i, j int, replace bool) int {
	w := i + 1
	for r := i + 1; r < j; r++ {
		dup := -1
		for x := i; x < w; x++ {
			if dns.IsDuplicate(recs[x], recs[r]) {
				dup = x
				break
			}
		}
		switch {
		case dup < 0:
			recs[w] = recs[r]
			w++
		case replace:
			recs[dup] = recs[r]
		}
	}
	clear(recs[w:j])
	return w
}

// walker applies staged changes to a view in one ordered pass over its
// names, merging the old tree with the sorted changes into a new tree built
// bottom-up (O(n)). Unchanged nodes and sets are reused.
type walker struct {
	z       *Zone
	origin  string
	cur     *Snapshot
	stages  map[srcID]*stage
	streams []*stream
	load    bool // loading the store: no differences, no store operations
	md      bool // the model makes the apex ZONEMD (digest.go)
	l       *tloader
	path    []string // keys of the emitted ancestors of the position
	d       *delta
	snap    Snapshot // counters of the new content
	err     error
	// buffers reused from name to name
	sets  []*RRset
	cbuf  []srcRecs
	types []uint16
}

func (z *Zone) bulkDelta(v *View, cur *Snapshot, stages map[srcID]*stage, load bool) (*delta, error) {
	w := &walker{z: z, origin: z.Origin, cur: cur, stages: stages, load: load, md: z.cfg.Digest != 0, l: newLoader(),
		d: &delta{ops: map[srcID]*srcOps{}, keys: map[srcID]int{}, names: map[srcID]map[string]int{}}}
	for src, st := range stages {
		old := 0
		if v != nil {
			old = v.srcKeys[src]
		}
		s := &stream{src: src, st: st, cleared: st.cleared, maxOps: max(4096, old/4), origin: z.Origin}
		if len(st.bulk) > 0 {
			s.recs, s.replace = st.bulk, st.bulkAdd
		} else {
			var err error
			if s.chgs, err = stageChanges(z.Origin, st); err != nil {
				return nil, err
			}
		}
		w.streams = append(w.streams, s)
		if st.drop {
			w.d.ops[src] = &srcOps{drop: true}
		}
	}
	slices.SortFunc(w.streams, func(a, b *stream) int { return cmp.Compare(a.src, b.src) })
	d, err := w.run()
	if err != errUnsorted {
		return d, err
	}
	// Records out of key order: sorted and grouped first, and again.
	for _, s := range w.streams {
		if s.recs != nil {
			if s.chgs, err = groupBulk(z.Origin, s.st.bulk, s.replace); err != nil {
				return nil, err
			}
			s.recs = nil
		}
	}
	w.restart()
	return w.run()
}

// restart makes the walker ready for a new pass over the same streams.
func (w *walker) restart() {
	w.l, w.path, w.snap, w.err = newLoader(), nil, Snapshot{}, nil
	ops := map[srcID]*srcOps{}
	for src, so := range w.d.ops {
		if so.drop {
			ops[src] = &srcOps{drop: true}
		}
	}
	w.d = &delta{ops: ops, keys: map[srcID]int{}, names: map[srcID]map[string]int{}}
	for _, s := range w.streams {
		s.pos, s.here, s.err, s.ready = 0, nil, nil, false
	}
}

// run makes the pass and returns the delta with the new content.
func (w *walker) run() (*delta, error) {
	z, cur := w.z, w.cur
	cur.tree.each(func(k string, old *Node) bool {
		w.flush(k, true)
		if w.err == nil {
			w.name(k, old)
		}
		return w.err == nil
	})
	w.flush("", false)
	for _, s := range w.streams {
		if w.err == nil && s.err != nil {
			w.err = s.err
		}
	}
	if w.err != nil {
		return nil, w.err
	}
	s := &Snapshot{Origin: z.Origin, Serial: cur.Serial, tree: w.l.tree(), cuts: w.snap.cuts, dnames: w.snap.dnames, records: w.snap.records, mdAlg: cur.mdAlg}
	s.apex = s.tree.get("")
	w.d.b = &builder{s: s, tb: s.tree.edit(), owned: map[*Node]bool{}}
	return w.d, nil
}

// flush handles the names that only the changes have, below limit (or all,
// when bounded is false).
func (w *walker) flush(limit string, bounded bool) {
	for w.err == nil {
		next, ok := "", false
		for _, s := range w.streams {
			if c, has := s.peek(); has {
				if !ok || c.key < next {
					next, ok = c.key, true
				}
			} else if s.err != nil {
				w.err = s.err
				return
			}
		}
		if !ok || (bounded && next >= limit) {
			return
		}
		w.name(next, nil)
	}
}

// name computes the node at key k from its old node (nil when new) and the
// changes there, and emits it.
func (w *walker) name(k string, old *Node) {
	if !w.gather(k) {
		return
	}
	if !w.anyHere() && !w.touchesCleared(old) {
		if old != nil && (len(old.Sets) > 0 || k == "") {
			for _, set := range old.Sets {
				w.count(set)
			}
			w.emit(k, old)
		}
		return
	}
	name := w.nameTypes(old)
	if name == "" {
		return // only deletions of what was not there
	}
	w.sets = w.sets[:0]
	servedChange := false
	for _, t := range w.types {
		var oldSet *RRset
		if old != nil {
			oldSet = old.Get(t)
		}
		set, changed, err := w.set(k, name, t, oldSet)
		if err != nil {
			w.err = err
			return
		}
		servedChange = servedChange || changed
		if set != nil {
			w.sets = append(w.sets, set)
		}
	}
	w.emitNode(k, name, old, servedChange)
}

// gather takes every stream's changes at key k (false: a stream failed).
func (w *walker) gather(k string) bool {
	for _, s := range w.streams {
		s.here = s.here[:0]
		for {
			c, has := s.peek()
			if !has || c.key != k {
				break
			}
			s.here = append(s.here, c)
			s.pop()
		}
		if s.err != nil {
			w.err = s.err
			return false
		}
	}
	return true
}

// anyHere reports whether a stream changes the current name.
func (w *walker) anyHere() bool {
	for _, s := range w.streams {
		if len(s.here) > 0 {
			return true
		}
	}
	return false
}

// nameTypes sets w.types to the types at the name (the old node's and the
// changed ones, sorted) and returns the name ("": nothing there).
func (w *walker) nameTypes(old *Node) string {
	w.types = w.types[:0]
	name := ""
	if old != nil {
		name = old.Name
		for _, set := range old.Sets {
			w.types = append(w.types, set.Type)
		}
	}
	for _, s := range w.streams {
		for _, c := range s.here {
			if !slices.Contains(w.types, c.t) {
				w.types = append(w.types, c.t)
			}
			if name == "" && len(c.rrs) > 0 {
				name = c.rrs[0].Header().Name
			}
		}
	}
	slices.Sort(w.types)
	return name
}

// emitNode emits the node of w.sets at key k (old itself when its sets are
// the same), validated when its served data changed.
func (w *walker) emitNode(k, name string, old *Node, servedChange bool) {
	same := old != nil && len(old.Sets) == len(w.sets)
	for i := 0; same && i < len(w.sets); i++ {
		same = old.Sets[i] == w.sets[i]
	}
	n := old
	if !same {
		n = &Node{Name: name, Sets: slices.Clone(w.sets)}
		n.cut = k != "" && n.Get(dns.TypeNS) != nil
		if servedChange {
			if err := validateNode(n, w.origin); err != nil {
				w.err = err
				return
			}
		}
	}
	if len(n.Sets) > 0 || k == "" {
		w.emit(k, n)
	}
}

// touchesCleared reports whether a source whose old records no longer count
// contributed to the node.
func (w *walker) touchesCleared(n *Node) bool {
	if n == nil {
		return false
	}
	for _, s := range w.streams {
		if !s.cleared {
			continue
		}
		for _, set := range n.Sets {
			if set.recsOf(s.src) != nil {
				return true
			}
		}
	}
	return false
}

// staged returns the stream of src, or nil.
func (w *walker) staged(src srcID) *stream {
	for _, s := range w.streams {
		if s.src == src {
			return s
		}
	}
	return nil
}

// chgAt returns stream i's records at type t of the current name: ok when
// the stream decides them (a change there, or the source was cleared).
func (w *walker) chgAt(i int, t uint16) ([]dns.RR, bool) {
	s := w.streams[i]
	for _, c := range s.here {
		if c.t == t {
			return c.rrs, true
		}
	}
	return nil, s.cleared
}

// set computes the set at (k, t) from the old set and the changes there;
// changed reports a change of the served records.
func (w *walker) set(k, name string, t uint16, old *RRset) (set *RRset, changed bool, err error) {
	if t == dns.TypeSOA && k != "" {
		return nil, false, fmt.Errorf("SOA record at %s, not at the zone apex %s", name, w.origin)
	}
	mdKey := w.md && k == "" && t == dns.TypeZONEMD
	if old == nil && t != dns.TypeSOA && !mdKey && len(w.streams) == 1 {
		if set := w.newSet(k, name, t); set != nil {
			return set, true, nil
		}
	}
	c, staged := w.contribs(k, name, t, old)
	if k == "" && t == dns.TypeSOA {
		return w.soaSet(old, c, staged)
	}
	if mdKey {
		// The sources' records there are only remembered (digest.go).
		if !sameAsSet(old, c) {
			w.d.changed = true
			old = modelSet(old, c, w.z.tbl)
		}
		w.count(old)
		return old, false, nil
	}
	if sameAsSet(old, c) {
		w.count(old)
		return old, false, nil
	}
	w.d.changed = true
	merged := w.z.tbl.merge(c)
	var oldRRs []dns.RR
	if old != nil {
		oldRRs = old.RRs
	}
	if !sameRRs(oldRRs, merged) {
		changed = true
		w.d.served = true
		if !w.load && w.cur.soa != nil {
			w.d.diff(oldRRs, merged) // journaled (a first load is not)
		}
	}
	if len(merged) > 0 {
		set = &RRset{Type: t, RRs: merged}
		set.setContribs(c)
	}
	w.count(set)
	return set, changed, nil
}

// newSet is a new set from the one stream (a first load), served as it is
// when its TTLs agree; nil: the general path decides.
func (w *walker) newSet(k, name string, t uint16) *RRset {
	rrs, ok := w.chgAt(0, t)
	if !ok || len(rrs) == 0 || !sameTTL(rrs) {
		return nil
	}
	set := &RRset{Type: t, src: w.streams[0].src, RRs: rrs}
	if !w.load {
		w.d.op(w.streams[0].src, storeOp{key: k, name: name, t: t, rrs: rrs}, w.streams[0].maxOps)
		if w.cur.soa != nil {
			w.d.diff(nil, rrs)
		}
	}
	w.d.changed, w.d.served = true, true
	w.count(set)
	return set
}

// contribs returns the contributions at (k, t): the old set's of sources
// not staged, the streams' new ones (recording their store operations),
// sorted; staged reports whether a stream decides the set.
func (w *walker) contribs(k, name string, t uint16, old *RRset) (c []srcRecs, staged bool) {
	c = w.cbuf[:0]
	if old != nil {
		if old.srcs == nil {
			if w.staged(old.src) == nil {
				c = append(c, srcRecs{old.src, old.RRs})
			}
		} else {
			for _, x := range *old.srcs {
				if w.staged(x.src) == nil {
					c = append(c, x)
				}
			}
		}
	}
	for i, s := range w.streams {
		rrs, ok := w.chgAt(i, t)
		staged = staged || ok
		or := old.recsOf(s.src)
		if !ok {
			rrs = or
		} else if !w.load && !sameRRs(or, rrs) {
			w.d.op(s.src, storeOp{key: k, name: name, t: t, had: len(or) > 0, rrs: rrs}, s.maxOps)
		}
		if len(rrs) > 0 {
			c = append(c, srcRecs{s.src, rrs})
		}
	}
	w.cbuf = c
	w.z.tbl.sortContribs(c)
	return c, staged
}

// soaSet computes the apex SOA set from its contributions.
func (w *walker) soaSet(old *RRset, c []srcRecs, staged bool) (*RRset, bool, error) {
	merged := w.z.tbl.merge(c)
	ch, err := soaRules(w.d, w.cur, merged, staged, w.origin)
	if err != nil {
		return nil, false, err
	}
	w.d.soaChanged = ch
	set := old
	if ch || !sameAsSet(old, c) {
		set = nil
		w.d.changed = true
		if len(merged) > 0 {
			set = soaSet(old, merged, c, ch, w.origin)
		}
	}
	w.count(set)
	return set, ch, nil
}

// count adds a set of the new content to the counters.
func (w *walker) count(set *RRset) {
	if set == nil {
		return
	}
	w.snap.records += len(set.RRs)
	switch {
	case set.Type == dns.TypeDNAME:
		w.snap.dnames++
	case set.Type == dns.TypeNS && set.Name() != w.origin:
		w.snap.cuts++
	}
	if set.srcs == nil {
		w.countSrc(set.src, set.Name())
		return
	}
	for _, x := range *set.srcs {
		w.countSrc(x.src, set.Name())
	}
}

func (w *walker) countSrc(src srcID, name string) {
	w.d.keys[src]++
	if w.z.tbl.base[src] {
		return
	}
	m := w.d.names[src]
	if m == nil {
		m = map[string]int{}
		w.d.names[src] = m
	}
	m[name]++
}

// emit adds node n at key k to the new tree, after the empty non-terminals
// between it and its closest emitted ancestor.
func (w *walker) emit(k string, n *Node) {
	for len(w.path) > 0 {
		top := w.path[len(w.path)-1]
		if top == "" || isBelowKey(k, top) {
			break
		}
		w.path = w.path[:len(w.path)-1]
	}
	if k != "" {
		top := ""
		if len(w.path) > 0 {
			top = w.path[len(w.path)-1]
		}
		var buf [8]int
		ends := buf[:0]
		for e := range keyLabelEnds(k) {
			if e > len(top) && e < len(k) {
				ends = append(ends, e)
			}
		}
		if len(ends) > 0 {
			names := make([]string, len(ends))
			nm := n.Name
			for i := len(ends) - 1; i >= 0; i-- {
				nm = Parent(nm)
				names[i] = nm
			}
			for i, e := range ends {
				w.l.add(k[:e], &Node{Name: names[i]})
				w.path = append(w.path, k[:e])
			}
		}
	}
	w.l.add(k, n)
	w.path = append(w.path, k)
}

func sameTTL(rrs []dns.RR) bool {
	for _, rr := range rrs[1:] {
		if rr.Header().Ttl != rrs[0].Header().Ttl {
			return false
		}
	}
	return true
}
