package zonemodel

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// groupRound runs n calls of g queued behind a transaction held open until
// all of them are queued; call i puts key round+i, or fails if fail(i). It
// returns each call's error and the ID of the transaction it ran in (the
// last one, if run again alone).
func groupRound(t *testing.T, g *groupCommit, round string, n int, fail func(int) bool) ([]error, []int) {
	t.Helper()
	entered, release := make(chan struct{}), make(chan struct{})
	holder := make(chan error, 1)
	go func() {
		holder <- g.update(func(tx *bolt.Tx) error {
			close(entered)
			<-release
			return nil
		})
	}()
	<-entered
	errs, ids := make([]error, n), make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = g.update(func(tx *bolt.Tx) error {
				ids[i] = tx.ID()
				if fail(i) {
					tx.Bucket([]byte("b")).Put([]byte("poison"), []byte("x"))
					return fmt.Errorf("call %d fails", i)
				}
				return tx.Bucket([]byte("b")).Put([]byte(round+fmt.Sprint(i)), []byte("x"))
			})
		}()
	}
	queued := func() int { g.mu.Lock(); defer g.mu.Unlock(); return len(g.queue) }
	for try := 0; queued() < n; try++ {
		if try > 30000 {
			t.Fatalf("%d calls queued, want %d", queued(), n)
		}
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	if err := <-holder; err != nil {
		t.Fatal(err)
	}
	return errs, ids
}

// Writers that queue behind a transaction commit together in the next one;
// a failing call fails alone, the others of its batch commit.
func TestGroupCommit(t *testing.T) {
	db, err := bolt.Open(filepath.Join(t.TempDir(), "g.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket([]byte("b")); return err })
	g := &groupCommit{db: db}

	errs, ids := groupRound(t, g, "a", 20, func(int) bool { return false })
	for i := range 20 {
		if errs[i] != nil || ids[i] != ids[0] {
			t.Errorf("call %d: %v, transaction %d (call 0: %d)", i, errs[i], ids[i], ids[0])
		}
	}

	errs, _ = groupRound(t, g, "b", 10, func(i int) bool { return i == 5 })
	for i, err := range errs {
		if (i == 5) != (err != nil) {
			t.Errorf("call %d: %v", i, err)
		}
	}
	db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("b"))
		for i := range 10 {
			if (b.Get([]byte("b"+fmt.Sprint(i))) == nil) != (i == 5) {
				t.Errorf("key %d stored: %v", i, b.Get([]byte("b"+fmt.Sprint(i))) != nil)
			}
		}
		if b.Get([]byte("poison")) != nil {
			t.Error("the failed call's write was committed")
		}
		return nil
	})
	if g.busy || len(g.queue) != 0 {
		t.Errorf("after the calls: busy %v, %d queued", g.busy, len(g.queue))
	}
	if err := g.update(func(*bolt.Tx) error { return errors.New("x") }); err == nil {
		t.Error("a lone failing call succeeded")
	}
}
