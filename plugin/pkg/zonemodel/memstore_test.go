package zonemodel

import (
	"os"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// openMemZone makes and opens a zone whose state is in the memory storage
// of open, with the base file content and a dynamic source "acme".
func openMemZone(t *testing.T, open func(dir, origin string) (storage, error), dir, text string, maxEntries int) (*Zone, *Source) {
	t.Helper()
	z := New(Config{Origin: "example.test", StateDir: dir, JournalMaxEntries: maxEntries, openStorage: open})
	base, _ := z.AddSource("file", SourceOptions{Base: true})
	if err := base.SetInitial(nil, parseTest(t, text)); err != nil {
		t.Fatal(err)
	}
	acme, _ := z.AddSource("acme", SourceOptions{Dynamic: true})
	if err := z.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(z.Close)
	return z, acme
}

// The model keeps its state in a memory storage as it does in bbolt:
// serial, records, source metadata and journal survive a restart, the
// journal is trimmed, and no file is written.
func TestMemoryStorageAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	open := memStorages()
	z, acme := openMemZone(t, open, dir, testZone, 3)
	for i := range 4 {
		if err := acme.Update(nil, func(tx *Tx) error {
			tx.Add(rr(t, `_acme-challenge.www.example.test. 60 IN TXT "`+string(rune('a'+i))+`"`))
			tx.SetMeta("n", []byte{byte(i)})
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	if n := z.View("").JournalLen(); n != 3 {
		t.Fatalf("journal holds %d entries, want 3", n)
	}
	z.Close()

	if m, err := New(Config{Origin: "example.test", StateDir: dir, openStorage: open}).StoredMeta("acme"); err != nil || len(m["n"]) != 1 || m["n"][0] != 3 {
		t.Fatalf("stored metadata before Open: %v %v", m, err)
	}
	edited := strings.Replace(testZone, "192.0.2.10", "192.0.2.11", 1)
	z2, acme2 := openMemZone(t, open, dir, edited, 3)
	v := z2.View("")
	s := v.Snapshot()
	if s.Serial != 105 {
		t.Fatalf("serial after restart %d, want 105", s.Serial)
	}
	if set := s.Get("_acme-challenge.www.example.test.", dns.TypeTXT); set == nil || len(set.RRs) != 4 {
		t.Fatalf("dynamic records after restart: %v", set)
	}
	if got := acme2.Meta("n"); len(got) != 1 || got[0] != 3 {
		t.Fatalf("source metadata after restart: %v", got)
	}
	entries, ok, err := v.JournalSince(102)
	if err != nil || !ok || len(entries) != 3 || entries[2].Source != "startup" {
		t.Fatalf("journal after restart: ok %v err %v, %d entries", ok, err, len(entries))
	}
	if _, ok, _ := v.JournalSince(101); ok {
		t.Fatal("trimmed journal still claims to reach serial 101")
	}
	if when, ok := v.LastChange(); !ok || !when.Equal(entries[2].Time) {
		t.Fatalf("last change %v %v, want %v", when, ok, entries[2].Time)
	}
	if des, err := os.ReadDir(dir); err != nil || len(des) != 0 {
		t.Fatalf("state directory holds %v (%v)", des, err)
	}
}
