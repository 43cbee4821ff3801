package zonemodel

import (
	"bytes"
	"fmt"
	"slices"

	bolt "go.etcd.io/bbolt"
)

// boltStorage keeps a zone's state in its bucket of the state directory's
// bbolt database (STATE/zones.db, shared by every zone stored there:
// statedb.go; older versions had a file per zone, migrated at open:
// migrate.go). Layout: a top-level bucket per zone, named by its origin
// (lowercase, fully qualified: "example.test.", "." for the root); in it,
// bucket "views", in it a bucket per view with "meta" (serial, seq: the
// next journal number, format, digest: the ZONEMD algorithm), "journal"
// (entries by number), "src" (a bucket per source of chunks, boltio.go) and
// "digest" (per source the digest of the zone file its records come from);
// bucket "srcmeta", in it a bucket per source of its metadata. Writes go
// through the database's group commit (groupcommit.go): the commits of
// several zones share a transaction and its fsyncs.
type boltStorage struct {
	sdb    *stateDB
	origin []byte
	p      packer // used by writers (under the zone's store lock)
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

// openBolt opens the zone's storage: its bucket of dir's database.
func openBolt(dir, origin string) (storage, error) {
	sdb, err := acquireDB(dir)
	if err != nil {
		return nil, err
	}
	if err := sdb.failed[origin]; err != nil {
		sdb.release()
		return nil, err
	}
	return &boltStorage{sdb: sdb, origin: []byte(origin)}, nil
}

func (b *boltStorage) close() error {
	b.sdb.release()
	return nil
}

// update runs fn in a write transaction with the zone's bucket.
func (b *boltStorage) update(fn func(zb *bolt.Bucket) error) error {
	return b.sdb.update(string(b.origin), func(tx *bolt.Tx) error {
		zb, err := tx.CreateBucketIfNotExists(b.origin)
		if err != nil {
			return err
		}
		return fn(zb)
	})
}

// view runs fn in a read transaction with the zone's bucket (nil: none).
func (b *boltStorage) view(fn func(zb *bolt.Bucket) error) error {
	return b.sdb.db.View(func(tx *bolt.Tx) error { return fn(tx.Bucket(b.origin)) })
}

// bucketHolder is a zone's bucket, or a transaction (a zone's file of an
// older version: migrate.go; tests write them).
type bucketHolder interface {
	Bucket(name []byte) *bolt.Bucket
	CreateBucketIfNotExists(name []byte) (*bolt.Bucket, error)
	Writable() bool
}

// viewBucket returns (creating when writable) the bucket of one view; nil
// when zb is nil.
func viewBucket(zb bucketHolder, view string) (*bolt.Bucket, error) {
	if zb == nil {
		return nil, nil
	}
	if !zb.Writable() {
		vb := zb.Bucket(bViews)
		if vb == nil {
			return nil, nil
		}
		return vb.Bucket([]byte(view)), nil
	}
	vb, err := zb.CreateBucketIfNotExists(bViews)
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

// zoneBucket is zb as a bucketHolder (nil when zb is nil).
func zoneBucket(zb *bolt.Bucket) bucketHolder {
	if zb == nil {
		return nil
	}
	return zb
}

func (b *boltStorage) loadViews(origin string, views []string) (map[string]*storedView, error) {
	stored := map[string]*storedView{}
	err := b.view(func(zb *bolt.Bucket) error {
		for _, name := range views {
			vb, err := viewBucket(zoneBucket(zb), name)
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
		return nil, fmt.Errorf("reading %s: %w", b.sdb.db.Path(), err)
	}
	return stored, nil
}

func (b *boltStorage) sourceMeta(source string) (map[string][]byte, error) {
	out := map[string][]byte{}
	err := b.view(func(zb *bolt.Bucket) error {
		if zb == nil {
			return nil
		}
		mb := zb.Bucket(bSrcMeta)
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
		return nil, fmt.Errorf("reading %s: %w", b.sdb.db.Path(), err)
	}
	return out, nil
}

func (b *boltStorage) writeSource(view, source string, src srcID, snap *Snapshot) error {
	return writeSourceParts(b, view, source, src, snap)
}

// commit writes the transaction and its journal entries in one database
// transaction (fsynced; possibly shared with other zones' commits).
func (b *boltStorage) commit(c *storeCommit) error {
	return b.update(func(zb *bolt.Bucket) error {
		for _, vc := range c.views {
			if err := b.commitView(zb, c, vc); err != nil {
				return err
			}
		}
		return putSourceMeta(zb, c.source, c.meta)
	})
}

// commitView writes one view's part of a commit.
func (b *boltStorage) commitView(zb *bolt.Bucket, c *storeCommit, vc *viewCommit) error {
	vb, err := viewBucket(zb, vc.view)
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
func putSourceMeta(zb *bolt.Bucket, source string, meta map[string][]byte) error {
	if len(meta) == 0 || source == "" {
		return nil
	}
	mb, err := zb.CreateBucketIfNotExists(bSrcMeta)
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
	return b.view(func(zb *bolt.Bucket) error {
		vb, err := viewBucket(zoneBucket(zb), view)
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
	err := b.view(func(zb *bolt.Bucket) error {
		vb, err := viewBucket(zoneBucket(zb), view)
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
	b.view(func(zb *bolt.Bucket) error {
		vb, _ := viewBucket(zoneBucket(zb), view)
		ok = vb != nil && vb.Bucket(bDigest) != nil && vb.Bucket(bMeta).Get(kSerial) != nil &&
			bytes.Equal(vb.Bucket(bDigest).Get([]byte(source)), digest)
		return nil
	})
	return ok
}

func (b *boltStorage) hasRecords(view, source, key string) bool {
	found := false
	b.view(func(zb *bolt.Bucket) error {
		vb, _ := viewBucket(zoneBucket(zb), view)
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
