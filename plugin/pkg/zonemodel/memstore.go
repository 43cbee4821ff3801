package zonemodel

import (
	"maps"
	"slices"
	"sync"
)

// memStorage keeps a zone's state in memory, in the encodings of the bbolt
// storage (packed records, encoded journal entries), so that what a restart
// reads back went through the same codecs. For tests: the model runs without
// a database file.
type memStorage struct {
	mu    sync.Mutex
	views map[string]*memView
	meta  map[string]map[string][]byte // per source
}

// memView is one view's state.
type memView struct {
	serial    uint32
	hasSerial bool
	mdAlg     uint8
	seq       uint64 // the next journal number
	journal   []memEntry
	sources   map[string]map[memKey][]byte // packed records per key
	digests   map[string][]byte
}

type memKey struct {
	key string
	t   uint16
}

type memEntry struct {
	seq uint64
	val encodedEntry
}

// memStorages returns an opener of memory storages: one per state
// directory and zone, kept when closed (as a bucket is), so that a zone
// opened again finds its state.
func memStorages() func(dir, origin string) (storage, error) {
	var mu sync.Mutex
	m := map[zoneKey]*memStorage{}
	return func(dir, origin string) (storage, error) {
		mu.Lock()
		defer mu.Unlock()
		k := zoneKey{dirKey(dir), origin}
		if m[k] == nil {
			m[k] = &memStorage{views: map[string]*memView{}, meta: map[string]map[string][]byte{}}
		}
		return m[k], nil
	}
}

func (m *memStorage) close() error { return nil }

func (m *memStorage) view(name string) *memView {
	v := m.views[name]
	if v == nil {
		v = &memView{sources: map[string]map[memKey][]byte{}, digests: map[string][]byte{}}
		m.views[name] = v
	}
	return v
}

func (m *memStorage) loadViews(origin string, views []string) (map[string]*storedView, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string]*storedView{}
	for _, name := range views {
		sv := &storedView{sources: map[string][]chg{}, digests: map[string][]byte{}}
		out[name] = sv
		v := m.views[name]
		if v == nil {
			continue
		}
		sv.serial, sv.hasState, sv.mdAlg = v.serial, v.hasSerial, v.mdAlg
		sv.jFirst, sv.jNext = v.seq, v.seq
		if len(v.journal) > 0 {
			sv.jFirst, sv.jNext = v.journal[0].seq, v.journal[len(v.journal)-1].seq+1
		}
		for _, e := range v.journal {
			sv.jBytes += len(e.val)
		}
		for src, recs := range v.sources {
			chgs, err := unpackSource(recs)
			if err != nil {
				return nil, err
			}
			sv.sources[src] = chgs
		}
		maps.Copy(sv.digests, v.digests)
	}
	return out, nil
}

// unpackSource decodes a source's records in key order.
func unpackSource(recs map[memKey][]byte) ([]chg, error) {
	out := make([]chg, 0, len(recs))
	for k, b := range recs {
		rrs, _, err := unpackInto(nil, b, "")
		if err != nil {
			return nil, err
		}
		out = append(out, chg{key: k.key, t: k.t, rrs: rrs})
	}
	slices.SortFunc(out, compareChg)
	return out, nil
}

func (m *memStorage) sourceMeta(source string) (map[string][]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return maps.Clone(m.meta[source]), nil
}

func (m *memStorage) writeSource(view, source string, src srcID, snap *Snapshot) error {
	recs, err := packSource(src, snap)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.view(view).sources[source] = recs
	return nil
}

// packSource packs every record src has in the snapshot.
func packSource(src srcID, snap *Snapshot) (map[memKey][]byte, error) {
	out := map[memKey][]byte{}
	var err error
	snap.tree.each(func(k string, n *Node) bool {
		for _, set := range n.Sets {
			if rrs := set.recsOf(src); len(rrs) > 0 {
				var b []byte
				if b, err = packRRs(rrs); err != nil {
					return false
				}
				out[memKey{k, set.Type}] = b
			}
		}
		return true
	})
	return out, err
}

// memCommit is a view's part of a commit, encoded.
type memCommit struct {
	vc      *viewCommit
	entry   encodedEntry
	sources map[string]map[memKey][]byte // whole sources (nil: dropped)
	ops     map[string][]memOp           // changed keys of the others
}

// memOp is one changed key, packed (nil: removed).
type memOp struct {
	key memKey
	val []byte
}

// commit encodes everything first, then applies it: all or nothing.
func (m *memStorage) commit(c *storeCommit) error {
	var mcs []*memCommit
	for _, vc := range c.views {
		mc, err := encodeViewCommit(vc)
		if err != nil {
			return err
		}
		mcs = append(mcs, mc)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, mc := range mcs {
		m.view(mc.vc.view).apply(c, mc)
	}
	if len(c.meta) > 0 && c.source != "" {
		sm := m.meta[c.source]
		if sm == nil {
			sm = map[string][]byte{}
			m.meta[c.source] = sm
		}
		for k, val := range c.meta {
			if val == nil {
				delete(sm, k)
			} else {
				sm[k] = val
			}
		}
	}
	return nil
}

// encodeViewCommit packs a view's records and journal entry.
func encodeViewCommit(vc *viewCommit) (*memCommit, error) {
	mc := &memCommit{vc: vc, sources: map[string]map[memKey][]byte{}, ops: map[string][]memOp{}}
	if vc.entry != nil {
		b, err := vc.entry.encode()
		if err != nil {
			return nil, err
		}
		mc.entry = b
	}
	for _, sw := range vc.sources {
		switch {
		case sw.ops.drop:
			mc.sources[sw.name] = nil
		case sw.ops.rewrite:
			recs, err := packSource(sw.id, vc.snap)
			if err != nil {
				return nil, err
			}
			mc.sources[sw.name] = recs
		default:
			for _, o := range sw.ops.ops {
				op := memOp{key: memKey{o.key, o.t}}
				if len(o.rrs) > 0 {
					var err error
					if op.val, err = packRRs(o.rrs); err != nil {
						return nil, err
					}
				}
				mc.ops[sw.name] = append(mc.ops[sw.name], op)
			}
		}
	}
	return mc, nil
}

// apply makes an encoded commit the view's state.
func (v *memView) apply(c *storeCommit, mc *memCommit) {
	if mc.vc.rewrite {
		clear(v.sources)
	}
	for name, recs := range mc.sources {
		if recs == nil {
			delete(v.sources, name)
		} else {
			v.sources[name] = recs
		}
	}
	for name, ops := range mc.ops {
		recs := v.sources[name]
		if recs == nil {
			recs = map[memKey][]byte{}
			v.sources[name] = recs
		}
		for _, o := range ops {
			if o.val != nil {
				recs[o.key] = o.val
			} else {
				delete(recs, o.key)
			}
		}
	}
	for name, d := range mc.vc.digests {
		if d == nil {
			delete(v.digests, name)
		} else {
			v.digests[name] = d
		}
	}
	mc.vc.trim = v.putJournal(c, mc.vc, mc.entry)
	if mc.vc.snap.soa != nil {
		v.serial, v.hasSerial, v.mdAlg = mc.vc.snap.Serial, true, mc.vc.snap.mdAlg
	}
	v.seq = mc.vc.jNext + uint64(b2i(mc.vc.entry != nil))
}

// putJournal restarts the journal if asked, appends the entry and trims the
// oldest ones.
func (v *memView) putJournal(c *storeCommit, vc *viewCommit, entry encodedEntry) journalTrim {
	t := journalTrim{first: vc.jFirst, bytes: vc.jBytes}
	if vc.restart {
		v.journal = nil
		t = journalTrim{first: vc.jNext, bytes: 0}
	}
	if entry == nil {
		return t
	}
	v.journal = append(v.journal, memEntry{vc.jNext, entry})
	t.bytes += len(entry)
	size := func(n uint64) int {
		if len(v.journal) > 0 && v.journal[0].seq == n {
			return len(v.journal[0].val)
		}
		return 0
	}
	drop := func(uint64) error { v.journal = v.journal[1:]; return nil }
	t, _ = c.trimJournal(t, vc.jNext+1, size, drop)
	return t
}

func (m *memStorage) eachJournal(view string, fn func(uint64, journalRecord) (bool, error)) error {
	m.mu.Lock()
	var js []memEntry
	if v := m.views[view]; v != nil {
		js = slices.Clone(v.journal)
	}
	m.mu.Unlock()
	for _, e := range js {
		if more, err := fn(e.seq, e.val); err != nil || !more {
			return err
		}
	}
	return nil
}

func (m *memStorage) lastJournal(view string) (*JournalEntry, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v := m.views[view]
	if v == nil || len(v.journal) == 0 {
		return nil, nil
	}
	return v.journal[len(v.journal)-1].val.entry()
}

func (m *memStorage) hasDigest(view, source string, digest []byte) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	v := m.views[view]
	return v != nil && v.hasSerial && string(v.digests[source]) == string(digest)
}

func (m *memStorage) hasRecords(view, source, key string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	v := m.views[view]
	if v == nil {
		return false
	}
	for k := range v.sources[source] {
		if k.key == key {
			return true
		}
	}
	return false
}
