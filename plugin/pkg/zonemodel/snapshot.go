package zonemodel

import (
	"slices"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/miekg/dns"
)

// RRset is one owner name and type of a snapshot. It is immutable once part of a
// snapshot; an unchanged RRset is shared by consecutive snapshots, so anything a
// consumer caches on it (Aux) survives unrelated changes to the zone.
//
// The set also remembers which sources contributed which records (the
// model's per-source content lives in the snapshot, not beside it): in the
// common case one source's records are served as they are (src), else the
// contributions are listed (srcs).
type RRset struct {
	Type uint16
	src  srcID // the only contributor, when srcs is nil: RRs are its records
	RRs  []dns.RR
	srcs *[]srcRecs // every contributor's records, when RRs are not one source's
	aux  atomic.Pointer[any]
}

// Name is the set's owner, lowercase and fully qualified (its records'
// owner; a wildcard set's is "*.…").
func (s *RRset) Name() string { return s.RRs[0].Header().Name }

// TTL of the set (all members carry the same TTL).
func (s *RRset) TTL() uint32 { return s.RRs[0].Header().Ttl }

// Aux returns the value a consumer (the signer) cached on this set, or nil.
func (s *RRset) Aux() any {
	if p := s.aux.Load(); p != nil {
		return *p
	}
	return nil
}

// SetAux caches v on this set (nil clears it). Concurrent callers race
// benignly: last write wins.
func (s *RRset) SetAux(v any) {
	if v == nil {
		s.aux.Store(nil)
		return
	}
	s.aux.Store(&v)
}

// Node is one name of a snapshot: its RRsets in type order. A node without
// RRsets is an empty non-terminal.
type Node struct {
	Name string
	Sets []*RRset // sorted by type
	cut  bool     // NS below the apex: a delegation
}

// Get returns the RRset of type t at the node, or nil.
func (n *Node) Get(t uint16) *RRset {
	for _, s := range n.Sets {
		if s.Type == t {
			return s
		}
		if s.Type > t {
			return nil
		}
	}
	return nil
}

// Types lists the types present at the node, ascending.
func (n *Node) Types() []uint16 {
	out := make([]uint16, len(n.Sets))
	for i, s := range n.Sets {
		out[i] = s.Type
	}
	return out
}

// Empty reports whether the node is an empty non-terminal.
func (n *Node) Empty() bool { return len(n.Sets) == 0 }

// Cut reports whether the node is a delegation point (NS below the apex).
func (n *Node) Cut() bool { return n.cut }

// Snapshot is an immutable version of one view of a zone: what every answer,
// denial, transfer and signature of that version is computed from. Its names
// are a persistent ordered tree (canonical order): a new snapshot shares every
// part of the tree its change did not touch.
type Snapshot struct {
	Origin string
	Serial uint32

	tree    ntree
	apex    *Node
	soa     *RRset // apex SOA with the model serial
	negSOA  dns.RR // SOA with the negative-caching TTL (RFC 2308 §3)
	cuts    int
	dnames  int
	records int
	mdAlg   uint8 // hash algorithm of the apex ZONEMD the model made, 0: none (digest.go)

	sortOnce sync.Once
	sorted   []*Node
}

// Node returns the node for a lowercase fully qualified name, or nil.
func (s *Snapshot) Node(name string) *Node {
	if !InZone(name, s.Origin) {
		return nil
	}
	var buf [keyBuf]byte
	return s.tree.get(keyString(appendKey(buf[:0], name, s.Origin)))
}

// Apex returns the apex node.
func (s *Snapshot) Apex() *Node { return s.apex }

// SOA returns the apex SOA set carrying the model's serial.
func (s *Snapshot) SOA() *RRset { return s.soa }

// NegativeSOA returns the SOA record for the authority section of negative
// answers, its TTL the minimum of the SOA TTL and its MINIMUM field.
func (s *Snapshot) NegativeSOA() dns.RR { return s.negSOA }

// Records counts the resource records of the snapshot.
func (s *Snapshot) Records() int { return s.records }

// Names counts the nodes (names with data plus empty non-terminals).
func (s *Snapshot) Names() int { return s.tree.Len() }

// Delegated reports whether name (lowercase, fully qualified, in the zone) is
// at or below a zone cut other than the apex. Data there is not authoritative:
// the NS set at a cut and glue are never signed (the DS at a cut is the
// parent's own data: callers check for it).
func (s *Snapshot) Delegated(name string) bool {
	if s.cuts == 0 || !InZone(name, s.Origin) {
		return false
	}
	var buf [keyBuf]byte
	k := appendKey(buf[:0], name, s.Origin)
	for end := range keyLabelEnds(k) {
		if n := s.tree.get(keyString(k[:end])); n != nil && n.cut {
			return true
		}
	}
	return false
}

// Get returns the RRset at name and type, or nil.
func (s *Snapshot) Get(name string, t uint16) *RRset {
	if n := s.Node(name); n != nil {
		return n.Get(t)
	}
	return nil
}

// Sorted returns every node in RFC 4034 canonical order (the tree's order;
// the slice is made once per snapshot). Empty non-terminals are included.
// Each and Walk iterate without making it.
func (s *Snapshot) Sorted() []*Node {
	s.sortOnce.Do(func() {
		out := make([]*Node, 0, s.tree.Len())
		s.tree.each(func(_ string, n *Node) bool {
			out = append(out, n)
			return true
		})
		s.sorted = out
	})
	return s.sorted
}

// Walk calls fn for every node in canonical order, apex first, until fn
// returns false.
func (s *Snapshot) Walk(fn func(*Node) bool) {
	s.tree.each(func(_ string, n *Node) bool { return fn(n) })
}

// Each calls fn for every RRset in canonical name order, apex first.
func (s *Snapshot) Each(fn func(*RRset) bool) {
	s.tree.each(func(_ string, n *Node) bool {
		for _, set := range n.Sets {
			if !fn(set) {
				return false
			}
		}
		return true
	})
}

// RRs returns all records, the SOA first (no trailing SOA).
func (s *Snapshot) RRs() []dns.RR {
	out := make([]dns.RR, 0, s.records)
	out = append(out, s.soa.RRs...)
	s.Each(func(set *RRset) bool {
		if set.Type != dns.TypeSOA || set.Name() != s.Origin {
			out = append(out, set.RRs...)
		}
		return true
	})
	return out
}

// keyString views a key being built in a buffer as a string, for lookups
// only (the tree never keeps the strings it is asked about).
func keyString(b []byte) string {
	return unsafeString(b)
}

// keyLabelEnds yields the lengths of the keys of the ancestors of the name
// whose key is k, from the child of the origin down to the name itself.
func keyLabelEnds[K ~string | ~[]byte](k K) func(func(int) bool) {
	return func(yield func(int) bool) {
		for i := 0; i < len(k); i++ {
			switch k[i] {
			case 1:
				i++
			case 0:
				if !yield(i + 1) {
					return
				}
			}
		}
	}
}

// parentKey is the key of the parent of the name whose key is k (k is not
// the origin's).
func parentKey(k string) string {
	last := 0
	for i := 0; i < len(k)-1; i++ {
		switch k[i] {
		case 1:
			i++
		case 0:
			last = i + 1
		}
	}
	return k[:last]
}

func newSnapshot(origin string) *Snapshot {
	s := &Snapshot{Origin: origin}
	s.apex = &Node{Name: origin}
	l := newLoader()
	l.add("", s.apex)
	s.tree = l.tree()
	return s
}

// builder edits a copy of a snapshot, a few names at a time. Nodes and
// RRsets that are not touched are shared with the original.
type builder struct {
	s     *Snapshot
	tb    *tbuilder
	owned map[*Node]bool // nodes made or copied by this edit
}

func (s *Snapshot) edit() *builder {
	ns := &Snapshot{
		Origin:  s.Origin,
		Serial:  s.Serial,
		cuts:    s.cuts,
		dnames:  s.dnames,
		records: s.records,
		mdAlg:   s.mdAlg,
	}
	return &builder{s: ns, tb: s.tree.edit(), owned: map[*Node]bool{}}
}

// node returns a writable node for name (key k), creating it (and empty
// ancestors up to the origin) when create is set.
func (b *builder) node(name, k string, create bool) *Node {
	n := b.tb.t.get(k)
	if n == nil {
		if !create {
			return nil
		}
		n = &Node{Name: name}
		b.owned[n] = true
		b.tb.set(k, n)
		for ck, cn := k, name; ck != ""; {
			pk, pn := parentKey(ck), Parent(cn)
			if b.tb.t.get(pk) != nil {
				break
			}
			e := &Node{Name: pn}
			b.owned[e] = true
			b.tb.set(pk, e)
			ck, cn = pk, pn
		}
		return n
	}
	if !b.owned[n] {
		c := &Node{Name: n.Name, Sets: slices.Clone(n.Sets), cut: n.cut}
		b.owned[c] = true
		b.tb.set(k, c)
		n = c
	}
	return n
}

// put places set at (name, t); a nil set deletes what is there. Empty
// non-terminals left without descendants are removed.
func (b *builder) put(name, k string, t uint16, set *RRset) {
	if set == nil {
		n := b.node(name, k, false)
		if n == nil {
			return
		}
		for i, s := range n.Sets {
			if s.Type == t {
				b.account(n, s, -1)
				n.Sets = slices.Delete(n.Sets, i, i+1)
				break
			}
		}
		b.prune(n, k)
		return
	}
	n := b.node(name, k, true)
	i := sort.Search(len(n.Sets), func(i int) bool { return n.Sets[i].Type >= t })
	if i < len(n.Sets) && n.Sets[i].Type == t {
		b.account(n, n.Sets[i], -1)
		n.Sets[i] = set
	} else {
		n.Sets = slices.Insert(n.Sets, i, set)
	}
	b.account(n, set, 1)
}

func (b *builder) account(n *Node, s *RRset, sign int) {
	b.s.records += sign * len(s.RRs)
	switch {
	case s.Type == dns.TypeDNAME:
		b.s.dnames += sign
	case s.Type == dns.TypeNS && n.Name != b.s.Origin:
		b.s.cuts += sign
		n.cut = sign > 0
	}
}

// prune removes node n (key k) and then its ancestors while they have
// neither data nor descendants. The apex stays.
func (b *builder) prune(n *Node, k string) {
	for k != "" && n != nil && len(n.Sets) == 0 {
		if nk, _ := b.tb.t.next(k); isBelowKey(nk, k) {
			return
		}
		b.tb.delete(k)
		k = parentKey(k)
		n = b.tb.t.get(k)
	}
}

// finish fixes the serial into the SOA and returns the snapshot.
func (b *builder) finish(serial uint32) *Snapshot {
	s := b.s
	s.tree = b.tb.tree()
	s.apex = s.tree.get("")
	finishSnapshot(s, serial, func(set *RRset) { b.put(s.Origin, "", dns.TypeSOA, set); s.tree = b.tb.tree() })
	s.apex = s.tree.get("")
	return s
}

// finishSnapshot sets the serial of s: the served SOA carries it (a copy of
// the base source's SOA record when the serials differ, keeping the
// contributions), and the negative SOA is derived from it. replace puts a new
// apex SOA set.
func finishSnapshot(s *Snapshot, serial uint32, replace func(*RRset)) {
	s.Serial = serial
	set := s.apex.Get(dns.TypeSOA)
	if set == nil {
		s.soa, s.negSOA = nil, nil
		return
	}
	if set.RRs[0].(*dns.SOA).Serial != serial {
		soa := dns.Copy(set.RRs[0]).(*dns.SOA)
		soa.Serial = serial
		ns := &RRset{Type: dns.TypeSOA, RRs: []dns.RR{soa}}
		ns.setContribs(set.contribs())
		replace(ns)
		set = ns
	}
	s.soa = set
	neg := dns.Copy(set.RRs[0]).(*dns.SOA)
	neg.Hdr.Ttl = min(neg.Hdr.Ttl, neg.Minttl)
	s.negSOA = neg
}
