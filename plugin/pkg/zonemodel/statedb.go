package zonemodel

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// stateDB is the bbolt database of one state directory, shared by every
// zone stored there (a bucket per zone, boltstore.go): opened once, when the
// first zone of the directory needs it, closed when the last one releases
// it (a reload's new generation acquires its zones before the old one
// releases them, so the database stays open across reloads).
type stateDB struct {
	key   string // the directory, absolute
	db    *bolt.DB
	gc    groupCommit
	refs  int
	ready chan struct{} // closed once open (db set) or failed (err)
	err   error

	mu    sync.Mutex
	zones map[string]bool // origins that have a bucket
	// failed: zones whose per-zone file of an older version could not be
	// migrated (left in place), and why; they do not open.
	failed map[string]error
}

var stateDBs = struct {
	sync.Mutex
	m map[string]*stateDB
}{m: map[string]*stateDB{}}

// lockTimeout is how long an open waits for the file lock of another
// process (a variable for tests).
var lockTimeout = 5 * time.Second

// dirKey is the key of a state directory: its absolute path, so that two
// spellings of one directory share the database.
func dirKey(dir string) string {
	if abs, err := filepath.Abs(dir); err == nil {
		return abs
	}
	return filepath.Clean(dir)
}

// dbPath is the database file of a state directory.
func dbPath(dir string) string { return filepath.Join(dir, "zones.db") }

// acquireDB returns the open database of dir, opening it (and migrating
// the per-zone files of older versions into it, migrate.go) if needed. A
// second caller waits for the first one's open.
func acquireDB(dir string) (*stateDB, error) {
	key := dirKey(dir)
	stateDBs.Lock()
	if s := stateDBs.m[key]; s != nil {
		s.refs++
		stateDBs.Unlock()
		<-s.ready
		if s.err != nil {
			s.release()
			return nil, s.err
		}
		return s, nil
	}
	s := &stateDB{key: key, refs: 1, ready: make(chan struct{})}
	stateDBs.m[key] = s
	stateDBs.Unlock()
	s.err = s.open()
	close(s.ready)
	if s.err != nil {
		err := s.err
		s.release()
		return nil, err
	}
	return s, nil
}

// open opens the database file, migrates older per-zone files into it and
// reads which zones it holds.
func (s *stateDB) open() error {
	path := dbPath(s.key)
	if err := os.MkdirAll(s.key, 0o750); err != nil {
		return fmt.Errorf("state directory: %w", err)
	}
	// The file is mapped 1 GiB at a time at least (address space, not
	// memory): bbolt remaps when the file outgrows the map, copying every
	// node of the transaction in progress, which made a first load of a
	// large zone slow.
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: lockTimeout, InitialMmapSize: 1 << 30,
		FreelistType: bolt.FreelistMapType, NoFreelistSync: true})
	if err != nil {
		if errors.Is(err, bolt.ErrTimeout) {
			return fmt.Errorf("%s: locked by another process (is another dnspki running with the same state directory?)", path)
		}
		return fmt.Errorf("%s: %w", path, err)
	}
	s.db, s.gc.db = db, db
	if s.failed, err = migrateZoneFiles(s.key, db); err != nil {
		db.Close()
		return err
	}
	if s.zones, err = listZones(db); err != nil {
		db.Close()
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// listZones lists the zones that have a bucket.
func listZones(db *bolt.DB) (map[string]bool, error) {
	zones := map[string]bool{}
	err := db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, _ *bolt.Bucket) error {
			zones[string(name)] = true
			return nil
		})
	})
	return zones, err
}

// release drops a reference; the last one closes the database.
func (s *stateDB) release() {
	stateDBs.Lock()
	defer stateDBs.Unlock()
	s.refs--
	if s.refs > 0 {
		return
	}
	delete(stateDBs.m, s.key)
	if s.db != nil && s.err == nil {
		s.db.Close()
	}
}

// has reports whether the zone has a bucket.
func (s *stateDB) has(origin string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.zones[origin]
}

// update runs fn in a write transaction (groupCommit) on behalf of the
// zone, which has a bucket afterwards.
func (s *stateDB) update(origin string, fn func(*bolt.Tx) error) error {
	err := s.gc.update(fn)
	if err == nil {
		s.mu.Lock()
		s.zones[origin] = true
		s.mu.Unlock()
	}
	return err
}

// dropZone deletes the zone's bucket.
func (s *stateDB) dropZone(origin string) error {
	err := s.gc.update(func(tx *bolt.Tx) error {
		if tx.Bucket([]byte(origin)) == nil {
			return nil
		}
		return tx.DeleteBucket([]byte(origin))
	})
	if err == nil {
		s.mu.Lock()
		delete(s.zones, origin)
		s.mu.Unlock()
	}
	return err
}

// mayHoldZone reports whether dir's state may hold the zone, without
// opening anything: from the open database's list, else whether a database
// file (or the zone's file of an older version) exists.
func mayHoldZone(dir, origin string) bool {
	stateDBs.Lock()
	s := stateDBs.m[dirKey(dir)]
	stateDBs.Unlock()
	if s != nil {
		select {
		case <-s.ready:
			if s.err == nil {
				return s.has(origin)
			}
		default:
		}
		return true // being opened: ask it
	}
	for _, p := range []string{dbPath(dir), legacyPath(dir, origin)} {
		if _, err := os.Stat(p); err == nil {
			return true
		}
	}
	return false
}
