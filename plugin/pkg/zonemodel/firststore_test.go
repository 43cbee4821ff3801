package zonemodel

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// gatedStorage is a storage whose commits wait for the gate (when set) and
// fail while failures are left.
type gatedStorage struct {
	storage
	gate      chan struct{}
	entered   chan struct{} // receives when a commit starts waiting at the gate
	mu        sync.Mutex
	fails     int
	commits   int
	committed chan struct{} // receives after each commit (when made)
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
	err := g.storage.commit(c)
	g.mu.Lock()
	g.commits++
	g.mu.Unlock()
	select {
	case g.committed <- struct{}{}:
	default:
	}
	return err
}

// waitCommits waits until n commits went through (the test's deadline
// bounds it).
func (g *gatedStorage) waitCommits(n int) error {
	for {
		g.mu.Lock()
		c := g.commits
		g.mu.Unlock()
		if c >= n {
			return nil
		}
		<-g.committed
	}
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

// delayFirstWrites sets firstWriteDelay for the test.
func delayFirstWrites(t *testing.T, d time.Duration) {
	old := firstWriteDelay
	firstWriteDelay = d
	t.Cleanup(func() { firstWriteDelay = old })
}

// A first load into an empty store is answered before it is written; a
// change writes it first, then itself.
func TestFirstLoadServedBeforeStored(t *testing.T) {
	delayFirstWrites(t, time.Hour) // only the change writes
	g := &gatedStorage{gate: make(chan struct{}), entered: make(chan struct{}, 1)}
	z, acme := openMemZone(t, gatedOpener(g), t.TempDir(), testZone, 10)
	if s := z.View("").Snapshot(); s.Serial != 100 || s.Get("www.example.test.", dns.TypeA) == nil {
		t.Fatalf("served before the store write: serial %d", s.Serial)
	}
	done := make(chan error, 1)
	go func() {
		done <- acme.Update(nil, func(tx *Tx) error {
			tx.Add(rr(t, `_acme-challenge.www.example.test. 60 IN TXT "x"`))
			return nil
		})
	}()
	<-g.entered // the change writes the first load: held at the gate
	if _, stored := g.storedSerial(t); stored {
		t.Fatal("the first load is stored before its write was let through")
	}
	close(g.gate)
	<-g.entered // then the change's own commit
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

// With no writer, the first load is written firstWriteDelay after Open.
func TestFirstLoadWrittenLater(t *testing.T) {
	delayFirstWrites(t, time.Millisecond)
	g := &gatedStorage{gate: make(chan struct{}), entered: make(chan struct{}, 1), committed: make(chan struct{}, 1)}
	close(g.gate)
	openMemZone(t, gatedOpener(g), t.TempDir(), testZone, 10)
	<-g.entered // the timer's commit
	if err := g.waitCommits(1); err != nil {
		t.Fatal(err)
	}
	if serial, stored := g.storedSerial(t); !stored || serial != 100 {
		t.Fatalf("stored serial %d (%v), want 100", serial, stored)
	}
}

// A first load whose write failed is still served; the next change writes
// it again before its own, and fails (changing nothing) when that fails.
func TestFirstLoadWriteRetried(t *testing.T) {
	delayFirstWrites(t, time.Hour)
	g := &gatedStorage{fails: 1}
	z, acme := openMemZone(t, gatedOpener(g), t.TempDir(), testZone, 10)
	add := func(v string) error {
		return acme.Update(nil, func(tx *Tx) error {
			tx.Add(rr(t, `_acme-challenge.www.example.test. 60 IN TXT "`+v+`"`))
			return nil
		})
	}
	// The change's write of the first load fails: the change is refused.
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
