package zonemodel

import (
	"errors"
	"sync"
	"testing"

	"github.com/miekg/dns"
)

// gatedStorage is a storage whose commits wait for the gate (when set) and
// fail while failures are left.
type gatedStorage struct {
	storage
	gate    chan struct{}
	entered chan struct{} // receives when a commit starts waiting at the gate
	mu      sync.Mutex
	fails   int
	commits int
}

func (g *gatedStorage) commit(c *storeCommit) error {
	if g.gate != nil {
		g.entered <- struct{}{}
		<-g.gate
	}
	g.mu.Lock()
	fail := g.fails > 0
	if fail {
		g.fails--
	}
	g.mu.Unlock()
	if fail {
		return errors.New("disk full")
	}
	g.mu.Lock()
	g.commits++
	g.mu.Unlock()
	return g.storage.commit(c)
}

func (g *gatedStorage) storedSerial(t *testing.T) (uint32, bool) {
	t.Helper()
	sv, err := g.loadViews("example.test.", []string{DefaultView})
	if err != nil {
		t.Fatal(err)
	}
	return sv[DefaultView].serial, sv[DefaultView].hasState
}

func gatedOpener(g *gatedStorage) func(dir, origin string) (storage, error) {
	mem := memStorages()
	return func(dir, origin string) (storage, error) {
		be, err := mem(dir, origin)
		g.storage = be
		return g, err
	}
}

// A first load into an empty store is answered before its write ends; a
// change waits for that write and is stored after it.
func TestFirstLoadServedBeforeStored(t *testing.T) {
	g := &gatedStorage{gate: make(chan struct{}), entered: make(chan struct{}, 1)}
	z, acme := openMemZone(t, gatedOpener(g), t.TempDir(), testZone, 10)
	<-g.entered // the first load's commit is waiting at the gate
	if s := z.View("").Snapshot(); s.Serial != 100 || s.Get("www.example.test.", dns.TypeA) == nil {
		t.Fatalf("served before the store write: serial %d", s.Serial)
	}
	if _, stored := g.storedSerial(t); stored {
		t.Fatal("the first load is stored before its write was let through")
	}
	done := make(chan error, 1)
	go func() {
		done <- acme.Update(nil, func(tx *Tx) error {
			tx.Add(rr(t, `_acme-challenge.www.example.test. 60 IN TXT "x"`))
			return nil
		})
	}()
	close(g.gate) // the first load's write, then the change's
	<-g.entered
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if serial, stored := g.storedSerial(t); !stored || serial != 101 {
		t.Fatalf("stored serial %d (%v), want 101", serial, stored)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.commits != 2 {
		t.Fatalf("%d commits, want 2 (the first load, then the change)", g.commits)
	}
}

// A first load whose write failed is still served; the next change writes
// it again before its own, and fails (changing nothing) when that fails.
func TestFirstLoadWriteRetried(t *testing.T) {
	g := &gatedStorage{fails: 2}
	z, acme := openMemZone(t, gatedOpener(g), t.TempDir(), testZone, 10)
	add := func(v string) error {
		return acme.Update(nil, func(tx *Tx) error {
			tx.Add(rr(t, `_acme-challenge.www.example.test. 60 IN TXT "`+v+`"`))
			return nil
		})
	}
	// Open's background write failed once (fails 2 -> 1); this change's
	// retry fails again: the change is refused.
	if err := add("a"); err == nil {
		t.Fatal("a change was accepted while the first load could not be stored")
	}
	if s := z.View("").Snapshot(); s.Serial != 100 || s.Get("_acme-challenge.www.example.test.", dns.TypeTXT) != nil {
		t.Fatalf("a refused change was served: serial %d", s.Serial)
	}
	if err := add("b"); err != nil {
		t.Fatal(err)
	}
	if serial, stored := g.storedSerial(t); !stored || serial != 101 {
		t.Fatalf("stored serial %d (%v), want 101", serial, stored)
	}
}
