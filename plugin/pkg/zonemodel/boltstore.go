package zonemodel

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

// boltStorage keeps a zone's state in one bbolt file. Layout: bucket "views",
// in it a bucket per view with "meta" (serial, seq: the next journal number,
// format, digest: the ZONEMD algorithm), "journal" (entries by number),
// "src" (a bucket per source of chunks, boltio.go) and "digest" (per source
// the digest of the zone file its records come from); bucket "srcmeta", in
// it a bucket per source of its metadata.
type boltStorage struct {
	path string
	db   *bolt.DB
	p    packer // used by writers (under the zone's store lock)
}

var (
	bViews   = []byte("views")
	bSrcMeta = []byte("srcmeta")
	bMeta    = []byte("meta")
	bJournal = []byte("journal")
	bSrc     = []byte("src")
	bDigest  = []byte("digest")
	kSerial  = []byte("serial")
	kSeq     = []byte("seq")
	kFormat  = []byte("format")
	// kMdAlg is the view metadata key recording the hash algorithm of the
	// model's ZONEMD the view's snapshot carries (digest.go).
	kMdAlg = []byte("digest")
)

// storeFormat is the layout of a view's source records: 2 is chunks in
// canonical order (boltio.go); without a format key, one key per RRset named
// "owner\0type" (the layout before chunks), converted at Open.
const storeFormat = 2

func openBolt(path string) (storage, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("state directory: %w", err)
	}
	// The whole file is mapped from the start (address space, not memory):
	// bbolt remaps when the file outgrows the map, copying every node of the
	// transaction in progress, which made a first load of a large zone slow.
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 5 * time.Second, InitialMmapSize: 1 << 30,
		FreelistType: bolt.FreelistMapType, NoFreelistSync: true})
	if err != nil {
		if errors.Is(err, bolt.ErrTimeout) {
			return nil, fmt.Errorf("%s: locked by another process (is another dnspki running with the same state directory?)", path)
		}
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &boltStorage{path: path, db: db}, nil
}

func (b *boltStorage) close() error { return b.db.Close() }

// viewBucket returns (creating when tx is writable) the bucket of one view.
func viewBucket(tx *bolt.Tx, view string) (*bolt.Bucket, error) {
	if !tx.Writable() {
		vb := tx.Bucket(bViews)
		if vb == nil {
			return nil, nil
		}
		return vb.Bucket([]byte(view)), nil
	}
	vb, err := tx.CreateBucketIfNotExists(bViews)
	if err != nil {
		return nil, err
	}
	b, err := vb.CreateBucketIfNotExists([]byte(view))
	if err != nil {
		return nil, err
	}
	for _, n := range [][]byte{bMeta, bJournal, bSrc} {
		if _, err := b.CreateBucketIfNotExists(n); err != nil {
			return nil, err
		}
	}
	return b, nil
}

func (b *boltStorage) loadViews(origin string, views []string) (map[string]*storedView, error) {
	stored := map[string]*storedView{}
	err := b.db.View(func(tx *bolt.Tx) error {
		for _, name := range views {
			vb, err := viewBucket(tx, name)
			if err != nil {
				return err
			}
			sv, err := readView(vb, origin)
			if err != nil {
				return fmt.Errorf("view %s: %w", name, err)
			}
			stored[name] = sv
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", b.path, err)
	}
	return stored, nil
}

func (b *boltStorage) sourceMeta(source string) (map[string][]byte, error) {
	out := map[string][]byte{}
	err := b.db.View(func(tx *bolt.Tx) error {
		mb := tx.Bucket(bSrcMeta)
		if mb == nil {
			return nil
		}
		sb := mb.Bucket([]byte(source))
		if sb == nil {
			return nil
		}
		return sb.ForEach(func(k, v []byte) error {
			out[string(k)] = slices.Clone(v)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", b.path, err)
	}
	return out, nil
}

func (b *boltStorage) writeSource(view, source string, src srcID, snap *Snapshot) error {
	return writeSourceBatched(b.db, view, source, src, snap, &b.p)
}

// commit writes the transaction and its journal entries in one database
// transaction (fsynced).
func (b *boltStorage) commit(c *storeCommit) error {
	return b.db.Update(func(btx *bolt.Tx) error {
		for _, vc := range c.views {
			if err := b.commitView(btx, c, vc); err != nil {
				return err
			}
		}
		return putSourceMeta(btx, c.source, c.meta)
	})
}

// commitView writes one view's part of a commit.
func (b *boltStorage) commitView(btx *bolt.Tx, c *storeCommit, vc *viewCommit) error {
	vb, err := viewBucket(btx, vc.view)
	if err != nil {
		return err
	}
	if err := b.storeRecords(vb, vc); err != nil {
		return err
	}
	if vc.trim, err = putJournal(vb, c, vc); err != nil {
		return err
	}
	meta := vb.Bucket(bMeta)
	if vc.snap.soa != nil {
		if err := meta.Put(kSerial, u32(vc.snap.Serial)); err != nil {
			return err
		}
		if err := putDigestMeta(meta, vc.snap); err != nil {
			return err
		}
	}
	next := vc.jNext
	if vc.entry != nil {
		next++
	}
	if err := meta.Put(kSeq, u64(next)); err != nil {
		return err
	}
	return meta.Put(kFormat, u64(storeFormat))
}

// putJournal restarts the view's journal if asked, appends the entry and
// trims the oldest ones.
func putJournal(vb *bolt.Bucket, c *storeCommit, vc *viewCommit) (journalTrim, error) {
	jb := vb.Bucket(bJournal)
	t := journalTrim{first: vc.jFirst, bytes: vc.jBytes}
	if vc.restart {
		if err := vb.DeleteBucket(bJournal); err != nil {
			return t, err
		}
		var err error
		if jb, err = vb.CreateBucket(bJournal); err != nil {
			return t, err
		}
		t = journalTrim{first: vc.jNext, bytes: 0}
	}
	if vc.entry == nil {
		return t, nil
	}
	val, err := vc.entry.encode()
	if err != nil {
		return t, err
	}
	if err := jb.Put(u64(vc.jNext), val); err != nil {
		return t, err
	}
	t.bytes += len(val)
	return c.trimJournal(t, vc.jNext+1,
		func(n uint64) int { return len(jb.Get(u64(n))) },
		func(n uint64) error { return jb.Delete(u64(n)) })
}

// putDigestMeta records in a view's metadata which model digest its
// snapshot carries.
func putDigestMeta(meta *bolt.Bucket, s *Snapshot) error {
	if s.mdAlg != 0 {
		return meta.Put(kMdAlg, []byte{s.mdAlg})
	}
	return meta.Delete(kMdAlg)
}

// putSourceMeta applies a source's metadata changes.
func putSourceMeta(btx *bolt.Tx, source string, meta map[string][]byte) error {
	if len(meta) == 0 || source == "" {
		return nil
	}
	mb, err := btx.CreateBucketIfNotExists(bSrcMeta)
	if err != nil {
		return err
	}
	sb, err := mb.CreateBucketIfNotExists([]byte(source))
	if err != nil {
		return err
	}
	for k, val := range meta {
		if val == nil {
			err = sb.Delete([]byte(k))
		} else {
			err = sb.Put([]byte(k), val)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// storeRecords writes the sources' changed records of one view and the zone
// file digests they come from.
func (b *boltStorage) storeRecords(vb *bolt.Bucket, vc *viewCommit) error {
	db, err := vb.CreateBucketIfNotExists(bDigest)
	if err != nil {
		return err
	}
	if vc.rewrite {
		// Stored in the layout before chunks: every source is written anew.
		srcb := vb.Bucket(bSrc)
		var names [][]byte
		srcb.ForEach(func(k, _ []byte) error { names = append(names, slices.Clone(k)); return nil })
		for _, n := range names {
			if err := srcb.DeleteBucket(n); err != nil {
				return err
			}
		}
	}
	for _, sw := range vc.sources {
		if err := writeSource(vb, sw.name, sw.id, sw.ops, vc.snap, &b.p); err != nil {
			return err
		}
	}
	for name, d := range vc.digests {
		if d == nil {
			err = db.Delete([]byte(name))
		} else {
			err = db.Put([]byte(name), d)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (b *boltStorage) eachJournal(view string, fn func(uint64, journalRecord) (bool, error)) error {
	return b.db.View(func(btx *bolt.Tx) error {
		vb, err := viewBucket(btx, view)
		if err != nil || vb == nil {
			return err
		}
		c := vb.Bucket(bJournal).Cursor()
		for k, val := c.First(); k != nil; k, val = c.Next() {
			if more, err := fn(beU64(k), encodedEntry(val)); err != nil || !more {
				return err
			}
		}
		return nil
	})
}

func (b *boltStorage) lastJournal(view string) (*JournalEntry, error) {
	var e *JournalEntry
	err := b.db.View(func(btx *bolt.Tx) error {
		vb, err := viewBucket(btx, view)
		if err != nil || vb == nil {
			return err
		}
		jb := vb.Bucket(bJournal)
		if jb == nil {
			return nil
		}
		if _, val := jb.Cursor().Last(); val != nil {
			e, err = decodeEntry(val)
		}
		return err
	})
	return e, err
}

func (b *boltStorage) hasDigest(view, source string, digest []byte) bool {
	ok := false
	b.db.View(func(tx *bolt.Tx) error {
		vb, _ := viewBucket(tx, view)
		ok = vb != nil && vb.Bucket(bDigest) != nil && vb.Bucket(bMeta).Get(kSerial) != nil &&
			bytes.Equal(vb.Bucket(bDigest).Get([]byte(source)), digest)
		return nil
	})
	return ok
}

func (b *boltStorage) hasRecords(view, source, key string) bool {
	found := false
	b.db.View(func(tx *bolt.Tx) error {
		vb, _ := viewBucket(tx, view)
		if vb == nil {
			return nil
		}
		sb := vb.Bucket(bSrc).Bucket([]byte(source))
		if sb == nil {
			return nil
		}
		var err error
		found, err = chunksHaveName(sb, []byte(key))
		return err
	})
	return found
}

// chunksHaveName reports whether a source's chunks hold records at the name
// key. The name's keys start in the last chunk that starts at or before
// them, and may go on in the next one.
func chunksHaveName(sb *bolt.Bucket, key []byte) (bool, error) {
	first := storeKey(nil, string(key), 0)
	prefix := first[:len(key)+1]
	c := sb.Cursor()
	k, v := c.Seek(first)
	switch {
	case k == nil:
		k, v = c.Last()
	case !bytes.HasPrefix(k, prefix):
		if pk, pv := c.Prev(); pk != nil {
			k, v = pk, pv
		} else {
			k, v = c.First()
		}
	}
	for i := 0; i < 2 && k != nil; i++ {
		entries, err := decodeChunk(v, nil)
		if err != nil {
			return false, err
		}
		for _, e := range entries {
			if nk, _, err := splitStoreKey(e.key); err == nil && bytes.Equal(nk, key) {
				return true, nil
			}
		}
		k, v = c.Next()
	}
	return false, nil
}
