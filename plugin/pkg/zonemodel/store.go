package zonemodel

import (
	"sync"
	"time"
)

// store is the durable state of one zone (storage.go), shared by the
// generations of a zone across Corefile reloads (the old generation still
// serves while the new one opens): one per state directory and origin,
// reference-counted.
type store struct {
	key  zoneKey
	be   storage
	refs int
	// mu serializes every writer of the zone, across generations.
	mu sync.Mutex
	// pending: first loads published but not yet written (firststore.go);
	// pendingTimer writes them later unless a writer does first (it holds a
	// reference to the store; whoever clears it releases that). Guarded by
	// mu.
	pending      []*pendingWrite
	pendingTimer *time.Timer
	// current is the newest generation that opened the store; older ones are
	// superseded and refuse writes.
	current *Zone
	// ready is closed once the storage is open (be set) or failed (err).
	ready chan struct{}
	err   error
}

// zoneKey names a zone's store: its state directory (dirKey) and origin.
type zoneKey struct {
	dir, origin string
}

var stores = struct {
	sync.Mutex
	m map[zoneKey]*store
}{m: map[zoneKey]*store{}}

// acquireStore returns the open store of the zone in dir, opening its
// storage with open (nil: its bucket of the directory's bbolt database,
// boltstore.go) if needed. The storage is opened outside the lock of all
// stores (the first one of a directory opens the database), so that many
// zones open at once; a second caller for the same zone waits for the first
// one's open.
func acquireStore(dir, origin string, open func(dir, origin string) (storage, error)) (*store, error) {
	if open == nil {
		open = openBolt
	}
	key := zoneKey{dirKey(dir), origin}
	stores.Lock()
	if st := stores.m[key]; st != nil {
		st.refs++
		stores.Unlock()
		<-st.ready
		if st.err != nil {
			return nil, st.err
		}
		return st, nil
	}
	st := &store{key: key, refs: 1, ready: make(chan struct{})}
	stores.m[key] = st
	stores.Unlock()
	be, err := open(dir, origin)
	if err != nil {
		stores.Lock()
		delete(stores.m, key)
		stores.Unlock()
		st.err = err
		close(st.ready)
		return nil, err
	}
	st.be = be
	close(st.ready)
	return st, nil
}

func (st *store) release() {
	stores.Lock()
	defer stores.Unlock()
	st.refs--
	if st.refs == 0 {
		delete(stores.m, st.key)
		st.be.close()
	}
}
