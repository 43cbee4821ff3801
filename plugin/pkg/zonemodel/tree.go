package zonemodel

import (
	"slices"
	"sync/atomic"
)

// ntree is the ordered index of a snapshot's nodes: a persistent B+tree keyed
// by canonical key (appendKey), so that iterating it is iterating the zone in
// RFC 4034 canonical order, and a name's descendants follow it directly.
//
// A tree is immutable once published. An edit (tbuilder) copies only the
// nodes on the paths it changes and shares every other node with the tree it
// started from, so a change of k names costs O(k log n) and snapshots share
// all but the changed paths. Lookups never allocate.
type ntree struct {
	root *tnode
	n    int
}

const (
	treeMax  = 64                  // most entries in a node
	treeMin  = treeMax / 4         // fewer after a delete: merged with a sibling
	treeFill = treeMax - treeMax/8 // entries per node when built from sorted input
)

// tnode is a node of the tree. Leaves hold the entries; inner nodes the
// smallest key below each child. pfx[i] is the first 8 octets of keys[i]
// (big-endian, zero-padded): most comparisons end there, without reading the
// key's octets elsewhere in memory.
type tnode struct {
	gen  uint64 // the builder that made the node; only it changes it in place
	pfx  []uint64
	keys []string
	vals []*Node  // leaves
	kids []*tnode // inner nodes
	// canon caches, on a leaf, the canonical form of its names' RRsets for
	// the zone digest (digest.go); shared, like the leaf, by the trees of
	// consecutive snapshots, and cleared when the leaf's builder changes it.
	canon atomic.Pointer[[]byte]
}

func (n *tnode) leaf() bool { return n.kids == nil }

func keyPrefix(k string) uint64 {
	if len(k) >= 8 {
		return uint64(k[0])<<56 | uint64(k[1])<<48 | uint64(k[2])<<40 | uint64(k[3])<<32 |
			uint64(k[4])<<24 | uint64(k[5])<<16 | uint64(k[6])<<8 | uint64(k[7])
	}
	var p uint64
	for i := 0; i < 8; i++ {
		p <<= 8
		if i < len(k) {
			p |= uint64(k[i])
		}
	}
	return p
}

// lowerBound is the first index whose key is >= k.
func (n *tnode) lowerBound(p uint64, k string) int {
	lo, hi := 0, len(n.keys)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if n.pfx[m] < p || (n.pfx[m] == p && n.keys[m] < k) {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// upperBound is the first index whose key is > k.
func (n *tnode) upperBound(p uint64, k string) int {
	lo, hi := 0, len(n.keys)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if n.pfx[m] < p || (n.pfx[m] == p && n.keys[m] <= k) {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// child is the index of the child whose range holds k.
func (n *tnode) child(p uint64, k string) int {
	return max(n.upperBound(p, k)-1, 0)
}

// Len is the number of entries.
func (t *ntree) Len() int { return t.n }

// get returns the node with key k, or nil.
func (t *ntree) get(k string) *Node {
	n := t.root
	if n == nil {
		return nil
	}
	p := keyPrefix(k)
	for !n.leaf() {
		n = n.kids[n.child(p, k)]
	}
	if i := n.lowerBound(p, k); i < len(n.keys) && n.keys[i] == k {
		return n.vals[i]
	}
	return nil
}

// floor returns the entry with the greatest key <= k, or "", nil.
func (t *ntree) floor(k string) (string, *Node) {
	n := t.root
	if n == nil {
		return "", nil
	}
	p := keyPrefix(k)
	for !n.leaf() {
		n = n.kids[n.child(p, k)]
	}
	if i := n.upperBound(p, k) - 1; i >= 0 {
		return n.keys[i], n.vals[i]
	}
	return "", nil
}

// next returns the entry with the smallest key > k, or "", nil.
func (t *ntree) next(k string) (key string, node *Node) {
	t.ascend(k, func(kk string, n *Node) bool {
		if kk == k {
			return true
		}
		key, node = kk, n
		return false
	})
	return key, node
}

// ascend calls fn for every entry with a key >= from, in order, until fn
// returns false. It reports whether it went through to the end.
func (t *ntree) ascend(from string, fn func(string, *Node) bool) bool {
	if t.root == nil {
		return true
	}
	return t.root.ascend(keyPrefix(from), from, fn)
}

func (n *tnode) ascend(p uint64, from string, fn func(string, *Node) bool) bool {
	if n.leaf() {
		for i := n.lowerBound(p, from); i < len(n.keys); i++ {
			if !fn(n.keys[i], n.vals[i]) {
				return false
			}
		}
		return true
	}
	for i := n.child(p, from); i < len(n.kids); i++ {
		if !n.kids[i].ascend(p, from, fn) {
			return false
		}
	}
	return true
}

// each calls fn for every entry in order until fn returns false.
func (t *ntree) each(fn func(string, *Node) bool) bool {
	if t.root == nil {
		return true
	}
	return t.root.each(fn)
}

func (n *tnode) each(fn func(string, *Node) bool) bool {
	if n.leaf() {
		for i, k := range n.keys {
			if !fn(k, n.vals[i]) {
				return false
			}
		}
		return true
	}
	for _, c := range n.kids {
		if !c.each(fn) {
			return false
		}
	}
	return true
}

// eachLeaf calls fn for every leaf in order until fn returns false.
func (n *tnode) eachLeaf(fn func(*tnode) bool) bool {
	if n.leaf() {
		return fn(n)
	}
	for _, c := range n.kids {
		if !c.eachLeaf(fn) {
			return false
		}
	}
	return true
}

// treeGen numbers builders; a node belongs to the builder that made it.
var treeGen atomic.Uint64

// tbuilder edits a copy of a tree: nodes it did not make are copied before
// they change, so the original tree is never modified.
type tbuilder struct {
	t   ntree
	gen uint64
}

func (t ntree) edit() *tbuilder { return &tbuilder{t: t, gen: treeGen.Add(1)} }

// tree returns the edited tree. The builder must not be used afterwards.
func (b *tbuilder) tree() ntree { return b.t }

// own returns n itself if this builder made it, else a copy that it did.
func (b *tbuilder) own(n *tnode) *tnode {
	if n.gen == b.gen {
		n.canon.Store(nil) // about to change
		return n
	}
	c := &tnode{
		gen:  b.gen,
		pfx:  append(make([]uint64, 0, len(n.pfx)+1), n.pfx...),
		keys: append(make([]string, 0, len(n.keys)+1), n.keys...),
	}
	if n.leaf() {
		c.vals = append(make([]*Node, 0, len(n.vals)+1), n.vals...)
	} else {
		c.kids = append(make([]*tnode, 0, len(n.kids)+1), n.kids...)
	}
	return c
}

// set puts v at k (inserting or replacing).
func (b *tbuilder) set(k string, v *Node) {
	p := keyPrefix(k)
	if b.t.root == nil {
		b.t.root = &tnode{gen: b.gen, pfx: []uint64{p}, keys: []string{k}, vals: []*Node{v}}
		b.t.n = 1
		return
	}
	r := b.own(b.t.root)
	right, added := b.insert(r, p, k, v)
	if right != nil {
		r = &tnode{gen: b.gen, pfx: []uint64{r.pfx[0], right.pfx[0]}, keys: []string{r.keys[0], right.keys[0]}, kids: []*tnode{r, right}}
	}
	b.t.root = r
	if added {
		b.t.n++
	}
}

func (b *tbuilder) insert(n *tnode, p uint64, k string, v *Node) (*tnode, bool) {
	if n.leaf() {
		i := n.lowerBound(p, k)
		if i < len(n.keys) && n.keys[i] == k {
			n.vals[i] = v
			return nil, false
		}
		n.pfx = slices.Insert(n.pfx, i, p)
		n.keys = slices.Insert(n.keys, i, k)
		n.vals = slices.Insert(n.vals, i, v)
		return b.split(n), true
	}
	i := n.child(p, k)
	c := b.own(n.kids[i])
	n.kids[i] = c
	right, added := b.insert(c, p, k, v)
	n.pfx[i], n.keys[i] = c.pfx[0], c.keys[0]
	if right != nil {
		n.pfx = slices.Insert(n.pfx, i+1, right.pfx[0])
		n.keys = slices.Insert(n.keys, i+1, right.keys[0])
		n.kids = slices.Insert(n.kids, i+1, right)
	}
	return b.split(n), added
}

// split moves the upper half of an overfull node to a new right sibling.
func (b *tbuilder) split(n *tnode) *tnode {
	if len(n.keys) <= treeMax {
		return nil
	}
	h := len(n.keys) / 2
	r := &tnode{gen: b.gen, pfx: slices.Clone(n.pfx[h:]), keys: slices.Clone(n.keys[h:])}
	n.pfx, n.keys = n.pfx[:h], clearTail(n.keys, h)
	if n.leaf() {
		r.vals = slices.Clone(n.vals[h:])
		n.vals = clearTail(n.vals, h)
	} else {
		r.kids = slices.Clone(n.kids[h:])
		n.kids = clearTail(n.kids, h)
	}
	return r
}

func clearTail[T any](s []T, n int) []T {
	clear(s[n:])
	return s[:n]
}

// delete removes the entry at k; it reports whether there was one.
func (b *tbuilder) delete(k string) bool {
	if b.t.get(k) == nil {
		return false
	}
	r := b.own(b.t.root)
	b.remove(r, keyPrefix(k), k)
	for !r.leaf() && len(r.kids) == 1 {
		r = r.kids[0]
	}
	if r.leaf() && len(r.keys) == 0 {
		r = nil
	}
	b.t.root = r
	b.t.n--
	return true
}

func (b *tbuilder) remove(n *tnode, p uint64, k string) {
	if n.leaf() {
		i := n.lowerBound(p, k)
		n.pfx = slices.Delete(n.pfx, i, i+1)
		n.keys = slices.Delete(n.keys, i, i+1)
		n.vals = slices.Delete(n.vals, i, i+1)
		return
	}
	i := n.child(p, k)
	c := b.own(n.kids[i])
	n.kids[i] = c
	b.remove(c, p, k)
	if len(c.keys) == 0 {
		n.pfx = slices.Delete(n.pfx, i, i+1)
		n.keys = slices.Delete(n.keys, i, i+1)
		n.kids = slices.Delete(n.kids, i, i+1)
		return
	}
	n.pfx[i], n.keys[i] = c.pfx[0], c.keys[0]
	if len(c.keys) < treeMin && len(n.kids) > 1 {
		b.rebalance(n, i)
	}
}

// rebalance merges the underfull child i with a neighbour, or shares their
// entries evenly when together they would overfill a node.
func (b *tbuilder) rebalance(n *tnode, i int) {
	j := i + 1
	if j == len(n.kids) {
		i, j = i-1, i
	}
	l, r := b.own(n.kids[i]), b.own(n.kids[j])
	n.kids[i], n.kids[j] = l, r
	pfx := append(l.pfx, r.pfx...)
	keys := append(l.keys, r.keys...)
	var vals []*Node
	var kids []*tnode
	if l.leaf() {
		vals = append(l.vals, r.vals...)
	} else {
		kids = append(l.kids, r.kids...)
	}
	if len(keys) <= treeMax {
		l.pfx, l.keys, l.vals, l.kids = pfx, keys, vals, kids
		n.pfx = slices.Delete(n.pfx, j, j+1)
		n.keys = slices.Delete(n.keys, j, j+1)
		n.kids = slices.Delete(n.kids, j, j+1)
		return
	}
	h := len(keys) / 2
	r.pfx, r.keys = slices.Clone(pfx[h:]), slices.Clone(keys[h:])
	l.pfx, l.keys = pfx[:h], clearTail(keys, h)
	if l.leaf() {
		r.vals = slices.Clone(vals[h:])
		l.vals = clearTail(vals, h)
	} else {
		r.kids = slices.Clone(kids[h:])
		l.kids = clearTail(kids, h)
	}
	n.pfx[j], n.keys[j] = r.pfx[0], r.keys[0]
}

// tloader builds a tree from entries given in strictly ascending key order,
// in O(n).
type tloader struct {
	gen   uint64
	level []*tnode
	n     int
}

func newLoader() *tloader { return &tloader{gen: treeGen.Add(1)} }

// add appends an entry; its key must be greater than every key added before.
func (l *tloader) add(k string, v *Node) {
	var leaf *tnode
	if len(l.level) > 0 {
		leaf = l.level[len(l.level)-1]
	}
	if leaf == nil || len(leaf.keys) == treeFill {
		leaf = &tnode{gen: l.gen, pfx: make([]uint64, 0, treeFill), keys: make([]string, 0, treeFill), vals: make([]*Node, 0, treeFill)}
		l.level = append(l.level, leaf)
	}
	leaf.pfx = append(leaf.pfx, keyPrefix(k))
	leaf.keys = append(leaf.keys, k)
	leaf.vals = append(leaf.vals, v)
	l.n++
}

// tree returns the tree of the entries added.
func (l *tloader) tree() ntree {
	level := l.level
	if len(level) == 0 {
		return ntree{}
	}
	for len(level) > 1 {
		var up []*tnode
		for i := 0; i < len(level); i += treeFill {
			kids := level[i:min(i+treeFill, len(level))]
			n := &tnode{gen: l.gen, pfx: make([]uint64, len(kids)), keys: make([]string, len(kids)), kids: slices.Clone(kids)}
			for j, c := range kids {
				n.pfx[j], n.keys[j] = c.pfx[0], c.keys[0]
			}
			up = append(up, n)
		}
		level = up
	}
	return ntree{root: level[0], n: l.n}
}
