package zonemodel

import "sort"

// deriveSorted computes the canonical order of s's nodes from the order of
// from, the snapshot s was edited from, and the names the edit touched:
// untouched nodes keep their place, touched ones are looked up again
// (changed or removed), names new in s are inserted by binary search. A
// small change of a large zone costs one pass over the nodes instead of a
// sort.
func (s *Snapshot) deriveSorted(from *Snapshot, touched map[string]bool) []*Node {
	out := make([]*Node, 0, len(s.nodes))
	for _, n := range from.sorted {
		if !touched[n.Name] {
			out = append(out, n)
			continue
		}
		if m := s.nodes[n.Name]; m != nil {
			out = append(out, m)
		}
	}
	var added []*Node
	for name := range touched {
		if m := s.nodes[name]; m != nil && from.nodes[name] == nil {
			added = append(added, m)
		}
	}
	if len(added) == 0 {
		return out
	}
	sort.Slice(added, func(i, j int) bool { return CanonicalCompare(added[i].Name, added[j].Name) < 0 })
	merged := make([]*Node, 0, len(out)+len(added))
	rest := out
	for _, a := range added {
		la := Labels(a.Name)
		i := sort.Search(len(rest), func(i int) bool { return compareLabels(Labels(rest[i].Name), la) > 0 })
		merged = append(merged, rest[:i]...)
		merged = append(merged, a)
		rest = rest[i:]
	}
	return append(merged, rest...)
}

// sortFromParent lets s (being built from parent by b) derive its canonical
// order from parent's when it is first asked for.
func (b *builder) sortFromParent(parent *Snapshot) {
	if parent.sortDone.Load() {
		b.s.sortFrom, b.s.sortTouched = parent, b.copied
	}
}
