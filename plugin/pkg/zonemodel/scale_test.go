package zonemodel

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/miekg/dns"
	bolt "go.etcd.io/bbolt"
)

// bigZone is a zone file of n hosts (A records; every 8th one label
// deeper, under gK: empty non-terminals).
func bigZone(n int) string {
	var b strings.Builder
	b.WriteString(testZone)
	for i := 1; i <= n; i++ {
		if i%8 == 0 {
			fmt.Fprintf(&b, "h%d.g%d IN A 10.%d.%d.%d\n", i, i%32, i>>16&255, i>>8&255, i&255)
		} else {
			fmt.Fprintf(&b, "h%d IN A 10.%d.%d.%d\n", i, i>>16&255, i>>8&255, i&255)
		}
	}
	return b.String()
}

// A change of one name makes a snapshot that shares every other node and
// RRset with the one before: only the path to the changed name is new.
func TestSnapshotSharesUnchangedNodes(t *testing.T) {
	z, _, acme := openZone(t, t.TempDir(), bigZone(5000))
	old := z.View("").Snapshot()
	if err := acme.Update(nil, func(tx *Tx) error {
		tx.Add(rr(t, "_acme-challenge.h77.example.test. 60 IN TXT token"))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	cur := z.View("").Snapshot()
	if cur == old || cur.Serial != old.Serial+1 {
		t.Fatalf("serial %d -> %d", old.Serial, cur.Serial)
	}
	// Only the apex (the SOA's serial) changes; h77 gets a child without
	// changing itself.
	changed := map[string]bool{"example.test.": true}
	shared, fresh := 0, 0
	old.Walk(func(n *Node) bool {
		m := cur.Node(n.Name)
		switch {
		case m == n:
			shared++
			for i := range n.Sets {
				if n.Sets[i] != m.Sets[i] {
					t.Fatalf("%s: shared node with a new RRset", n.Name)
				}
			}
		case changed[n.Name]:
			fresh++
		default:
			t.Fatalf("%s is not shared by the new snapshot", n.Name)
		}
		return true
	})
	if shared != old.Names()-1 || fresh != 1 || cur.Names() != old.Names()+1 {
		t.Fatalf("%d nodes shared, %d new, of %d (now %d)", shared, fresh, old.Names(), cur.Names())
	}
	// The tree itself: all but the leaves on the two changed paths are the
	// old one's.
	oldNodes, newNodes := map[*tnode]bool{}, 0
	var walk func(n *tnode, fn func(*tnode))
	walk = func(n *tnode, fn func(*tnode)) {
		fn(n)
		for _, c := range n.kids {
			walk(c, fn)
		}
	}
	walk(old.tree.root, func(n *tnode) { oldNodes[n] = true })
	walk(cur.tree.root, func(n *tnode) {
		if !oldNodes[n] {
			newNodes++
		}
	})
	if depth := treeDepth(cur.tree.root); newNodes > 2*depth {
		t.Fatalf("%d tree nodes copied for a change of one name (depth %d)", newNodes, depth)
	}
}

func treeDepth(n *tnode) int {
	d := 1
	for !n.leaf() {
		n = n.kids[0]
		d++
	}
	return d
}

// Canonical order from the keys is RFC 4034 §6.1 order: against a
// comparison of decoded labels, on names with escapes, mixed case and
// octets 0 and 1 in labels.
func TestCanonicalCompare(t *testing.T) {
	rnd := rand.New(rand.NewPCG(3, 4))
	parts := []string{"a", "A", "b", "*", "\\000", "\\001", "\\002", "a\\000", "a\\.b", "\\255", "z", "-", "ab", "\\065"}
	var names []string
	for range 300 {
		n := "."
		for d := rnd.IntN(4); d > 0; d-- {
			l := ""
			for k := 1 + rnd.IntN(2); k > 0; k-- {
				l += parts[rnd.IntN(len(parts))]
			}
			if n == "." {
				n = l + "."
			} else {
				n = l + "." + n
			}
		}
		names = append(names, n)
	}
	for _, a := range names {
		for _, b := range names {
			want := refCompare(a, b)
			got := CanonicalCompare(a, b)
			if (want < 0) != (got < 0) || (want == 0) != (got == 0) {
				t.Fatalf("CanonicalCompare(%q, %q) = %d, want the sign of %d", a, b, got, want)
			}
		}
	}
	if n := testing.AllocsPerRun(100, func() { CanonicalCompare("www.Example.test.", "a\\.b.example.test.") }); n != 0 {
		t.Errorf("CanonicalCompare allocates %v times", n)
	}
	z, _, _ := openZone(t, t.TempDir(), bigZone(100))
	s := z.View("").Snapshot()
	if n := testing.AllocsPerRun(100, func() { s.Node("h42.example.test.") }); n != 0 {
		t.Errorf("Node allocates %v times", n)
	}
}

// A zone file with a syntax error deep down, or one that breaks a rule, is
// refused with its file and line, and the zone keeps serving what it served.
func TestBrokenZoneFileKeepsSnapshot(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "example.test.zone")
	good := bigZone(20000)
	if err := os.WriteFile(path, []byte(good), 0o644); err != nil {
		t.Fatal(err)
	}
	z := New(Config{Origin: "example.test.", StateDir: dir})
	src, _ := z.AddSource("file", SourceOptions{Base: true})
	if _, err := src.SetInitialFile(nil, path, false); err != nil {
		t.Fatal(err)
	}
	if err := z.Open(); err != nil {
		t.Fatal(err)
	}
	defer z.Close()
	before := z.View("").Snapshot()
	lines := strings.Split(good, "\n")
	for _, bad := range []struct {
		line int
		text string
		want string
	}{
		{18000, "h17990 IN A 10.1.2", "at line: 18000"},
		{18000, "h7 IN CNAME h8", "example.test.zone:18000: CNAME and other data (A) at h7.example.test."},
		{15000, "other.test. IN A 192.0.2.1", "example.test.zone:15000: other.test. is outside zone"},
	} {
		broken := slices.Clone(lines)
		broken[bad.line-1] = bad.text
		if err := os.WriteFile(path, []byte(strings.Join(broken, "\n")), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := ReadZoneFile(path, "example.test.")
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Fatalf("line %d %q: error %v, want %q", bad.line, bad.text, err, bad.want)
		}
		if z.View("").Snapshot() != before {
			t.Fatal("a broken file changed the served snapshot")
		}
	}
	// Records that parse but break the zone's rules together with another
	// source are refused by the commit, whole.
	if err := src.Replace(nil, append(parseTest(t, good), rr(t, "h5.example.test. 60 IN CNAME h6.example.test."))); err == nil {
		t.Fatal("a CNAME beside an A record was accepted")
	}
	if z.View("").Snapshot() != before {
		t.Fatal("a refused replacement changed the served snapshot")
	}
}

// A transaction that fails after many staged changes (a zone transfer cut
// in the middle) applies and stores nothing.
func TestFailedBulkChangeAppliesNothing(t *testing.T) {
	dir := t.TempDir()
	z, base, _ := openZone(t, dir, bigZone(3000))
	before := z.View("").Snapshot()
	dumped := dump(before)
	err := base.Update(nil, func(tx *Tx) error {
		tx.Clear()
		for i := range 2000 {
			tx.Add(rr(t, fmt.Sprintf("n%d.example.test. 60 IN A 192.0.2.1", i)))
		}
		return fmt.Errorf("transfer cut after 2000 records")
	})
	if err == nil || !strings.Contains(err.Error(), "cut") {
		t.Fatalf("error %v", err)
	}
	// The ordered pass refuses a broken result whole too.
	err = base.Update(nil, func(tx *Tx) error {
		tx.Clear()
		for _, r := range parseTest(t, bigZone(3000)) {
			tx.Add(r)
		}
		tx.Add(rr(t, "h9.example.test. 60 IN CNAME h10.example.test."))
		return nil
	})
	if err == nil || !strings.Contains(err.Error(), "CNAME and other data") {
		t.Fatalf("error %v", err)
	}
	if z.View("").Snapshot() != before || dump(before) != dumped {
		t.Fatal("a failed change was applied")
	}
	z.Close()
	z2, _, _ := openZone(t, dir, bigZone(3000))
	if got := dump(z2.View("").Snapshot()); got != dumped {
		t.Fatal("the store holds a failed change")
	}
}

// An unchanged zone file is not parsed again at a restart: the store's
// records are served with the same serial. A changed file is read, and the
// difference journaled; so is a file with an $INCLUDE (its content is more
// than its bytes).
func TestRestartKeepsStoredFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "z")
	write := func(s string) {
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	open := func() (*Zone, *ZoneData) {
		z := New(Config{Origin: "example.test.", StateDir: dir, Views: []string{"a", "b"}})
		src, _ := z.AddSource("file", SourceOptions{Base: true})
		zd, err := src.SetInitialFile(nil, path, false)
		if err != nil {
			t.Fatal(err)
		}
		if !zd.Unchanged && len(zd.RRs) == 0 {
			t.Fatal("no records read")
		}
		if zd.Unchanged && !z.HasData("a", "h3.example.test.") {
			t.Fatal("HasData before Open misses a stored record of an unchanged file")
		}
		if zd.Unchanged && z.HasData("a", "h9999.example.test.") {
			t.Fatal("HasData before Open finds a name that is not there")
		}
		if err := z.Open(); err != nil {
			t.Fatal(err)
		}
		return z, zd
	}
	write(bigZone(2000))
	z, zd := open()
	if zd.Unchanged {
		t.Fatal("a first start did not read the file")
	}
	first := dump(z.View("b").Snapshot())
	z.Close()

	z, zd = open()
	if !zd.Unchanged {
		t.Fatal("an unchanged file was parsed again")
	}
	if got := dump(z.View("b").Snapshot()); got != first {
		t.Fatalf("restart from the store serves\n%.300s\nnot\n%.300s", got, first)
	}
	z.Close()

	write(bigZone(2000) + "added IN A 192.0.2.9\n")
	z, zd = open()
	if zd.Unchanged {
		t.Fatal("a changed file was not read")
	}
	es, ok, err := z.View("a").JournalSince(100)
	if err != nil || !ok || len(es) != 1 || len(es[0].Add) != 1 || len(es[0].Del) != 0 {
		t.Fatalf("journal of the change while down: %v %v %v", es, ok, err)
	}
	z.Close()

	// A later change by Replace (not from the file) makes the next start
	// read the file again, even though its bytes did not change.
	z, zd = open()
	if !zd.Unchanged {
		t.Fatal("the file was read again")
	}
	if err := z.Source("file").Replace(nil, parseTest(t, bigZone(10))); err != nil {
		t.Fatal(err)
	}
	z.Close()
	z, zd = open()
	if zd.Unchanged {
		t.Fatal("a file whose records the store no longer holds was not read")
	}
	if z.View("a").Snapshot().Node("added.example.test.") == nil {
		t.Fatal("the file's records are not served")
	}
	z.Close()

	inc := filepath.Join(dir, "inc")
	if err := os.WriteFile(inc, []byte("inc IN A 192.0.2.7\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	write(bigZone(20) + "$include " + inc + "\n")
	for range 2 {
		z, zd = open()
		if zd.Unchanged || zd.Digest != nil {
			t.Fatal("a file with $INCLUDE was taken for unchanged")
		}
		z.Close()
	}
}

// A store in the layout before chunks (one key per RRset named by its
// owner) is read, served, and rewritten in the current layout at Open.
func TestOpenConvertsOldStore(t *testing.T) {
	dir := t.TempDir()
	rrs := parseTest(t, bigZone(300))
	extra := rr(t, "_acme-challenge.h1.example.test. 60 IN TXT token")
	path := legacyPath(dir, "example.test.")
	os.MkdirAll(filepath.Dir(path), 0o750)
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	put := func(b *bolt.Bucket, rrs []dns.RR) {
		sets := map[rrKey][]dns.RR{}
		for _, r := range rrs {
			r = normalize(r)
			k := rrKey{r.Header().Name, r.Header().Rrtype}
			sets[k] = append(sets[k], r)
		}
		for k, set := range sets {
			v, err := packRRs(set)
			if err != nil {
				t.Fatal(err)
			}
			key := append([]byte(k.name), 0, 0, 0)
			binary.BigEndian.PutUint16(key[len(key)-2:], k.t)
			b.Put(key, v)
		}
	}
	err = db.Update(func(tx *bolt.Tx) error {
		vb, _ := viewBucket(tx, DefaultView)
		vb.Bucket(bMeta).Put(kSerial, u32(100))
		vb.Bucket(bMeta).Put(kSeq, u64(0))
		fb, _ := vb.Bucket(bSrc).CreateBucket([]byte("file"))
		put(fb, rrs)
		ab, _ := vb.Bucket(bSrc).CreateBucket([]byte("acme"))
		put(ab, []dns.RR{extra})
		return nil
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	z, _, acme := openZone(t, dir, bigZone(300))
	s := z.View("").Snapshot()
	if s.Serial != 100 || s.Get("_acme-challenge.h1.example.test.", dns.TypeTXT) == nil || s.Node("h300.example.test.") == nil {
		t.Fatalf("old store not served: serial %d", s.Serial)
	}
	if got := acme.Records(""); len(got) != 1 {
		t.Fatalf("acme records %v", got)
	}
	want := dump(s)
	z.Close()
	// Rewritten: chunks and the format mark.
	st, err := acquireStore(dir, "example.test.", nil)
	if err != nil {
		t.Fatal(err)
	}
	st.be.(*boltStorage).view(func(zb *bolt.Bucket) error {
		vb, _ := viewBucket(zoneBucket(zb), DefaultView)
		if f := beU64(vb.Bucket(bMeta).Get(kFormat)); f != storeFormat {
			t.Errorf("format %d after Open", f)
		}
		k, _ := vb.Bucket(bSrc).Bucket([]byte("file")).Cursor().First()
		if bytes.HasPrefix(k, []byte("example.test.")) {
			t.Errorf("old keys remain: %q", k)
		}
		return nil
	})
	st.release()
	z2, _, _ := openZone(t, dir, bigZone(300))
	if got := dump(z2.View("").Snapshot()); got != want {
		t.Fatal("the converted store serves something else")
	}
}
