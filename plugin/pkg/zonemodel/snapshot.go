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
type RRset struct {
	Name string // lowercase, fully qualified owner
	Type uint16
	RRs  []dns.RR

	aux atomic.Pointer[any]
	// canon caches the set's canonical wire form for the zone digest
	// (digest.go); shared, like the set, by consecutive snapshots.
	canon atomic.Pointer[[]byte]
}

// TTL of the set (all members carry the same TTL).
func (s *RRset) TTL() uint32 { return s.RRs[0].Header().Ttl }

// Aux returns the value a consumer (the signer) cached on this set, or nil.
func (s *RRset) Aux() any {
	if p := s.aux.Load(); p != nil {
		return *p
	}
	return nil
}

// SetAux caches v on this set. Concurrent callers race benignly: last write wins.
func (s *RRset) SetAux(v any) { s.aux.Store(&v) }

// Node is one name of a snapshot: its RRsets in type order. A node without
// RRsets is an empty non-terminal.
type Node struct {
	Name     string
	Sets     []*RRset // sorted by type
	children int32    // immediate child nodes, for empty non-terminal bookkeeping
	cut      bool     // NS below the apex: a delegation
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
// denial, transfer and signature of that version is computed from.
type Snapshot struct {
	Origin string
	Serial uint32

	nodes   map[string]*Node
	apex    *Node
	soa     *RRset // apex SOA with the model serial
	negSOA  dns.RR // SOA with the negative-caching TTL (RFC 2308 §3)
	cuts    int
	dnames  int
	records int
	digest  uint8 // hash algorithm of the apex ZONEMD the model made, 0: none (digest.go)

	sortOnce sync.Once
	sorted   []*Node
	sortDone atomic.Bool
	// sortFrom, when set, is the snapshot this one was edited from, whose
	// canonical order Sorted adapts instead of sorting again (sortorder.go);
	// sortTouched the names the edit created, changed or removed. Both are
	// dropped once Sorted ran.
	sortFrom    *Snapshot
	sortTouched map[string]bool
}

// Node returns the node for a lowercase fully qualified name, or nil.
func (s *Snapshot) Node(name string) *Node { return s.nodes[name] }

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
func (s *Snapshot) Names() int { return len(s.nodes) }

// Delegated reports whether name (lowercase, fully qualified, in the zone) is
// at or below a zone cut other than the apex. Data there is not authoritative:
// the NS set at a cut and glue are never signed (the DS at a cut is the
// parent's own data: callers check for it).
func (s *Snapshot) Delegated(name string) bool {
	if s.cuts == 0 {
		return false
	}
	for a := name; a != s.Origin && len(a) > len(s.Origin); a = Parent(a) {
		if n := s.nodes[a]; n != nil && n.cut {
			return true
		}
	}
	return false
}

// Get returns the RRset at name and type, or nil.
func (s *Snapshot) Get(name string, t uint16) *RRset {
	if n := s.nodes[name]; n != nil {
		return n.Get(t)
	}
	return nil
}

// Sorted returns every node in RFC 4034 canonical order (computed once per
// snapshot). Empty non-terminals are included.
func (s *Snapshot) Sorted() []*Node {
	s.sortOnce.Do(func() {
		defer s.sortDone.Store(true)
		if from, touched := s.sortFrom, s.sortTouched; from != nil {
			s.sortFrom, s.sortTouched = nil, nil
			if from.sortDone.Load() {
				s.sorted = s.deriveSorted(from, touched)
				return
			}
		}
		out := make([]*Node, 0, len(s.nodes))
		for _, n := range s.nodes {
			out = append(out, n)
		}
		keys := make(map[*Node][]string, len(out))
		for _, n := range out {
			keys[n] = Labels(n.Name)
		}
		sort.Slice(out, func(i, j int) bool {
			return compareLabels(keys[out[i]], keys[out[j]]) < 0
		})
		s.sorted = out
	})
	return s.sorted
}

func compareLabels(la, lb []string) int {
	for i, j := len(la)-1, len(lb)-1; i >= 0 && j >= 0; i, j = i-1, j-1 {
		if c := compareLabel(la[i], lb[j]); c != 0 {
			return c
		}
	}
	switch {
	case len(la) < len(lb):
		return -1
	case len(la) > len(lb):
		return 1
	}
	return 0
}

// Each calls fn for every RRset in canonical name order, apex first.
func (s *Snapshot) Each(fn func(*RRset) bool) {
	for _, n := range s.Sorted() {
		for _, set := range n.Sets {
			if !fn(set) {
				return
			}
		}
	}
}

// RRs returns all records, the SOA first (no trailing SOA).
func (s *Snapshot) RRs() []dns.RR {
	out := make([]dns.RR, 0, s.records)
	out = append(out, s.soa.RRs...)
	s.Each(func(set *RRset) bool {
		if set.Type != dns.TypeSOA || set.Name != s.Origin {
			out = append(out, set.RRs...)
		}
		return true
	})
	return out
}

// builder edits a copy of a snapshot. Nodes and RRsets that are not touched are
// shared with the original.
type builder struct {
	s      *Snapshot
	copied map[string]bool // nodes already copied in this edit
}

func newSnapshot(origin string) *Snapshot {
	s := &Snapshot{Origin: origin, nodes: map[string]*Node{}}
	s.apex = &Node{Name: origin}
	s.nodes[origin] = s.apex
	return s
}

func (s *Snapshot) edit() *builder {
	ns := &Snapshot{
		Origin:  s.Origin,
		Serial:  s.Serial,
		nodes:   make(map[string]*Node, len(s.nodes)),
		cuts:    s.cuts,
		dnames:  s.dnames,
		records: s.records,
	}
	for k, v := range s.nodes {
		ns.nodes[k] = v
	}
	ns.apex = ns.nodes[s.Origin]
	return &builder{s: ns, copied: map[string]bool{}}
}

// node returns a writable node for name, creating it (and empty ancestors up to
// the origin) when create is set.
func (b *builder) node(name string, create bool) *Node {
	n := b.s.nodes[name]
	if n == nil {
		if !create {
			return nil
		}
		n = &Node{Name: name}
		b.s.nodes[name] = n
		b.copied[name] = true
		if name != b.s.Origin {
			p := b.node(Parent(name), true)
			p.children++
		}
		return n
	}
	if !b.copied[name] {
		c := *n
		c.Sets = slices.Clone(n.Sets)
		n = &c
		b.s.nodes[name] = n
		b.copied[name] = true
	}
	return n
}

// set replaces the RRset at (name, t); an empty rrs deletes it. Empty
// non-terminals left without children are removed.
func (b *builder) set(name string, t uint16, rrs []dns.RR) {
	if len(rrs) == 0 {
		n := b.node(name, false)
		if n == nil {
			return
		}
		for i, s := range n.Sets {
			if s.Type == t {
				b.account(name, s, -1)
				n.Sets = slices.Delete(n.Sets, i, i+1)
				break
			}
		}
		b.prune(n)
		return
	}
	n := b.node(name, true)
	ns := &RRset{Name: name, Type: t, RRs: rrs}
	i := sort.Search(len(n.Sets), func(i int) bool { return n.Sets[i].Type >= t })
	if i < len(n.Sets) && n.Sets[i].Type == t {
		b.account(name, n.Sets[i], -1)
		n.Sets[i] = ns
	} else {
		n.Sets = slices.Insert(n.Sets, i, ns)
	}
	b.account(name, ns, 1)
}

// keep puts an existing RRset object (shared, unchanged) at its place.
func (b *builder) keep(set *RRset) {
	n := b.node(set.Name, true)
	i := sort.Search(len(n.Sets), func(i int) bool { return n.Sets[i].Type >= set.Type })
	if i < len(n.Sets) && n.Sets[i].Type == set.Type {
		b.account(set.Name, n.Sets[i], -1)
		n.Sets[i] = set
	} else {
		n.Sets = slices.Insert(n.Sets, i, set)
	}
	b.account(set.Name, set, 1)
}

func (b *builder) account(name string, s *RRset, sign int) {
	b.s.records += sign * len(s.RRs)
	switch {
	case s.Type == dns.TypeDNAME:
		b.s.dnames += sign
	case s.Type == dns.TypeNS && name != b.s.Origin:
		b.s.cuts += sign
		b.s.nodes[name].cut = sign > 0
	}
}

func (b *builder) prune(n *Node) {
	for n != nil && n.Name != b.s.Origin && len(n.Sets) == 0 && n.children == 0 {
		delete(b.s.nodes, n.Name)
		b.copied[n.Name] = true // touched: gone from the canonical order
		p := b.node(Parent(n.Name), false)
		if p == nil {
			return
		}
		p.children--
		n = p
	}
}

// finish fixes the serial into the SOA and returns the snapshot.
func (b *builder) finish(serial uint32) *Snapshot {
	s := b.s
	s.Serial = serial
	s.apex = s.nodes[s.Origin]
	if set := s.apex.Get(dns.TypeSOA); set != nil {
		soa := dns.Copy(set.RRs[0]).(*dns.SOA)
		soa.Serial = serial
		if soa.Serial != set.RRs[0].(*dns.SOA).Serial {
			ns := &RRset{Name: s.Origin, Type: dns.TypeSOA, RRs: []dns.RR{soa}}
			b.keep(ns)
			set = ns
		}
		s.soa = set
		neg := dns.Copy(set.RRs[0]).(*dns.SOA)
		neg.Hdr.Ttl = min(neg.Hdr.Ttl, neg.Minttl)
		s.negSOA = neg
	}
	return s
}
