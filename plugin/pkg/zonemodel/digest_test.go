package zonemodel

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/miekg/dns"
	bolt "go.etcd.io/bbolt"

	"github.com/dnspki/dnspki/plugin/pkg/zonemd"
)

func openDigestZone(t testing.TB, dir string, alg uint8, text string, views ...string) (*Zone, *Source) {
	t.Helper()
	z := New(Config{Origin: "example.test", StateDir: dir, Views: views, Digest: alg})
	base, err := z.AddSource("file", SourceOptions{Base: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := base.SetInitial(nil, parseTest(t, text)); err != nil {
		t.Fatal(err)
	}
	acme, err := z.AddSource("acme", SourceOptions{Dynamic: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := z.Open(); err != nil {
		t.Fatal(err)
	}
	return z, acme
}

// checkDigest: the view's snapshot carries one ZONEMD with its serial, and
// an independent computation over what an AXFR sends verifies it.
func checkDigest(t *testing.T, s *Snapshot) *dns.ZONEMD {
	t.Helper()
	md := s.Digest()
	if md == nil {
		t.Fatalf("serial %d: no ZONEMD with the SOA serial at the apex", s.Serial)
	}
	if err := zonemd.Verify(s.Origin, s.RRs()); err != nil {
		t.Fatalf("serial %d: %v", s.Serial, err)
	}
	return md
}

func TestDigestFollowsEveryChange(t *testing.T) {
	dir := t.TempDir()
	// A ZONEMD in the zone file is not what the model serves.
	z, acme := openDigestZone(t, dir, zonemd.HashSHA384, testZone+"@ IN ZONEMD 100 1 1 "+string(make([]byte, 0))+"000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000\n")
	v := z.View("")
	first := checkDigest(t, v.Snapshot())
	if first.Serial != 100 || len(v.Snapshot().Get("example.test.", dns.TypeZONEMD).RRs) != 1 {
		t.Fatalf("first ZONEMD %v", first)
	}
	old := v.Snapshot()
	txt := rr(t, `_acme-challenge.www.example.test. 60 IN TXT "token"`)
	if err := acme.Update(nil, func(tx *Tx) error { tx.Add(txt); return nil }); err != nil {
		t.Fatal(err)
	}
	cur := v.Snapshot()
	md := checkDigest(t, cur)
	if cur.Serial != 101 || md.Digest == first.Digest {
		t.Fatalf("after the change: serial %d, digest %s (was %s)", cur.Serial, md.Digest, first.Digest)
	}
	// IXFR gives what AXFR gives: the journal entry carries the ZONEMD.
	entries, ok, err := v.JournalSince(100)
	if err != nil || !ok || len(entries) != 1 {
		t.Fatalf("journal: %v %v %d", err, ok, len(entries))
	}
	applied := applyEntry(t, old.RRs(), entries[0])
	if err := zonemd.Verify("example.test.", applied); err != nil {
		t.Fatalf("the zone built from IXFR: %v", err)
	}
	// A change that alters nothing keeps serial and digest.
	if err := acme.Update(nil, func(tx *Tx) error { tx.Add(txt); return nil }); err != nil {
		t.Fatal(err)
	}
	if v.Snapshot() != cur {
		t.Fatal("a no-op change made a new snapshot")
	}
	z.Close()

	// Restart with the same setting: same serial, same digest, nothing
	// journaled.
	z, _ = openDigestZone(t, dir, zonemd.HashSHA384, testZone)
	v = z.View("")
	if s := v.Snapshot(); s.Serial != 101 || checkDigest(t, s).Digest != md.Digest || v.JournalLen() != 1 {
		t.Fatalf("after restart: serial %d, journal %d", s.Serial, v.JournalLen())
	}
	z.Close()

	// Digest off: the ZONEMD goes with a new serial, journaled.
	z, _ = openDigestZone(t, dir, 0, testZone)
	v = z.View("")
	if s := v.Snapshot(); s.Serial != 102 || s.Get("example.test.", dns.TypeZONEMD) != nil || v.JournalLen() != 2 {
		t.Fatalf("digest off: serial %d, ZONEMD %v, journal %d", s.Serial, s.Get("example.test.", dns.TypeZONEMD), v.JournalLen())
	}
	z.Close()

	// SHA-512: back with the next serial.
	z, _ = openDigestZone(t, dir, zonemd.HashSHA512, testZone)
	v = z.View("")
	if s := v.Snapshot(); s.Serial != 103 || checkDigest(t, s).Hash != zonemd.HashSHA512 {
		t.Fatalf("digest on again: serial %d", s.Serial)
	}
	z.Close()
}

func TestDigestPerView(t *testing.T) {
	z, acme := openDigestZone(t, t.TempDir(), zonemd.HashSHA384, testZone, "internal", "external")
	defer z.Close()
	if err := acme.Update([]string{"internal"}, func(tx *Tx) error {
		tx.Add(rr(t, `secret.example.test. 60 IN A 10.0.0.1`))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	in, ex := checkDigest(t, z.View("internal").Snapshot()), checkDigest(t, z.View("external").Snapshot())
	if in.Digest == ex.Digest || ex.Serial != 100 || in.Serial != 101 {
		t.Fatalf("views: internal %d %s, external %d %s", in.Serial, in.Digest, ex.Serial, ex.Digest)
	}
}

// applyEntry applies an RFC 1995 difference sequence to a zone's records.
func applyEntry(t *testing.T, rrs []dns.RR, e *JournalEntry) []dns.RR {
	t.Helper()
	var out []dns.RR
	for _, rr := range rrs {
		if rr.Header().Rrtype == dns.TypeSOA {
			continue
		}
		if !containsRdata(e.Del, rr) {
			out = append(out, rr)
		}
	}
	out = append(out, e.NewSOA)
	return append(out, e.Add...)
}

// The order the digest walks (the tree's) equals a full sort, through
// additions, removals (empty non-terminals going too) and changes, and the
// digest follows each step. (It replaces TestDerivedOrderMatchesSort: the
// order is no longer derived from the previous snapshot's.)
func TestDigestOrderMatchesSort(t *testing.T) {
	z, acme := openDigestZone(t, t.TempDir(), zonemd.HashSHA384, testZone)
	defer z.Close()
	v := z.View("")
	steps := []func(tx *Tx){
		func(tx *Tx) { tx.Add(rr(t, `a.b.c.example.test. 60 IN TXT "1"`)) },
		func(tx *Tx) {
			tx.Add(rr(t, `Z.example.test. 60 IN TXT "2"`))
			tx.Add(rr(t, `\001.example.test. 60 IN TXT "3"`))
		},
		func(tx *Tx) {
			tx.Add(rr(t, `*.example.test. 60 IN TXT "4"`))
			tx.Add(rr(t, `www.example.test. 60 IN TXT "5"`))
		},
		func(tx *Tx) { tx.DeleteName("a.b.c.example.test.") },
		func(tx *Tx) { tx.Add(rr(t, `b.c.example.test. 60 IN TXT "6"`)); tx.DeleteName("z.example.test.") },
	}
	wantNames := [][]string{
		{"a.b.c", "b.c", "c"},
		{"a.b.c", "b.c", "c", "z", "\\001"},
		{"*", "a.b.c", "b.c", "c", "z", "\\001"},
		{"*", "z", "\\001"},
		{"*", "b.c", "c", "\\001"},
	}
	gone := [][]string{nil, nil, nil, {"a.b.c", "b.c", "c"}, {"a.b.c", "z"}}
	for i, step := range steps {
		if err := acme.Update(nil, func(tx *Tx) error { step(tx); return nil }); err != nil {
			t.Fatal(err)
		}
		s := v.Snapshot()
		var want []string
		for _, n := range s.Sorted() {
			want = append(want, n.Name)
		}
		sortNames(want)
		got := s.Sorted()
		if len(got) != len(want) || len(got) != s.Names() {
			t.Fatalf("step %d: %d nodes in order, %d names", i, len(got), s.Names())
		}
		for j := range got {
			if got[j].Name != want[j] || got[j] != s.Node(want[j]) {
				t.Fatalf("step %d: position %d is %s, want %s", i, j, got[j].Name, want[j])
			}
		}
		for _, l := range wantNames[i] {
			if s.Node(l+".example.test.") == nil {
				t.Fatalf("step %d: no node %s", i, l)
			}
		}
		for _, l := range gone[i] {
			if s.Node(l+".example.test.") != nil {
				t.Fatalf("step %d: node %s still there", i, l)
			}
		}
		checkDigest(t, s)
	}
}

func sortNames(names []string) {
	for i := 1; i < len(names); i++ {
		for j := i; j > 0 && CanonicalCompare(names[j-1], names[j]) > 0; j-- {
			names[j-1], names[j] = names[j], names[j-1]
		}
	}
}

// The digest, made leaf by leaf of the snapshot's tree from cached
// canonical forms, equals an independent computation after random changes
// applied either way (name by name, ordered pass) in a zone of many
// leaves; the snapshots before each change still verify, and their cached
// forms still give their digest (a later change shares leaves with them, it
// does not change them); a restart serves the same digest.
func TestDigestRandomChanges(t *testing.T) {
	defer func() { testPath = pathAuto }()
	var sb strings.Builder
	sb.WriteString(testZone)
	for i := 0; i < 600; i++ {
		fmt.Fprintf(&sb, "h%d.g%d IN A 192.0.2.%d\n", i, i%7, i%250)
	}
	for _, path := range []int{pathIncremental, pathBulk} {
		t.Run(fmt.Sprint(path), func(t *testing.T) {
			testPath = path
			dir := t.TempDir()
			z, acme := openDigestZone(t, dir, zonemd.HashSHA384, sb.String())
			v := z.View("")
			if v.Snapshot().tree.root.leaf() {
				t.Fatal("the zone fits one leaf")
			}
			rnd := rand.New(rand.NewPCG(uint64(path), 3))
			olds := []*Snapshot{v.Snapshot()}
			for step := 0; step < 60; step++ {
				err := acme.Update(nil, func(tx *Tx) error {
					for i := 1 + rnd.IntN(4); i > 0; i-- {
						name := fmt.Sprintf("n%d.g%d.example.test.", rnd.IntN(40), rnd.IntN(9))
						if rnd.IntN(3) == 0 {
							tx.DeleteName(name)
						} else {
							tx.Add(rr(t, fmt.Sprintf(`%s 60 IN TXT "v%d"`, name, rnd.IntN(5))))
						}
					}
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
				s := v.Snapshot()
				checkDigest(t, s)
				olds = append(olds, s)
			}
			if olds[len(olds)-1].Serial < 140 {
				t.Fatalf("serial %d: too few changes", olds[len(olds)-1].Serial)
			}
			for _, s := range olds {
				md := checkDigest(t, s)
				sum, err := digestSnapshot(s, zonemd.HashSHA384)
				if err != nil || fmt.Sprintf("%X", sum) != strings.ToUpper(md.Digest) {
					t.Fatalf("serial %d: cached forms give %X (%v), the ZONEMD says %s", s.Serial, sum, err, md.Digest)
				}
			}
			last := olds[len(olds)-1]
			md := checkDigest(t, last)
			z.Close()
			z, _ = openDigestZone(t, dir, zonemd.HashSHA384, sb.String())
			defer z.Close()
			s := z.View("").Snapshot()
			if s.Serial != last.Serial || checkDigest(t, s).Digest != md.Digest {
				t.Fatalf("after restart: serial %d (was %d)", s.Serial, last.Serial)
			}
		})
	}
}

// The sources' own apex ZONEMD records are not served while the model
// makes the digest, and changing them changes nothing served; they are
// remembered (and stored), and served again once the digest is turned off.
func TestDigestKeepsSourcesZONEMD(t *testing.T) {
	fileMD := "@ IN ZONEMD 7 1 1 " + strings.Repeat("ab", 48) + "\n"
	dir := t.TempDir()
	z, acme := openDigestZone(t, dir, zonemd.HashSHA384, testZone+fileMD)
	v := z.View("")
	s := v.Snapshot()
	md := checkDigest(t, s)
	if set := s.Get("example.test.", dns.TypeZONEMD); len(set.RRs) != 1 {
		t.Fatalf("apex ZONEMD %v", set.RRs)
	}
	acmeMD := rr(t, "example.test. 3600 IN ZONEMD 8 1 1 "+strings.Repeat("cd", 48))
	if err := acme.Update(nil, func(tx *Tx) error { tx.Add(acmeMD); return nil }); err != nil {
		t.Fatal(err)
	}
	if cur := v.Snapshot(); cur.Serial != s.Serial || checkDigest(t, cur).Digest != md.Digest || v.JournalLen() != 0 {
		t.Fatalf("a source's apex ZONEMD changed what is served: serial %d, journal %d", cur.Serial, v.JournalLen())
	}
	z.Close()

	z, _ = openDigestZone(t, dir, 0, testZone+fileMD)
	defer z.Close()
	s = z.View("").Snapshot()
	set := s.Get("example.test.", dns.TypeZONEMD)
	if s.Digest() != nil || set == nil || len(set.RRs) != 2 {
		t.Fatalf("digest off: serial %d, apex ZONEMD %v", s.Serial, set)
	}
	for _, r := range set.RRs {
		if n := r.(*dns.ZONEMD).Serial; n != 7 && n != 8 {
			t.Fatalf("digest off: apex ZONEMD %v", r)
		}
	}
}

// A builder that changes a leaf it made after a digest cached the leaf's
// canonical form clears the cache: the next digest sees the change.
func TestDigestLeafCacheCleared(t *testing.T) {
	z, _ := openDigestZone(t, t.TempDir(), zonemd.HashSHA384, testZone)
	defer z.Close()
	s := z.View("").Snapshot()
	b := s.edit()
	put := func(name string) {
		b.put(name, nameKey(name, s.Origin), dns.TypeTXT, &RRset{Type: dns.TypeTXT, RRs: []dns.RR{rr(t, name+` 60 IN TXT "x"`)}})
	}
	put("new.example.test.")
	ns := b.finish(s.Serial + 1)
	if _, err := digestSnapshot(ns, zonemd.HashSHA384); err != nil {
		t.Fatal(err)
	}
	put("other.example.test.")
	ns.tree = b.tb.tree()
	got, err := digestSnapshot(ns, zonemd.HashSHA384)
	if err != nil {
		t.Fatal(err)
	}
	want, err := zonemd.Compute(s.Origin, ns.RRs(), zonemd.HashSHA384)
	if err != nil || string(got) != string(want) {
		t.Fatalf("digest %X, computed from the records %X (%v)", got, want, err)
	}
}

// A store in the layout before chunks (main's, before issue 16) whose view
// served a model ZONEMD is converted at Open and keeps serving the digest at
// the same serial, nothing journaled; so does the converted store.
func TestDigestSurvivesStoreConversion(t *testing.T) {
	dir := t.TempDir()
	path := legacyPath(dir, "example.test.")
	os.MkdirAll(filepath.Dir(path), 0o750)
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		vb, _ := viewBucket(tx, DefaultView)
		vb.Bucket(bMeta).Put(kSerial, u32(100))
		vb.Bucket(bMeta).Put(kSeq, u64(0))
		vb.Bucket(bMeta).Put(kMdAlg, []byte{zonemd.HashSHA384})
		fb, _ := vb.Bucket(bSrc).CreateBucket([]byte("file"))
		sets := map[rrKey][]dns.RR{}
		for _, r := range parseTest(t, bigZone(300)) {
			r = normalize(r)
			k := rrKey{r.Header().Name, r.Header().Rrtype}
			sets[k] = append(sets[k], r)
		}
		for k, set := range sets {
			v, err := packRRs(set)
			if err != nil {
				return err
			}
			key := append([]byte(k.name), 0, 0, 0)
			binary.BigEndian.PutUint16(key[len(key)-2:], k.t)
			fb.Put(key, v)
		}
		return nil
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	z, _ := openDigestZone(t, dir, zonemd.HashSHA384, bigZone(300))
	v := z.View("")
	s := v.Snapshot()
	md := checkDigest(t, s)
	if s.Serial != 100 || md.Serial != 100 || v.JournalLen() != 0 {
		t.Fatalf("converted: serial %d, ZONEMD serial %d, journal %d", s.Serial, md.Serial, v.JournalLen())
	}
	z.Close()
	z, _ = openDigestZone(t, dir, zonemd.HashSHA384, bigZone(300))
	defer z.Close()
	s = z.View("").Snapshot()
	if s.Serial != 100 || checkDigest(t, s).Digest != md.Digest {
		t.Fatalf("after the conversion: serial %d", s.Serial)
	}
}
