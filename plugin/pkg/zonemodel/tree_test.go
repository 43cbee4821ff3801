package zonemodel

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"unsafe"
)

// checkTree compares a tree with the sorted keys it should hold, and checks
// its shape: keys ascending, inner keys the smallest key below each child,
// prefixes matching the keys.
func checkTree(t *testing.T, tr ntree, want map[string]*Node) {
	t.Helper()
	keys := make([]string, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if tr.Len() != len(keys) {
		t.Fatalf("Len = %d, want %d", tr.Len(), len(keys))
	}
	var got []string
	tr.each(func(k string, n *Node) bool {
		if want[k] != n {
			t.Fatalf("value at %q is not the one set", k)
		}
		got = append(got, k)
		return true
	})
	if !slices.Equal(got, keys) {
		t.Fatalf("iteration gives %d keys, want %d in order", len(got), len(keys))
	}
	for _, k := range keys {
		if tr.get(k) != want[k] {
			t.Fatalf("get(%q) misses", k)
		}
	}
	if tr.root != nil {
		checkNode(t, tr.root)
	}
}

func checkNode(t *testing.T, n *tnode) {
	t.Helper()
	if len(n.keys) != len(n.pfx) || len(n.keys) > treeMax {
		t.Fatalf("node of %d keys, %d prefixes", len(n.keys), len(n.pfx))
	}
	for i, k := range n.keys {
		if n.pfx[i] != keyPrefix(k) {
			t.Fatalf("prefix of %q is stale", k)
		}
		if i > 0 && n.keys[i-1] >= k {
			t.Fatalf("keys out of order: %q, %q", n.keys[i-1], k)
		}
	}
	if !n.leaf() {
		if len(n.kids) != len(n.keys) {
			t.Fatalf("inner node of %d keys, %d children", len(n.keys), len(n.kids))
		}
		for i, c := range n.kids {
			if c.keys[0] != n.keys[i] {
				t.Fatalf("inner key %q, child starts at %q", n.keys[i], c.keys[0])
			}
			checkNode(t, c)
		}
	}
}

// Random inserts and deletes against a map, keeping every version: each
// version still holds exactly what it held when it was made (structural
// sharing never changes a published tree).
func TestTreePersistentRandom(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	type version struct {
		tr   ntree
		want map[string]*Node
	}
	var versions []version
	cur := ntree{}
	want := map[string]*Node{}
	for round := 0; round < 60; round++ {
		b := cur.edit()
		for op := 0; op < 1+rnd.IntN(400); op++ {
			k := fmt.Sprintf("%x", rnd.IntN(3000))
			if rnd.IntN(3) == 0 {
				if b.delete(k) != (want[k] != nil) {
					t.Fatalf("delete(%q) reports wrongly", k)
				}
				delete(want, k)
			} else {
				n := &Node{Name: k}
				b.set(k, n)
				want[k] = n
			}
		}
		cur = b.tree()
		cp := make(map[string]*Node, len(want))
		for k, v := range want {
			cp[k] = v
		}
		versions = append(versions, version{cur, cp})
		for _, v := range versions {
			checkTree(t, v.tr, v.want)
		}
	}
}

func TestTreeLoaderAndQueries(t *testing.T) {
	for _, n := range []int{0, 1, treeFill, treeFill + 1, 10000} {
		l := newLoader()
		want := map[string]*Node{}
		var keys []string
		for i := 0; i < n; i++ {
			keys = append(keys, fmt.Sprintf("k%08d", i*2))
		}
		for _, k := range keys {
			node := &Node{Name: k}
			l.add(k, node)
			want[k] = node
		}
		tr := l.tree()
		checkTree(t, tr, want)
		orig := make(map[string]*Node, len(want))
		for k, v := range want {
			orig[k] = v
		}
		for i := -1; i <= 2*n; i++ {
			k := fmt.Sprintf("k%08d", i)
			if i < 0 {
				k = "a"
			}
			// floor: the greatest key <= k; next: the smallest key > k.
			fk, _ := tr.floor(k)
			var wf, wn string
			for _, x := range keys {
				if x <= k {
					wf = x
				}
				if x > k && wn == "" {
					wn = x
				}
			}
			if fk != wf {
				t.Fatalf("n=%d floor(%q) = %q, want %q", n, k, fk, wf)
			}
			if nk, _ := tr.next(k); nk != wn {
				t.Fatalf("n=%d next(%q) = %q, want %q", n, k, nk, wn)
			}
		}
		// Deleting everything in random order empties the tree.
		b := tr.edit()
		for _, i := range rand.Perm(len(keys)) {
			if !b.delete(keys[i]) {
				t.Fatalf("delete(%q) found nothing", keys[i])
			}
			delete(want, keys[i])
			if i%997 == 0 {
				checkTree(t, b.tree(), want)
			}
		}
		if e := b.tree(); e.Len() != 0 || e.root != nil {
			t.Fatalf("emptied tree has %d entries", e.Len())
		}
		checkTree(t, tr, orig) // the loaded tree is untouched by the edit
	}
}

// The per-name and per-RRset structures stay in their allocation size
// classes: a zone of a million records has a million of each.
func TestStructSizes(t *testing.T) {
	if n := unsafe.Sizeof(RRset{}); n > 48 {
		t.Errorf("RRset is %d bytes, more than 48", n)
	}
	if n := unsafe.Sizeof(Node{}); n > 48 {
		t.Errorf("Node is %d bytes, more than 48", n)
	}
}
