package zonemodel

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// refModel is an independent model of a zone for the randomized tests:
// per view and source the records, and the served sets computed from them by
// the merge rules written out plainly (union in source order, duplicates
// removed, the TTL of the first; override sources replace the others where
// they have records).
type refModel struct {
	origin   string
	order    []string        // sources in merge order
	override map[string]bool // override sources
	content  map[string]map[string]map[rrKey][]dns.RR
}

func (m *refModel) set(view, src string, k rrKey, rrs []dns.RR) {
	if m.content[view] == nil {
		m.content[view] = map[string]map[rrKey][]dns.RR{}
	}
	if m.content[view][src] == nil {
		m.content[view][src] = map[rrKey][]dns.RR{}
	}
	if len(rrs) == 0 {
		delete(m.content[view][src], k)
		return
	}
	m.content[view][src][k] = rrs
}

func (m *refModel) clone() *refModel {
	c := &refModel{origin: m.origin, order: m.order, override: m.override, content: map[string]map[string]map[rrKey][]dns.RR{}}
	for v, srcs := range m.content {
		for s, keys := range srcs {
			for k, rrs := range keys {
				c.set(v, s, k, slices.Clone(rrs))
			}
		}
	}
	return c
}

// served computes what a view serves: key → records.
func (m *refModel) served(view string) map[rrKey][]dns.RR {
	keys := map[rrKey]bool{}
	for _, src := range m.content[view] {
		for k := range src {
			keys[k] = true
		}
	}
	out := map[rrKey][]dns.RR{}
	for k := range keys {
		ovr := false
		for _, s := range m.order {
			if m.override[s] && len(m.content[view][s][k]) > 0 {
				ovr = true
			}
		}
		var set []dns.RR
		for _, s := range m.order {
			if ovr && !m.override[s] {
				continue
			}
			for _, rr := range m.content[view][s][k] {
				dup := false
				for _, x := range set {
					dup = dup || dns.IsDuplicate(x, rr)
				}
				if !dup {
					set = append(set, rr)
				}
			}
		}
		for i, rr := range set {
			if rr.Header().Ttl != set[0].Header().Ttl {
				c := dns.Copy(rr)
				c.Header().Ttl = set[0].Header().Ttl
				set[i] = c
			}
		}
		if len(set) > 0 {
			out[k] = set
		}
	}
	return out
}

// names is the set of names a served view has nodes for: names with data and
// their ancestors up to the origin.
func (m *refModel) names(served map[rrKey][]dns.RR) map[string]bool {
	out := map[string]bool{m.origin: true}
	for k := range served {
		for n := k.name; n != m.origin; n = Parent(n) {
			out[n] = true
		}
	}
	return out
}

// refCompare is canonical order computed from Labels, independently of the
// model's keys.
func refCompare(a, b string) int {
	la, lb := Labels(a), Labels(b)
	for i, j := len(la)-1, len(lb)-1; i >= 0 && j >= 0; i, j = i-1, j-1 {
		if c := strings.Compare(strings.ToLower(la[i]), strings.ToLower(lb[j])); c != 0 {
			return c
		}
	}
	return len(la) - len(lb)
}

// dump renders a snapshot (names, types, records with TTLs) for comparisons.
func dump(s *Snapshot) string {
	var b strings.Builder
	fmt.Fprintf(&b, "serial %d records %d names %d cuts %d\n", s.Serial, s.Records(), s.Names(), s.cuts)
	s.Walk(func(n *Node) bool {
		fmt.Fprintf(&b, "%s cut=%v\n", n.Name, n.Cut())
		for _, set := range n.Sets {
			var recs []string
			for _, rr := range set.RRs {
				recs = append(recs, rr.String())
			}
			sort.Strings(recs)
			fmt.Fprintf(&b, "  %s\n", strings.Join(recs, "\n  "))
		}
		return true
	})
	return b.String()
}

// checkServed compares a view's snapshot with the reference.
func checkServed(t *testing.T, s *Snapshot, ref *refModel, view string) {
	t.Helper()
	served := ref.served(view)
	n := 0
	s.Each(func(set *RRset) bool {
		if set.Type != dns.TypeSOA {
			n++
		}
		return true
	})
	want := 0
	records := 1 // the SOA
	for k, rrs := range served {
		if k.t == dns.TypeSOA {
			continue
		}
		want++
		records += len(rrs)
		got := s.Get(k.name, k.t)
		if got == nil {
			t.Fatalf("view %s: %s/%s missing", view, k.name, dns.TypeToString[k.t])
		}
		if len(got.RRs) != len(rrs) {
			t.Fatalf("view %s: %s/%s has %d records, want %d", view, k.name, dns.TypeToString[k.t], len(got.RRs), len(rrs))
		}
		ttl := rrs[0].Header().Ttl
		for _, rr := range rrs {
			if !containsRdata(got.RRs, rr) {
				t.Fatalf("view %s: %s missing from %v", view, rr, got.RRs)
			}
		}
		for _, rr := range got.RRs {
			if rr.Header().Ttl != ttl {
				t.Fatalf("view %s: %s has TTL %d, want %d (the first source's)", view, rr, rr.Header().Ttl, ttl)
			}
		}
	}
	if n != want {
		t.Fatalf("view %s: %d sets served, want %d", view, n, want)
	}
	if s.Records() != records {
		t.Fatalf("view %s: Records() = %d, want %d", view, s.Records(), records)
	}
	names := ref.names(served)
	if s.Names() != len(names) {
		t.Fatalf("view %s: Names() = %d, want %d", view, s.Names(), len(names))
	}
	var prev string
	s.Walk(func(n *Node) bool {
		if !names[n.Name] {
			t.Fatalf("view %s: node %s should not exist", view, n.Name)
		}
		if prev != "" && refCompare(prev, n.Name) >= 0 {
			t.Fatalf("view %s: %s before %s is not canonical order", view, prev, n.Name)
		}
		if got := s.Node(n.Name); got != n {
			t.Fatalf("view %s: Node(%s) does not find the node", view, n.Name)
		}
		prev = n.Name
		return true
	})
}

// Random changes by three sources (the base file, a dynamic source, an
// override file in one view) through the incremental path, the ordered
// pass, or whichever the model picks: after every change each view serves
// what the reference model says, in canonical order, with the right empty
// non-terminals; the journal holds exactly the served difference; older
// snapshots never change; a restart from the store serves the same.
func TestRandomChangesMatchReference(t *testing.T) {
	defer func(c int) { chunkTarget = c; testPath = pathAuto }(chunkTarget)
	chunkTarget = 300 // many chunks, so that changes split and rewrite them
	for _, path := range []int{pathAuto, pathIncremental, pathBulk} {
		t.Run(fmt.Sprint(path), func(t *testing.T) {
			testPath = path
			randomChanges(t, rand.New(rand.NewPCG(uint64(path), 7)), nil)
		})
	}
}

// TestRandomChangesMemoryStorage runs the same changes on the model with
// its state in memory (memstore.go): the model needs no database.
func TestRandomChangesMemoryStorage(t *testing.T) {
	defer func() { testPath = pathAuto }()
	for _, path := range []int{pathAuto, pathIncremental, pathBulk} {
		t.Run(fmt.Sprint(path), func(t *testing.T) {
			testPath = path
			randomChanges(t, rand.New(rand.NewPCG(uint64(path), 7)), memStorages())
		})
	}
}

// randomChanges runs random changes on a zone whose state is opened with
// storage (nil: bbolt).
func randomChanges(t *testing.T, rnd *rand.Rand, storage func(dir, origin string) (storage, error)) {
	const origin = "example.test."
	views := []string{"in", "out"}
	labels := []string{"a", "b", "www", "x-1", "\\053", "Mix"}
	randName := func() string {
		n := origin
		for d := rnd.IntN(3); d >= 0; d-- {
			n = strings.ToLower(labels[rnd.IntN(len(labels))]) + "." + n
		}
		return n
	}
	randRR := func(name string) dns.RR {
		ttl := []int{60, 300}[rnd.IntN(2)]
		var s string
		switch rnd.IntN(5) {
		case 0:
			s = fmt.Sprintf("%s %d IN A 192.0.2.%d", name, ttl, rnd.IntN(4))
		case 1:
			s = fmt.Sprintf("%s %d IN AAAA 2001:db8::%d", name, ttl, rnd.IntN(4))
		case 2:
			s = fmt.Sprintf("%s %d IN TXT \"v%d\"", name, ttl, rnd.IntN(4))
		case 3:
			s = fmt.Sprintf("%s %d IN MX %d mx.example.test.", name, ttl, rnd.IntN(3))
		default:
			if name == origin {
				s = fmt.Sprintf("%s %d IN TXT \"apex%d\"", name, ttl, rnd.IntN(2))
			} else {
				s = fmt.Sprintf("%s %d IN NS ns%d.example.net.", name, ttl, rnd.IntN(2))
			}
		}
		return rr(t, s)
	}
	apex := func(serial int) []dns.RR {
		return []dns.RR{
			rr(t, fmt.Sprintf("example.test. 3600 IN SOA ns1.example.test. hostmaster.example.test. %d 3600 600 86400 300", serial)),
			rr(t, "example.test. 3600 IN NS ns1.example.test."),
		}
	}
	randFile := func(serial int) []dns.RR {
		out := apex(serial)
		for i := rnd.IntN(40); i > 0; i-- {
			out = append(out, randRR(randName()))
		}
		return out
	}

	dir := t.TempDir()
	ref := &refModel{origin: origin, order: []string{"file", "acme", "ovr"}, override: map[string]bool{"ovr": true},
		content: map[string]map[string]map[rrKey][]dns.RR{}}
	var fileRRs, ovrRRs []dns.RR
	setFile := func(rrs []dns.RR) {
		for _, v := range views {
			for k := range ref.content[v]["file"] {
				ref.set(v, "file", k, nil)
			}
			for _, r := range rrs {
				r = normalize(r)
				k := rrKey{r.Header().Name, r.Header().Rrtype}
				ref.set(v, "file", k, addRecord(slices.Clone(ref.content[v]["file"][k]), r, false))
			}
		}
		fileRRs = rrs
	}
	setOvr := func(rrs []dns.RR) {
		for k := range ref.content["in"]["ovr"] {
			ref.set("in", "ovr", k, nil)
		}
		for _, r := range rrs {
			r = normalize(r)
			k := rrKey{r.Header().Name, r.Header().Rrtype}
			ref.set("in", "ovr", k, addRecord(slices.Clone(ref.content["in"]["ovr"][k]), r, false))
		}
		ovrRRs = rrs
	}
	open := func() (*Zone, *Source, *Source, *Source) {
		z := New(Config{Origin: origin, StateDir: dir, Views: views, openStorage: storage})
		file, _ := z.AddSource("file", SourceOptions{Base: true})
		acme, _ := z.AddSource("acme", SourceOptions{Dynamic: true})
		ovr, _ := z.AddSource("ovr", SourceOptions{Views: []string{"in"}, Override: true})
		if err := file.SetInitial(nil, fileRRs); err != nil {
			t.Fatal(err)
		}
		if err := ovr.SetInitial(nil, ovrRRs); err != nil {
			t.Fatal(err)
		}
		if err := z.Open(); err != nil {
			t.Fatal(err)
		}
		return z, file, acme, ovr
	}
	setFile(randFile(1))
	z, file, acme, ovr := open()
	defer func() { z.Close() }()
	check := func() {
		t.Helper()
		for _, v := range views {
			checkServed(t, z.View(v).Snapshot(), ref, v)
		}
	}
	check()

	serial := 1
	for step := 0; step < 150; step++ {
		before := map[string]*Snapshot{}
		dumps := map[string]string{}
		servedBefore := map[string]map[rrKey][]dns.RR{}
		for _, v := range views {
			before[v] = z.View(v).Snapshot()
			dumps[v] = dump(before[v])
			servedBefore[v] = ref.served(v)
		}
		next := ref.clone()
		var err error
		switch op := rnd.IntN(10); {
		case op < 2: // the file changes (bulk replacement)
			serial++
			rrs := randFile(serial)
			if rnd.IntN(2) == 0 { // mostly the same
				rrs = append(append(apex(serial), fileRRs[2:]...), randRR(randName()))
			}
			saved, savedRef := fileRRs, ref
			ref = next
			setFile(rrs)
			next, ref = ref, savedRef
			fileRRs = saved
			err = file.Replace(nil, rrs)
			if err == nil {
				fileRRs = rrs
			}
		case op < 3: // the override file changes
			var rrs []dns.RR
			for i := rnd.IntN(6); i > 0; i-- {
				rrs = append(rrs, randRR(randName()))
			}
			saved, savedRef := ovrRRs, ref
			ref = next
			setOvr(rrs)
			next, ref = ref, savedRef
			ovrRRs = saved
			err = ovr.Replace(nil, rrs)
			if err == nil {
				ovrRRs = rrs
			}
		case op < 4: // the dynamic source is cleared and refilled
			var adds []dns.RR
			for i := rnd.IntN(30); i > 0; i-- {
				adds = append(adds, randRR(randName()))
			}
			for _, v := range views {
				for k := range next.content[v]["acme"] {
					next.set(v, "acme", k, nil)
				}
				for _, r := range adds {
					r = normalize(r)
					k := rrKey{r.Header().Name, r.Header().Rrtype}
					next.set(v, "acme", k, addRecord(slices.Clone(next.content[v]["acme"][k]), r, true))
				}
			}
			err = acme.Update(nil, func(tx *Tx) error {
				tx.Clear()
				for _, r := range adds {
					tx.Add(r)
				}
				return nil
			})
		default: // a few records added and removed (an UPDATE)
			type op struct {
				del bool
				rr  dns.RR
			}
			var ops []op
			for i := 1 + rnd.IntN(3); i > 0; i-- {
				name := randName()
				if recs := next.content["out"]["acme"]; len(recs) > 0 && rnd.IntN(2) == 0 {
					for _, rrs := range recs {
						ops = append(ops, op{true, rrs[rnd.IntN(len(rrs))]})
						break
					}
				} else {
					ops = append(ops, op{false, randRR(name)})
				}
			}
			for _, v := range views {
				for _, o := range ops {
					r := normalize(o.rr)
					k := rrKey{r.Header().Name, r.Header().Rrtype}
					cur := slices.Clone(next.content[v]["acme"][k])
					if o.del {
						cur = slices.DeleteFunc(cur, func(x dns.RR) bool { return dns.IsDuplicate(x, r) })
					} else {
						cur = addRecord(cur, r, true)
					}
					next.set(v, "acme", k, cur)
				}
			}
			err = acme.Update(nil, func(tx *Tx) error {
				for _, o := range ops {
					if o.del {
						tx.Delete(o.rr)
					} else {
						tx.Add(o.rr)
					}
				}
				return nil
			})
		}
		if err != nil {
			t.Fatalf("step %d: %v", step, err)
		}
		ref = next
		check()
		for _, v := range views {
			if dump(before[v]) != dumps[v] {
				t.Fatalf("step %d view %s: the previous snapshot changed", step, v)
			}
			// The journal entry of the change is the served difference.
			now := z.View(v).Snapshot()
			if now.Serial == before[v].Serial {
				if !sameServed(servedBefore[v], ref.served(v)) {
					t.Fatalf("step %d view %s: served data changed without a new serial", step, v)
				}
				continue
			}
			es, ok, err := z.View(v).JournalSince(before[v].Serial)
			if err != nil || !ok || len(es) != 1 {
				t.Fatalf("step %d view %s: journal since %d: %d entries, %v, %v", step, v, before[v].Serial, len(es), ok, err)
			}
			checkEntry(t, es[0], servedBefore[v], ref.served(v))
		}
		if step%25 == 24 {
			z.Close()
			z, file, acme, ovr = open()
			check()
		}
	}
}

func sameServed(a, b map[rrKey][]dns.RR) bool {
	strip := func(m map[rrKey][]dns.RR) map[rrKey][]dns.RR {
		out := map[rrKey][]dns.RR{}
		for k, v := range m {
			if k.t != dns.TypeSOA {
				out[k] = v
			}
		}
		return out
	}
	a, b = strip(a), strip(b)
	if len(a) != len(b) {
		return false
	}
	for k, rrs := range a {
		if !sameRRs(rrs, b[k]) {
			return false
		}
	}
	return true
}

// checkEntry checks that a journal entry deletes exactly what old served and
// new does not, and adds the reverse (SOA aside).
func checkEntry(t *testing.T, e *JournalEntry, old, new map[rrKey][]dns.RR) {
	t.Helper()
	var del, add []string
	for k, rrs := range old {
		for _, rr := range rrs {
			if k.t != dns.TypeSOA && !containsExact(new[k], rr) {
				del = append(del, rr.String())
			}
		}
	}
	for k, rrs := range new {
		for _, rr := range rrs {
			if k.t != dns.TypeSOA && !containsExact(old[k], rr) {
				add = append(add, rr.String())
			}
		}
	}
	str := func(rrs []dns.RR) []string {
		var out []string
		for _, rr := range rrs {
			out = append(out, rr.String())
		}
		sort.Strings(out)
		return out
	}
	sort.Strings(del)
	sort.Strings(add)
	if !slices.Equal(str(e.Del), del) || !slices.Equal(str(e.Add), add) {
		t.Fatalf("journal entry %d->%d: del %v add %v, want del %v add %v", e.From, e.To, str(e.Del), str(e.Add), del, add)
	}
}
