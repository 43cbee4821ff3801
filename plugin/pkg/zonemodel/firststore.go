package zonemodel

import "fmt"

// A view's first load into an empty store (a fresh state directory) is
// served before it is written. Writing a large zone (a million records:
// seconds, mostly waiting for the disk) would otherwise hold back the first
// answer, and losing that write loses nothing: until the store holds the
// view's serial, a start loads the same sources again and serves the same
// serial. The write runs in the background holding the store's writer lock
// (store.mu), so every later writer (a change, a reload's Open, Close) waits
// for it; a write that failed is tried again by the next writer before its
// own change, and that change fails with the error if it fails again.

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
	return nil
}

// writePendingAndUnlock is Open's background write: it owns the lock Open
// took (handed over, not released) and releases it when done.
func (st *store) writePendingAndUnlock(logf func(string, ...any)) {
	defer st.mu.Unlock()
	if err := st.writePending(); err != nil {
		logf("%v; it is served but not stored: the next change tries again", err)
	}
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
