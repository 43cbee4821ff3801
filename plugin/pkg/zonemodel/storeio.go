package zonemodel

import (
	"bytes"
	"fmt"
	"slices"

	"github.com/miekg/dns"
	bolt "go.etcd.io/bbolt"
)

// storedView is what the store holds for one view.
type storedView struct {
	serial        uint32
	hasState      bool
	format        int
	jFirst, jNext uint64
	jBytes        int
	sources       map[string][]chg // per source: its records in key order
	digests       map[string][]byte
}

// readView reads a view's state from its bucket (nil: nothing stored).
func readView(b *bolt.Bucket, origin string) (*storedView, error) {
	sv := &storedView{sources: map[string][]chg{}, digests: map[string][]byte{}, format: storeFormat}
	if b == nil {
		return sv, nil
	}
	meta := b.Bucket(bMeta)
	if v := meta.Get(kSerial); len(v) == 4 {
		sv.serial = uint32(v[0])<<24 | uint32(v[1])<<16 | uint32(v[2])<<8 | uint32(v[3])
		sv.hasState = true
	}
	sv.format = int(beU64(meta.Get(kFormat)))
	c := b.Bucket(bJournal).Cursor()
	if k, _ := c.First(); k != nil {
		sv.jFirst = beU64(k)
	}
	if k, _ := c.Last(); k != nil {
		sv.jNext = beU64(k) + 1
	}
	if sv.jNext == 0 {
		if v := meta.Get(kSeq); len(v) == 8 {
			sv.jFirst, sv.jNext = beU64(v), beU64(v)
		}
	}
	b.Bucket(bJournal).ForEach(func(_, v []byte) error { sv.jBytes += len(v); return nil })
	srcb := b.Bucket(bSrc)
	err := srcb.ForEach(func(name, _ []byte) error {
		sb := srcb.Bucket(name)
		if sb == nil {
			return nil
		}
		var recs []chg
		var err error
		if sv.format >= 2 {
			recs, err = readChunks(sb)
		} else {
			recs, err = readKeys(sb, origin)
		}
		if err != nil {
			return fmt.Errorf("stored records of source %s: %w", name, err)
		}
		sv.sources[string(name)] = recs
		return nil
	})
	if err != nil {
		return nil, err
	}
	if db := b.Bucket(bDigest); db != nil {
		db.ForEach(func(k, v []byte) error { sv.digests[string(k)] = slices.Clone(v); return nil })
	}
	return sv, nil
}

// readChunks reads a source's records, in key order. Records at one name
// share its owner name string, and the key strings are shared by the types
// of a name.
func readChunks(sb *bolt.Bucket) ([]chg, error) {
	var blocks [][]chg // one per chunk, joined at the end (no regrowing)
	var out []chg
	var entries []chunkEntry
	var lastKey, lastName string
	c := sb.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		var err error
		if entries, err = decodeChunk(v, entries[:0]); err != nil {
			return nil, fmt.Errorf("chunk %q: %w", k, err)
		}
		for _, e := range entries {
			key, t, err := splitStoreKey(e.key)
			if err != nil {
				return nil, err
			}
			rrs, err := unpackRRs(e.val)
			if err != nil {
				return nil, fmt.Errorf("records of %q: %w", key, err)
			}
			if len(rrs) == 0 {
				continue
			}
			if lastName == "" || string(key) != lastKey {
				lastKey, lastName = string(key), lower(rrs[0].Header().Name)
			}
			for _, rr := range rrs {
				rr.Header().Name = lastName
			}
			out = append(out, chg{key: lastKey, t: t, rrs: rrs})
		}
		blocks = append(blocks, out)
		out = nil
	}
	n := 0
	for _, b := range blocks {
		n += len(b)
	}
	all := make([]chg, 0, n)
	for _, b := range blocks {
		all = append(all, b...)
	}
	return all, nil
}

// readKeys reads a source's records stored one key per RRset (the layout
// before chunks) and puts them in key order.
func readKeys(sb *bolt.Bucket, origin string) ([]chg, error) {
	var out []chg
	err := sb.ForEach(func(k, v []byte) error {
		key, err := parseKey(k)
		if err != nil {
			return err
		}
		rrs, err := unpackRRs(v)
		if err != nil {
			return fmt.Errorf("stored records of %s/%d: %w", key.name, key.t, err)
		}
		if len(rrs) > 0 && InZone(key.name, origin) {
			out = append(out, chg{key: nameKey(key.name, origin), t: key.t, rrs: rrs})
		}
		return nil
	})
	slices.SortFunc(out, compareChg)
	return out, err
}

// chunkWriter writes a source's records in key order into an empty bucket.
type chunkWriter struct {
	b     *bolt.Bucket
	p     *packer
	first []byte
	buf   []byte
	kbuf  []byte
	vbuf  []byte
}

func (w *chunkWriter) add(key string, t uint16, rrs []dns.RR) error {
	w.kbuf = storeKey(w.kbuf[:0], key, t)
	v, err := w.p.pack(w.vbuf[:0], rrs)
	if err != nil {
		return fmt.Errorf("%s: %w", rrs[0].Header().Name, err)
	}
	w.vbuf = v
	if len(w.buf) == 0 {
		w.first = append(w.first[:0], w.kbuf...)
	}
	w.buf = appendEntry(w.buf, w.kbuf, v)
	if len(w.buf) >= chunkTarget {
		return w.flush()
	}
	return nil
}

func (w *chunkWriter) flush() error {
	if len(w.buf) == 0 {
		return nil
	}
	// bbolt keeps the value until the transaction ends: a new buffer each.
	err := w.b.Put(w.first, w.buf)
	w.buf = make([]byte, 0, chunkTarget+chunkTarget/4)
	return err
}

// writeSource stores one source's changes in a view: the records it now has
// in the snapshot (rewrite), its removal (drop), or the changed keys.
func writeSource(vb *bolt.Bucket, name string, src srcID, so *srcOps, snap *Snapshot, p *packer) error {
	srcb := vb.Bucket(bSrc)
	bn := []byte(name)
	if so.drop || so.rewrite {
		if srcb.Bucket(bn) != nil {
			if err := srcb.DeleteBucket(bn); err != nil {
				return err
			}
		}
		if so.drop {
			return nil
		}
		sb, err := srcb.CreateBucket(bn)
		if err != nil {
			return err
		}
		sb.FillPercent = 1
		w := &chunkWriter{b: sb, p: p, buf: make([]byte, 0, chunkTarget+chunkTarget/4)}
		snap.tree.each(func(k string, n *Node) bool {
			for _, set := range n.Sets {
				if rrs := set.recsOf(src); len(rrs) > 0 {
					if err = w.add(k, set.Type, rrs); err != nil {
						return false
					}
				}
			}
			return true
		})
		if err != nil {
			return err
		}
		return w.flush()
	}
	sb, err := srcb.CreateBucketIfNotExists(bn)
	if err != nil {
		return err
	}
	return applyOps(sb, so.ops, p)
}

// applyOps writes changed keys (in key order) into the chunks they fall in.
func applyOps(sb *bolt.Bucket, ops []storeOp, p *packer) error {
	c := sb.Cursor()
	var sk []byte
	var entries []chunkEntry
	for i := 0; i < len(ops); {
		sk = storeKey(sk[:0], ops[i].key, ops[i].t)
		// The chunk the key falls in: the last one starting at or before
		// it, else the first one.
		ck, cv := c.Seek(sk)
		switch {
		case ck != nil && bytes.Equal(ck, sk):
		case ck == nil:
			ck, cv = c.Last()
		default:
			if pk, pv := c.Prev(); pk != nil {
				ck, cv = pk, pv
			} else {
				ck, cv = c.First()
			}
		}
		var next []byte
		if ck != nil {
			ck, cv = slices.Clone(ck), slices.Clone(cv)
			c.Seek(ck)
			if nk, _ := c.Next(); nk != nil {
				next = slices.Clone(nk)
			}
		}
		var err error
		if entries, err = decodeChunk(cv, entries[:0]); err != nil {
			return fmt.Errorf("chunk %q: %w", ck, err)
		}
		// Merge the chunk's entries with the operations before the next chunk.
		var merged []chunkEntry
		e := 0
		for ; i < len(ops); i++ {
			ok := storeKey(nil, ops[i].key, ops[i].t)
			if next != nil && bytes.Compare(ok, next) >= 0 {
				break
			}
			for e < len(entries) && bytes.Compare(entries[e].key, ok) < 0 {
				merged = append(merged, entries[e])
				e++
			}
			if e < len(entries) && bytes.Equal(entries[e].key, ok) {
				e++
			}
			if len(ops[i].rrs) > 0 {
				v, err := p.pack(nil, ops[i].rrs)
				if err != nil {
					return fmt.Errorf("%s/%s: %w", ops[i].name, dns.TypeToString[ops[i].t], err)
				}
				merged = append(merged, chunkEntry{ok, v})
			}
		}
		merged = append(merged, entries[e:]...)
		if ck != nil {
			if err := sb.Delete(ck); err != nil {
				return err
			}
		}
		// Put the result back, split when it grew too large.
		size := 0
		for _, m := range merged {
			size += len(m.key) + len(m.val) + 4
		}
		pieces := max(1, size/chunkTarget)
		if size <= 2*chunkTarget {
			pieces = 1
		}
		per := (len(merged) + pieces - 1) / max(pieces, 1)
		for len(merged) > 0 {
			n := min(per, len(merged))
			var buf []byte
			for _, m := range merged[:n] {
				buf = appendEntry(buf, m.key, m.val)
			}
			if err := sb.Put(slices.Clone(merged[0].key), buf); err != nil {
				return err
			}
			merged = merged[n:]
		}
		c = sb.Cursor()
	}
	return nil
}
