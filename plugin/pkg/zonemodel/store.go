package zonemodel

import (
	"path/filepath"
	"strings"
	"sync"
)

// store is the durable state of one zone (storage.go), shared by the
// generations of a zone across Corefile reloads (the old generation still
// serves while the new one opens): one per path, reference-counted.
type store struct {
	path string
	be   storage
	refs int
	// mu serializes every writer of the zone, across generations.
	mu sync.Mutex
	// pending: first loads published but not yet written (firststore.go);
	// guarded by mu.
	pending []*pendingWrite
	// current is the newest generation that opened the store; older ones are
	// superseded and refuse writes.
	current *Zone
	// ready is closed once the database is open (db set) or failed (err).
	ready chan struct{}
	err   error
}

var stores = struct {
	sync.Mutex
	m map[string]*store
}{m: map[string]*store{}}

// storePath is the database file of a zone below dir.
func storePath(dir, origin string) string {
	name := strings.TrimSuffix(origin, ".")
	if name == "" {
		name = "root"
	}
	return filepath.Join(dir, "zones", name+".db")
}

// acquireStore returns the open store of path, opening it with open (nil: a
// bbolt file, boltstore.go) if needed. The storage is opened outside the
// lock of all stores (a new file is written and fsynced), so that many zones
// open at once; a second caller for the same path waits for the first one's
// open.
func acquireStore(path string, open func(string) (storage, error)) (*store, error) {
	if open == nil {
		open = openBolt
	}
	stores.Lock()
	if st := stores.m[path]; st != nil {
		st.refs++
		stores.Unlock()
		<-st.ready
		if st.err != nil {
			return nil, st.err
		}
		return st, nil
	}
	st := &store{path: path, refs: 1, ready: make(chan struct{})}
	stores.m[path] = st
	stores.Unlock()
	be, err := open(path)
	if err != nil {
		stores.Lock()
		delete(stores.m, path)
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
		delete(stores.m, st.path)
		st.be.close()
	}
}
