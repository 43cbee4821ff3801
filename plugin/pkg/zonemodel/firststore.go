package zonemodel

import (
	"fmt"
	"time"
)

// A view's first load into an empty store (a fresh state directory) is
// served before it is written. Writing a large zone (a million records:
// seconds, mostly waiting for the disk) would otherwise hold back the first
// answer, and losing that write loses nothing: until the store holds the
// view's serial, a start loads the same sources again and serves the same
// serial. The write waits firstWriteDelay after Open, so that it does not
// compete with the rest of the server's start for the CPU, unless a writer
// (a change, a reload's Open, Close, Sync) comes first: every writer holds
// the store's writer lock (store.mu) and writes what is pending before its
// own change, which fails with the error if that write fails.

// firstWriteDelay is how long after Open a pending first load is written
// when no writer wrote it before.
var firstWriteDelay = time.Second

// pendingWrite is a first load published but not yet stored.
type pendingWrite struct {
	z       *Zone
	tx      *Tx
	results []*viewResult
}

// deferFirstStore publishes the Open-time transaction of a view with
// nothing stored and leaves its write to Open's caller (store.pending),
// reporting whether it did.
func (z *Zone) deferFirstStore(st *store, tx *Tx, results []*viewResult) bool {
	if !tx.open || !tx.fresh {
		return false
	}
	trims := map[*View]journalTrim{}
	for _, r := range results {
		if r.entry != nil {
			return false
		}
		trims[r.v] = journalTrim{first: r.v.jFirst, bytes: r.v.jBytes}
		if r.first {
			trims[r.v] = journalTrim{first: r.v.jNext}
		}
	}
	z.publish(tx, results, trims)
	st.pending = append(st.pending, &pendingWrite{z: z, tx: tx, results: results})
	return true
}

// writePending stores the first loads still pending. Caller holds st.mu.
func (st *store) writePending() error {
	for len(st.pending) > 0 {
		p := st.pending[0]
		if _, err := p.z.write(st, p.tx, p.results); err != nil {
			return fmt.Errorf("zone %s: storing its first load: %w", p.z.Origin, err)
		}
		st.pending = st.pending[1:]
	}
	st.pending = nil
	if st.pendingTimer != nil && st.pendingTimer.Stop() {
		st.pendingTimer = nil
		st.release() // the timer's reference
	}
	return nil
}

// writeLater has the pending first loads written after firstWriteDelay.
// Caller holds st.mu.
func (st *store) writeLater(logf func(string, ...any)) {
	if st.pendingTimer != nil {
		return
	}
	stores.Lock()
	st.refs++ // the store stays open until the timer has written
	stores.Unlock()
	st.pendingTimer = time.AfterFunc(firstWriteDelay, func() {
		st.mu.Lock()
		if st.pendingTimer == nil { // a writer stopped it (and released)
			st.mu.Unlock()
			return
		}
		st.pendingTimer = nil
		err := st.writePending()
		st.mu.Unlock()
		if err != nil {
			logf("%v; it is served but not stored: the next change tries again", err)
		}
		st.release()
	})
}

// Sync waits until what the zone serves is stored (its first load may
// still be written in the background) and returns the error of a write
// that failed.
func (z *Zone) Sync() error {
	if !z.opened.Load() {
		return nil
	}
	z.st.mu.Lock()
	defer z.st.mu.Unlock()
	return z.st.writePending()
}
