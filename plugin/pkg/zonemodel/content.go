package zonemodel

import (
	"slices"
	"sort"

	"github.com/miekg/dns"
)

// srcID numbers the sources of a zone (configured ones, and stored ones no
// longer configured) so that an RRset can say compactly who contributed its
// records. 0 is no source.
type srcID uint16

// srcRecs is one source's records at a name and type.
type srcRecs struct {
	src srcID
	rrs []dns.RR
}

// recsOf returns the records source src contributed to the set.
func (s *RRset) recsOf(src srcID) []dns.RR {
	if s == nil {
		return nil
	}
	if s.srcs == nil {
		if s.src == src {
			return s.RRs
		}
		return nil
	}
	for _, c := range *s.srcs {
		if c.src == src {
			return c.rrs
		}
	}
	return nil
}

// eachContrib calls fn for every source that contributed records to the set.
func (s *RRset) eachContrib(fn func(srcID, []dns.RR)) {
	if s.srcs == nil {
		fn(s.src, s.RRs)
		return
	}
	for _, c := range *s.srcs {
		fn(c.src, c.rrs)
	}
}

// contribs returns the contributions as a new slice.
func (s *RRset) contribs() []srcRecs {
	if s.srcs == nil {
		return []srcRecs{{s.src, s.RRs}}
	}
	return slices.Clone(*s.srcs)
}

// setContribs records who contributed the set's records: compactly when
// RRs are exactly one source's records.
func (s *RRset) setContribs(c []srcRecs) {
	if len(c) == 1 && sameSlice(c[0].rrs, s.RRs) {
		s.src, s.srcs = c[0].src, nil
		return
	}
	c = slices.Clone(c)
	s.src, s.srcs = 0, &c
}

func sameSlice(a, b []dns.RR) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}

// sameContribs reports whether two contribution lists hold the same records
// per source (same TTLs, any order).
func sameContribs(a, b []srcRecs) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].src != b[i].src || !(sameSlice(a[i].rrs, b[i].rrs) || sameRRs(a[i].rrs, b[i].rrs)) {
			return false
		}
	}
	return true
}

// srcTable is the zone's numbering of sources and their merge order.
type srcTable struct {
	names    []string // by srcID; [0] unused
	ids      map[string]srcID
	rank     []int  // by srcID: merge order
	override []bool // by srcID
	base     []bool // by srcID: the base source (its records are not indexed by name)
}

func newSrcTable() *srcTable {
	return &srcTable{names: []string{""}, ids: map[string]srcID{}, rank: []int{0}, override: []bool{false}, base: []bool{false}}
}

// id returns the number of the named source, numbering it if new.
func (t *srcTable) id(name string) srcID {
	if id, ok := t.ids[name]; ok {
		return id
	}
	id := srcID(len(t.names))
	t.names = append(t.names, name)
	t.ids[name] = id
	t.rank = append(t.rank, 0)
	t.override = append(t.override, false)
	t.base = append(t.base, false)
	return id
}

// rerank orders sources for merging: configured sources in their order,
// then the others (stored, no longer configured) by name.
func (t *srcTable) rerank(configured []*Source) {
	pos := map[string]int{}
	for i, s := range configured {
		pos[s.Name] = i
		id := t.id(s.Name)
		t.override[id] = s.opts.Override
		t.base[id] = s.opts.Base
	}
	var others []string
	for _, n := range t.names[1:] {
		if _, ok := pos[n]; !ok {
			others = append(others, n)
		}
	}
	sort.Strings(others)
	for i, n := range others {
		pos[n] = len(configured) + i
	}
	for id, n := range t.names {
		if id > 0 {
			t.rank[id] = pos[n]
		}
	}
}

// sortContribs puts contributions in merge order.
func (t *srcTable) sortContribs(c []srcRecs) {
	if len(c) < 2 {
		return
	}
	slices.SortFunc(c, func(a, b srcRecs) int { return t.rank[a.src] - t.rank[b.src] })
}

// merge computes the served records from contributions in merge order: the
// union of every source's records, duplicates removed, all with the TTL of
// the first record; where an override source has records, only override
// sources count.
func (t *srcTable) merge(c []srcRecs) []dns.RR {
	override := false
	for _, x := range c {
		if t.override[x.src] && len(x.rrs) > 0 {
			override = true
			break
		}
	}
	var out []dns.RR
	shared := true
	for _, x := range c {
		if override && !t.override[x.src] {
			continue
		}
		rrs := x.rrs
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
	if sameSlice(a, b) {
		return true
	}
	for _, x := range a {
		found := false
		for _, y := range b {
			if x == y || (dns.IsDuplicate(x, y) && x.Header().Ttl == y.Header().Ttl) {
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

func containsExact(set []dns.RR, rr dns.RR) bool {
	for _, x := range set {
		if x == rr || (dns.IsDuplicate(x, rr) && x.Header().Ttl == rr.Header().Ttl) {
			return true
		}
	}
	return false
}
