package zonemodel

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/miekg/dns"
	bolt "go.etcd.io/bbolt"
)

// parseKey reads a key of the layout before chunks: the owner name, a 0
// octet, the type.
func parseKey(b []byte) (rrKey, error) {
	if len(b) < 3 || b[len(b)-3] != 0 {
		return rrKey{}, errors.New("bad record key")
	}
	return rrKey{name: string(b[:len(b)-3]), t: binary.BigEndian.Uint16(b[len(b)-2:])}, nil
}

// A source's records in a view are stored in chunks: a chunk holds the
// records of consecutive keys (canonical key of the name, a 0 octet, the
// type: see storeKey) and is stored under its first key, so the chunks, and
// the keys in them, are in canonical order. A zone of a million records is a
// few thousand chunks, written sequentially at the first load and read in
// order at a restart (no sorting); a small change rewrites the one chunk it
// falls in. Chunk value: for each key, uvarint length, key, uvarint length,
// records (packRRs).
var chunkTarget = 16 << 10 // a variable for tests

// storeKey appends the store key of a name's key and a type.
func storeKey(dst []byte, key string, t uint16) []byte {
	dst = append(dst, key...)
	dst = append(dst, 0)
	return binary.BigEndian.AppendUint16(dst, t)
}

// splitStoreKey returns the name key and the type of a store key.
func splitStoreKey(k []byte) ([]byte, uint16, error) {
	if len(k) < 3 || k[len(k)-3] != 0 {
		return nil, 0, errors.New("bad record key")
	}
	return k[:len(k)-3], binary.BigEndian.Uint16(k[len(k)-2:]), nil
}

type chunkEntry struct {
	key, val []byte
}

// decodeChunk lists the entries of a chunk (slices of b).
func decodeChunk(b []byte, out []chunkEntry) ([]chunkEntry, error) {
	for len(b) > 0 {
		kl, n := binary.Uvarint(b)
		if n <= 0 || uint64(len(b)-n) < kl {
			return nil, errors.New("truncated chunk")
		}
		k := b[n : n+int(kl)]
		b = b[n+int(kl):]
		vl, n := binary.Uvarint(b)
		if n <= 0 || uint64(len(b)-n) < vl {
			return nil, errors.New("truncated chunk")
		}
		out = append(out, chunkEntry{k, b[n : n+int(vl)]})
		b = b[n+int(vl):]
	}
	return out, nil
}

func appendEntry(dst, key, val []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(key)))
	dst = append(dst, key...)
	dst = binary.AppendUvarint(dst, uint64(len(val)))
	return append(dst, val...)
}

// readView reads a view's state from its bucket (nil: nothing stored).
func readView(b *bolt.Bucket, origin string) (*storedView, error) {
	sv := &storedView{sources: map[string][]chg{}, digests: map[string][]byte{}}
	if b == nil {
		return sv, nil
	}
	meta := b.Bucket(bMeta)
	if v := meta.Get(kSerial); len(v) == 4 {
		sv.serial = uint32(v[0])<<24 | uint32(v[1])<<16 | uint32(v[2])<<8 | uint32(v[3])
		sv.hasState = true
	}
	format := int(beU64(meta.Get(kFormat)))
	sv.oldLayout = format < storeFormat
	if v := meta.Get(kMdAlg); len(v) == 1 {
		sv.mdAlg = v[0]
	}
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
		if format >= 2 {
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

// readChunks reads a source's records, in key order: a first pass counts
// them (so that the changes and the records are each one array, the sets
// slices of it), the second decodes them. Records at one name share its
// owner name string, decoded once, and the types of a name share its key.
func readChunks(sb *bolt.Bucket) ([]chg, error) {
	sets, recs := 0, 0
	var entries []chunkEntry
	c := sb.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		var err error
		if entries, err = decodeChunk(v, entries[:0]); err != nil {
			return nil, fmt.Errorf("chunk %q: %w", k, err)
		}
		sets += len(entries)
		for _, e := range entries {
			recs += countRRs(e.val)
		}
	}
	out := make([]chg, 0, sets)
	all := make([]dns.RR, 0, recs)
	var lastKey, lastName string
	for k, v := c.First(); k != nil; k, v = c.Next() {
		entries, _ = decodeChunk(v, entries[:0])
		for _, e := range entries {
			key, t, err := splitStoreKey(e.key)
			if err != nil {
				return nil, err
			}
			name := lastName
			if lastName == "" || string(key) != lastKey {
				lastKey, name = string(key), ""
			}
			start := len(all)
			if all, name, err = unpackInto(all, e.val, name); err != nil {
				return nil, fmt.Errorf("records of %q: %w", key, err)
			}
			if len(all) == start {
				continue
			}
			lastName = name
			out = append(out, chg{key: lastKey, t: t, rrs: all[start:len(all):len(all)]})
		}
	}
	return out, nil
}

// countRRs counts the records of a packed list.
func countRRs(b []byte) int {
	n := 0
	for len(b) >= 2 {
		l := int(binary.BigEndian.Uint16(b))
		if len(b) < 2+l {
			break
		}
		b = b[2+l:]
		n++
	}
	return n
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

// chunkWriter writes a source's records in key order into an empty bucket,
// a chunk at a time: the records of a chunk are packed together (one
// message for all of them), then cut into the chunk's entries.
type chunkWriter struct {
	b       *bolt.Bucket
	p       *packer
	written int // octets put in this transaction

	keys  []byte   // the store keys of the pending sets, one after the other
	kends []int    // where each ends in keys
	ns    []int    // how many records each has
	rrs   []dns.RR // their records
	size  int      // estimate of the chunk's size
	wire  [][]byte
	buf   []byte
}

func (w *chunkWriter) add(key string, t uint16, rrs []dns.RR) error {
	w.keys = storeKey(w.keys, key, t)
	w.kends = append(w.kends, len(w.keys))
	w.ns = append(w.ns, len(rrs))
	w.rrs = append(w.rrs, rrs...)
	w.size += len(key) + 8
	for _, rr := range rrs {
		w.size += 2 + dns.Len(rr)
	}
	if w.size >= chunkTarget {
		return w.flush()
	}
	return nil
}

func (w *chunkWriter) flush() error {
	if len(w.kends) == 0 {
		return nil
	}
	var err error
	if w.wire, err = w.p.packEach(w.wire[:0], w.rrs); err != nil {
		return fmt.Errorf("%s: %w", w.rrs[0].Header().Name, err)
	}
	// bbolt keeps the value until the transaction ends: a new buffer each.
	buf := make([]byte, 0, w.size+w.size/8)
	r, kstart := 0, 0
	for i, kend := range w.kends {
		vlen := 0
		for _, x := range w.wire[r : r+w.ns[i]] {
			vlen += 2 + len(x)
		}
		buf = binary.AppendUvarint(buf, uint64(kend-kstart))
		buf = append(buf, w.keys[kstart:kend]...)
		buf = binary.AppendUvarint(buf, uint64(vlen))
		for _, x := range w.wire[r : r+w.ns[i]] {
			buf = binary.BigEndian.AppendUint16(buf, uint16(len(x)))
			buf = append(buf, x...)
		}
		r += w.ns[i]
		kstart = kend
	}
	w.written += len(buf)
	err = w.b.Put(slices.Clone(w.keys[:w.kends[0]]), buf)
	clear(w.rrs)
	w.keys, w.kends, w.ns, w.rrs, w.size = w.keys[:0], w.kends[:0], w.ns[:0], w.rrs[:0], 0
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
		w := &chunkWriter{b: sb, p: p}
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

// firstLoadBatch is how much record data one transaction of a first load
// writes.
var firstLoadBatch = 8 << 20

// writeSourceParts writes a source's records in a view from the snapshot
// into a new bucket, in transactions of about firstLoadBatch each: other
// zones' commits go between them (or share them, groupcommit.go).
func writeSourceParts(b *boltStorage, view, name string, src srcID, snap *Snapshot) error {
	from, first := "", true
	for {
		var next string
		var done bool
		err := b.update(func(zb *bolt.Bucket) error {
			vb, err := viewBucket(zb, view)
			if err != nil {
				return err
			}
			next, done, err = writeSourcePart(vb, name, src, snap, from, first, &b.p)
			return err
		})
		if err != nil || done {
			return err
		}
		from, first = next, false
	}
}

// writeSourcePart writes the source's records from the name key from on
// (the first part: into a new bucket) until about firstLoadBatch octets are
// written; it returns the key to go on from, or done.
func writeSourcePart(vb *bolt.Bucket, name string, src srcID, snap *Snapshot, from string, first bool, p *packer) (next string, done bool, err error) {
	srcb := vb.Bucket(bSrc)
	bn := []byte(name)
	if first && srcb.Bucket(bn) != nil {
		if err := srcb.DeleteBucket(bn); err != nil {
			return "", false, err
		}
	}
	sb, err := srcb.CreateBucketIfNotExists(bn)
	if err != nil {
		return "", false, err
	}
	sb.FillPercent = 1
	w := &chunkWriter{b: sb, p: p}
	done = snap.tree.ascend(from, func(k string, n *Node) bool {
		if w.written >= firstLoadBatch {
			next = k
			return false
		}
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
		return "", false, err
	}
	return next, done, w.flush()
}

// applyOps writes changed keys (in key order) into the chunks they fall in.
func applyOps(sb *bolt.Bucket, ops []storeOp, p *packer) error {
	var sk []byte
	var entries []chunkEntry
	for i := 0; i < len(ops); {
		sk = storeKey(sk[:0], ops[i].key, ops[i].t)
		ck, cv, next := chunkOf(sb.Cursor(), sk)
		var err error
		if entries, err = decodeChunk(cv, entries[:0]); err != nil {
			return fmt.Errorf("chunk %q: %w", ck, err)
		}
		// Merge the chunk's entries with the operations before the next chunk.
		var merged []chunkEntry
		if merged, i, err = mergeOps(entries, ops, i, next, p); err != nil {
			return err
		}
		if ck != nil {
			if err := sb.Delete(ck); err != nil {
				return err
			}
		}
		if err := putChunks(sb, merged); err != nil {
			return err
		}
	}
	return nil
}

// chunkOf returns the chunk the store key sk falls in (the last one starting
// at or before it, else the first one; nil when there is none), copied, and
// the key of the chunk after it (nil: none).
func chunkOf(c *bolt.Cursor, sk []byte) (ck, cv, next []byte) {
	ck, cv = c.Seek(sk)
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
	if ck != nil {
		ck, cv = slices.Clone(ck), slices.Clone(cv)
		c.Seek(ck)
		if nk, _ := c.Next(); nk != nil {
			next = slices.Clone(nk)
		}
	}
	return ck, cv, next
}

// mergeOps merges a chunk's entries with the operations from ops[i] on that
// fall before the next chunk's key; it returns the entries and the first
// operation not merged.
func mergeOps(entries []chunkEntry, ops []storeOp, i int, next []byte, p *packer) ([]chunkEntry, int, error) {
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
				return nil, i, fmt.Errorf("%s/%s: %w", ops[i].name, dns.TypeToString[ops[i].t], err)
			}
			merged = append(merged, chunkEntry{ok, v})
		}
	}
	return append(merged, entries[e:]...), i, nil
}

// putChunks puts merged entries back as chunks, split when they grew too
// large.
func putChunks(sb *bolt.Bucket, merged []chunkEntry) error {
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
	return nil
}
