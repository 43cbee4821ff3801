package zonemodel

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	bolt "go.etcd.io/bbolt"
)

// legacyFixture copies the per-zone files of testdata/legacy (written by
// the code before the shared database: example.test. at serial 102 after
// two ACME changes, with the acme source's metadata n=3; the root zone at
// serial 7) into dir/zones.
func legacyFixture(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(dir, "zones"), 0o750); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"example.test.db", "root.db"} {
		f, err := os.Open(filepath.Join("testdata", "legacy", name+".gz"))
		if err != nil {
			t.Fatal(err)
		}
		zr, err := gzip.NewReader(f)
		if err != nil {
			t.Fatal(err)
		}
		out, err := os.Create(filepath.Join(dir, "zones", name))
		if err == nil {
			_, err = io.Copy(out, zr)
			out.Close()
		}
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
}

func openRoot(t *testing.T, dir string) *Zone {
	t.Helper()
	z := New(Config{Origin: ".", StateDir: dir})
	base, _ := z.AddSource("file", SourceOptions{Base: true})
	var rrs []dns.RR
	for _, s := range []string{". 3600 IN SOA a.root-servers.net. nstld.verisign-grs.com. 7 1800 900 604800 86400",
		". 3600 IN NS a.root-servers.net.", "a.root-servers.net. 3600 IN A 198.41.0.4"} {
		rrs = append(rrs, rr(t, s))
	}
	if err := base.SetInitial(nil, rrs); err != nil {
		t.Fatal(err)
	}
	if err := z.Open(); err != nil {
		t.Fatal(err)
	}
	return z
}

// checkMigrated: example.test. serves its stored serial, records, journal
// and source metadata; the root zone its serial.
func checkMigrated(t *testing.T, dir string) {
	t.Helper()
	z, _, acme := openZone(t, dir, testZone)
	v := z.View("")
	s := v.Snapshot()
	if s.Serial != 102 || s.Get("_acme-challenge.www.example.test.", dns.TypeTXT) == nil ||
		s.Get("_acme-challenge.example.test.", dns.TypeTXT) == nil {
		t.Fatalf("example.test.: serial %d, records\n%s", s.Serial, dump(s))
	}
	if m := acme.Meta("n"); len(m) != 1 || m[0] != 3 {
		t.Errorf("acme metadata n = %v, want [3]", m)
	}
	if es, ok, err := v.JournalSince(100); !ok || err != nil || len(es) != 2 {
		t.Errorf("journal since 100: %d entries, %v, %v; want 2", len(es), ok, err)
	}
	z.Close()
	root := openRoot(t, dir)
	if s := root.View("").Snapshot(); s.Serial != 7 || s.Get("a.root-servers.net.", dns.TypeA) == nil {
		t.Errorf("root: serial %d", s.Serial)
	}
	root.Close()
}

// The per-zone files of the code before the shared database are copied
// into it at its open, then removed; what they held is served.
func TestMigratesPerZoneFiles(t *testing.T) {
	dir := t.TempDir()
	legacyFixture(t, dir)
	checkMigrated(t, dir)
	if _, err := os.Stat(filepath.Join(dir, "zones")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the per-zone files' directory is still there: %v", err)
	}
	for _, o := range []string{"example.test.", "."} {
		if ok, err := HasState(dir, o); !ok || err != nil {
			t.Errorf("HasState(%s) = %v, %v", o, ok, err)
		}
	}
	// Again, from the shared database alone.
	checkMigrated(t, dir)
}

// A per-zone file that cannot be migrated (corrupt) fails its own zone,
// with the file named, and stays where it is; the other zones are migrated
// and served.
func TestMigrationCorruptFileFailsOnlyItsZone(t *testing.T) {
	dir := t.TempDir()
	legacyFixture(t, dir)
	bad := filepath.Join(dir, "zones", "bad.test.db")
	if err := os.WriteFile(bad, bytes.Repeat([]byte("not a database "), 4096), 0o600); err != nil {
		t.Fatal(err)
	}
	checkMigrated(t, dir)
	z := New(Config{Origin: "bad.test.", StateDir: dir})
	base, _ := z.AddSource("file", SourceOptions{Base: true})
	if err := base.SetInitial(nil, []dns.RR{rr(t, "bad.test. 3600 IN SOA ns hostmaster 1 7200 3600 1209600 300"), rr(t, "bad.test. 3600 IN NS ns.example.")}); err != nil {
		t.Fatal(err)
	}
	err := z.Open()
	if err == nil || !strings.Contains(err.Error(), bad) {
		z.Close()
		t.Fatalf("the zone of a corrupt per-zone file opened: %v", err)
	}
	if _, err := os.Stat(bad); err != nil {
		t.Errorf("the corrupt file is gone: %v", err)
	}
}

// A copy committed but whose file a crash left in place is copied again at
// the next open (over its bucket, not beside it).
func TestMigrationAgainAfterCrash(t *testing.T) {
	dir := t.TempDir()
	legacyFixture(t, dir)
	db, err := bolt.Open(dbPath(dir), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		_, err := copyZoneFile(tx, filepath.Join(dir, "zones", "example.test.db"))
		return err
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	checkMigrated(t, dir)
}

// A state directory whose database another process holds is refused with
// an error that says so (bbolt's lock on the file; a second descriptor of
// this process is refused as another process's would be).
func TestStateLockedByAnotherProcess(t *testing.T) {
	defer func(d time.Duration) { lockTimeout = d }(lockTimeout)
	lockTimeout = 50 * time.Millisecond
	dir := t.TempDir()
	other, err := bolt.Open(dbPath(dir), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	z := New(Config{Origin: "example.test.", StateDir: dir})
	base, _ := z.AddSource("file", SourceOptions{Base: true})
	base.SetInitial(nil, parseTest(t, testZone))
	err = z.Open()
	if err == nil || !strings.Contains(err.Error(), "another dnspki running with the same state directory") {
		t.Fatalf("Open beside another holder of the database: %v", err)
	}
	other.Close()
	if err := z.Open(); err != nil {
		t.Fatalf("Open once the other let go: %v", err)
	}
	z.Close()
}

// One database per state directory, opened by the first zone that needs
// it and shared by every zone and generation of the directory; closed with
// the last one.
func TestStateDBSharedAndReleased(t *testing.T) {
	dir := t.TempDir()
	a1, _, _ := openZone(t, dir, testZone)
	b := openRoot(t, dir)
	s := stateDBs.m[dirKey(dir)]
	if s == nil || s.refs != 2 {
		t.Fatalf("state database %+v, want one with 2 references", s)
	}
	// A reload: the new generation opens before the old one closes.
	a2, _, acme := openZone(t, dir, testZone)
	a1.Close()
	b.Close()
	if stateDBs.m[dirKey(dir)] != s {
		t.Fatal("the database was closed while a zone still uses it")
	}
	if err := acme.Update(nil, func(tx *Tx) error {
		tx.Add(rr(t, `_acme-challenge.example.test. 60 IN TXT "x"`))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	a2.Close()
	stateDBs.Lock()
	_, open := stateDBs.m[dirKey(dir)]
	stateDBs.Unlock()
	if open {
		t.Fatal("the database is still open after its last zone closed")
	}
	names, _ := filepath.Glob(filepath.Join(dir, "*"))
	if len(names) != 1 || filepath.Base(names[0]) != "zones.db" {
		t.Errorf("state directory holds %v, want zones.db alone", names)
	}
	a3, _, _ := openZone(t, dir, testZone)
	if s := a3.View("").Snapshot(); s.Serial != 101 {
		t.Errorf("serial %d after the reopen, want 101", s.Serial)
	}
}

// RemoveState drops the zone's bucket, and only that: the zone starts
// afresh, the others keep theirs. It refuses while the zone is open.
func TestRemoveStateDropsBucket(t *testing.T) {
	dir := t.TempDir()
	a, _, acme := openZone(t, dir, testZone)
	if err := acme.Update(nil, func(tx *Tx) error {
		tx.Add(rr(t, `_acme-challenge.example.test. 60 IN TXT "x"`))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	root := openRoot(t, dir)
	if err := RemoveState(dir, "example.test."); err == nil {
		t.Error("RemoveState of an open zone succeeded")
	}
	a.Close()
	root.Close()
	if err := RemoveState(dir, "example.test"); err != nil {
		t.Fatal(err)
	}
	if ok, err := HasState(dir, "example.test."); ok || err != nil {
		t.Errorf("example.test. still has state: %v, %v", ok, err)
	}
	if ok, err := HasState(dir, "."); !ok || err != nil {
		t.Errorf("the root zone lost its state: %v, %v", ok, err)
	}
	a2, _, _ := openZone(t, dir, testZone)
	if s := a2.View("").Snapshot(); s.Serial != 100 || s.Get("_acme-challenge.example.test.", dns.TypeTXT) != nil {
		t.Errorf("after RemoveState: serial %d, want the file's 100 and no TXT", s.Serial)
	}
}

// Before any zone of a directory opened, a zone file's digest is checked
// against the stored state without creating the database.
func TestNoDatabaseBeforeOpen(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "zone")
	if err := os.WriteFile(path, []byte(testZone), 0o644); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(dir, "state")
	z := New(Config{Origin: "example.test.", StateDir: state})
	src, _ := z.AddSource("file", SourceOptions{Base: true})
	if zd, err := src.SetInitialFile(nil, path, false); err != nil || zd.Unchanged {
		t.Fatalf("SetInitialFile: %v", err)
	}
	if _, err := os.Stat(dbPath(state)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("database before Open: %v", err)
	}
	if err := z.Open(); err != nil {
		t.Fatal(err)
	}
	z.Close()
	if _, err := os.Stat(dbPath(state)); err != nil {
		t.Fatalf("no database after Open: %v", err)
	}
	z = New(Config{Origin: "example.test.", StateDir: state})
	src, _ = z.AddSource("file", SourceOptions{Base: true})
	if zd, err := src.SetInitialFile(nil, path, false); err != nil || !zd.Unchanged {
		t.Fatalf("the stored file was not recognized: %v", err)
	}
	// The read before Open holds the database open until Open takes it
	// over (one open for a setup of many zones), Close releases it.
	held := stateDBs.m[dirKey(state)]
	if held == nil {
		t.Fatal("the database was closed after the read before Open")
	}
	if err := z.Open(); err != nil {
		t.Fatal(err)
	}
	if s := stateDBs.m[dirKey(state)]; s != held || s.refs != 1 {
		t.Errorf("after Open: database %p (held %p), want the held one with 1 reference", s, held)
	}
	z.Close()
	never := New(Config{Origin: "example.test.", StateDir: state})
	src, _ = never.AddSource("file", SourceOptions{Base: true})
	src.SetInitialFile(nil, path, false)
	never.Close()
	stateDBs.Lock()
	defer stateDBs.Unlock()
	if s := stateDBs.m[dirKey(state)]; s != nil {
		t.Errorf("the database is still open (%d references) after its zones closed", s.refs)
	}
}

// A first load is written in many parts (separate transactions, between
// which other zones commit) and reads back whole.
func TestFirstLoadInParts(t *testing.T) {
	defer func(n int) { firstLoadBatch = n }(firstLoadBatch)
	firstLoadBatch = 4 << 10
	dir := t.TempDir()
	root := openRoot(t, dir)
	defer root.Close()
	sdb := stateDBs.m[dirKey(dir)]
	txid := func() (id int) {
		sdb.db.View(func(tx *bolt.Tx) error { id = tx.ID(); return nil })
		return id
	}
	before := txid()
	z, _, _ := openZone(t, dir, bigZone(10000))
	if err := z.Sync(); err != nil { // the first load is written in the background
		t.Fatal(err)
	}
	if n := txid() - before; n < 5 {
		t.Errorf("a first load of 10000 names in %d transactions", n)
	}
	want := dump(z.View("").Snapshot())
	z.Close()
	z2, _, _ := openZone(t, dir, bigZone(10000))
	if got := dump(z2.View("").Snapshot()); got != want {
		t.Fatal("the zone reads back different")
	}
}
