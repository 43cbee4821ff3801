package zonemodel

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// Before the shared database (statedb.go), each zone had a bbolt file of
// its own, STATE/zones/<zone>.db ("root.db" for the root), with the layout a
// zone's bucket has now. migrateZoneFiles copies each such file into its
// zone's bucket, several files per transaction; only once that transaction
// is committed (fsynced) are the files removed, and the directory synced so
// that a removed file cannot come back after a crash and be copied over
// newer state. A file whose copy was committed but that a crash left in
// place is copied again over its bucket at the next open (nothing wrote the
// bucket in between: migration runs before any zone uses the database).

// legacyPath is a zone's file of the layout before the shared database.
func legacyPath(dir, origin string) string {
	name := strings.TrimSuffix(origin, ".")
	if name == "" {
		name = "root"
	}
	return filepath.Join(dir, "zones", name+".db")
}

// migrateBatch bounds the octets (keys and values) copied in one
// transaction.
const migrateBatch = 64 << 20

// migrateZoneFiles moves the per-zone files of dir into db. A file that
// cannot be copied (a corrupt one) stays where it is and fails only its own
// zone: it is returned by origin, with why.
func migrateZoneFiles(dir string, db *bolt.DB) (map[string]error, error) {
	zdir := filepath.Join(dir, "zones")
	files, err := filepath.Glob(filepath.Join(zdir, "*.db"))
	if err != nil || len(files) == 0 {
		return nil, err
	}
	slices.Sort(files)
	failed := map[string]error{}
	for len(files) > 0 {
		n, err := migrateFiles(db, files)
		if err != nil {
			// One file at a time: the one that fails stays behind.
			if n, err = migrateFiles(db, files[:1]); err != nil {
				if errors.Is(err, errLocked) {
					return nil, err
				}
				failed[originOf(files[0])] = err
				n = 1
			}
		}
		files = files[n:]
	}
	if err := syncDir(zdir); err != nil {
		return nil, fmt.Errorf("migrated %s: %w", zdir, err)
	}
	os.Remove(zdir) // only if empty
	return failed, nil
}

// errLocked is a per-zone file held by another process.
var errLocked = errors.New("locked by another process (is another dnspki running with the same state directory?)")

// migrateFiles copies the first files (about migrateBatch octets, at most
// len(files)) into their zones' buckets in one transaction, then removes
// them; it returns how many.
func migrateFiles(db *bolt.DB, files []string) (int, error) {
	n := 0
	err := db.Update(func(tx *bolt.Tx) error {
		size := 0
		for n = 0; n < len(files) && size < migrateBatch; n++ {
			copied, err := copyZoneFile(tx, files[n])
			if err != nil {
				return fmt.Errorf("migrating %s into %s: %w", files[n], db.Path(), err)
			}
			size += copied
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	for _, f := range files[:n] {
		if err := os.Remove(f); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return 0, fmt.Errorf("migrated %s, but: %w", f, err)
		}
	}
	return n, nil
}

// originOf is the zone of a per-zone file.
func originOf(file string) string {
	name := strings.TrimSuffix(filepath.Base(file), ".db")
	if name == "root" {
		return "."
	}
	return Fqdn(name)
}

// copyZoneFile copies a per-zone file into its zone's bucket (replacing
// what a copy interrupted before the file's removal left there); it
// returns the octets copied.
func copyZoneFile(tx *bolt.Tx, file string) (int, error) {
	old, err := bolt.Open(file, 0o600, &bolt.Options{Timeout: lockTimeout, ReadOnly: true})
	if err != nil {
		if errors.Is(err, bolt.ErrTimeout) {
			return 0, errLocked
		}
		return 0, err
	}
	defer old.Close()
	origin := []byte(originOf(file))
	if tx.Bucket(origin) != nil {
		if err := tx.DeleteBucket(origin); err != nil {
			return 0, err
		}
	}
	zb, err := tx.CreateBucket(origin)
	if err != nil {
		return 0, err
	}
	size := 0
	err = old.View(func(otx *bolt.Tx) error {
		return otx.ForEach(func(name []byte, b *bolt.Bucket) error {
			nb, err := zb.CreateBucket(slices.Clone(name))
			if err != nil {
				return err
			}
			return copyBucket(nb, b, &size)
		})
	})
	return size, err
}

// copyBucket copies src's keys and nested buckets into dst (in key order:
// pages filled, as a first load fills them), adding the octets to size.
func copyBucket(dst, src *bolt.Bucket, size *int) error {
	dst.FillPercent = 0.9
	return src.ForEach(func(k, v []byte) error {
		*size += len(k) + len(v)
		if v != nil {
			return dst.Put(slices.Clone(k), slices.Clone(v))
		}
		nb, err := dst.CreateBucket(slices.Clone(k))
		if err != nil {
			return err
		}
		return copyBucket(nb, src.Bucket(k), size)
	})
}

// syncDir makes the removals of a directory's files durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
