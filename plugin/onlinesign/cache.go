package onlinesign

import (
	"hash/maphash"
	"sync"
	"weak"

	"github.com/miekg/dns"

	"github.com/dnspki/dnspki/plugin/pkg/zonemodel"
)

// Both caches are bounded by the memory their entries take (an estimate
// close to what the Go heap holds for them: entrySize, denSize) and,
// optionally, by a number of entries.
const (
	defaultCacheBytes  = 64 << 20 // RRset signatures
	defaultDenialBytes = 32 << 20 // denial NSECs and their signatures
	noEntryBound       = 1 << 40
)

// auxRing bounds the signatures cached on RRsets (RRset.Aux): every cached
// entry holds a slot; when the entries reach the bound in bytes or in
// number, the CLOCK hand evicts entries that were not used since the hand
// last passed (it clears the RRset's Aux). Slots of RRsets that died with
// their snapshot are reclaimed as the hand passes them. Lookups are
// lock-free (RRset.Aux and a reference bit); only misses lock.
type auxRing struct {
	mu       sync.Mutex
	slots    []auxSlot
	free     []int // slots without an entry
	hand     int
	cap      int   // most entries
	maxBytes int64 // most bytes
	n        int   // entries
	used     int64 // their bytes
}

type auxSlot struct {
	set weak.Pointer[zonemodel.RRset]
	e   *sigEntry
}

func newAuxRing(entries int, bytes int64) *auxRing {
	return &auxRing{cap: entries, maxBytes: bytes}
}

func (a *auxRing) resize(entries int, bytes int64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.cap, a.maxBytes = entries, bytes
	a.shrink(-1, 0)
}

func (a *auxRing) len() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.n
}

func (a *auxRing) bytes() int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.used
}

func (a *auxRing) full() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.n >= a.cap || a.used >= a.maxBytes
}

// drop empties slot i, clearing the RRset's Aux if it still holds the entry.
func (a *auxRing) drop(i int) {
	s := &a.slots[i]
	if s.e == nil {
		return
	}
	if set := s.set.Value(); set != nil {
		if cur, ok := set.Aux().(*sigEntry); ok && cur == s.e {
			set.SetAux(nil)
		}
	}
	a.n--
	a.used -= s.e.size
	*s = auxSlot{}
	a.free = append(a.free, i)
}

// shrink evicts entries until one more of extra bytes fits (extra 0: until
// the entries are within the bounds), never the one in slot keep.
func (a *auxRing) shrink(keep int, extra int64) {
	more := 0
	if extra > 0 {
		more = 1
	}
	for guard := 3*len(a.slots) + 1; a.n > 0 && (a.n+more > a.cap || a.used+extra > a.maxBytes) && guard > 0; guard-- {
		i := a.hand
		a.hand = (a.hand + 1) % len(a.slots)
		s := &a.slots[i]
		if s.e == nil || i == keep {
			continue
		}
		if s.set.Value() != nil && s.e.ref.Load() {
			s.e.ref.Store(false)
			continue
		}
		a.drop(i)
	}
}

// add caches e on set, taking a slot (the set's old slot if it had one).
func (a *auxRing) add(set *zonemodel.RRset, e *sigEntry) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.cap <= 0 || e.size > a.maxBytes {
		return
	}
	if old, ok := set.Aux().(*sigEntry); ok && old.slot < len(a.slots) && a.slots[old.slot].e == old {
		e.slot = old.slot
		a.slots[e.slot].e = e
		a.used += e.size - old.size
		set.SetAux(e)
		a.shrink(e.slot, 0)
		return
	}
	a.shrink(-1, e.size)
	if a.n+1 > a.cap || a.used+e.size > a.maxBytes {
		return // every entry is in use right now
	}
	if k := len(a.free); k > 0 {
		e.slot = a.free[k-1]
		a.free = a.free[:k-1]
	} else {
		e.slot = len(a.slots)
		a.slots = append(a.slots, auxSlot{})
	}
	a.slots[e.slot] = auxSlot{set: weak.Make(set), e: e}
	a.n++
	a.used += e.size
	set.SetAux(e)
}

// Sizes of cache entries as the Go heap holds them: the fixed parts measured
// on amd64 (struct, the slice headers' arrays, the Aux box, the weak handle
// and slot), the variable ones from the records.
const (
	sigEntryOverhead = 150
	rrsigOverhead    = 128 // the RRSIG struct and its slot in the entry's slice
	denOverhead      = 160 // the entry, its key in the map and the map's slot
	nsecOverhead     = 96
)

// entrySize estimates the memory of a cached RRset signature entry.
func entrySize(e *sigEntry) int64 {
	n := int64(sigEntryOverhead)
	for _, s := range e.sigs {
		n += rrsigSize(s)
	}
	for range e.neg {
		n += rrsigOverhead // copies sharing the signature
	}
	return n
}

func rrsigSize(rr dns.RR) int64 {
	if s, ok := rr.(*dns.RRSIG); ok {
		return rrsigOverhead + int64(len(s.Signature))
	}
	return rrsigOverhead
}

// denSize estimates the memory of a cached denial entry.
func denSize(k denKey, e *denEntry) int64 {
	n := int64(denOverhead + 2*len(k.name) + len(k.ce) + 2*len(e.types))
	for _, rr := range e.rrs {
		switch r := rr.(type) {
		case *dns.NSEC:
			n += nsecOverhead + int64(len(r.NextDomain)+2*len(r.TypeBitMap))
		default:
			n += rrsigSize(rr)
		}
	}
	return n
}

// denKey identifies a denial NSEC: its kind, the name it is about and, for
// wildcard answers, the closest encloser.
type denKey struct {
	kind uint8
	name string
	ce   string
}

// denEntry is a cached NSEC record with its signatures.
type denEntry struct {
	ks      *keySet
	refresh int64
	ttl     uint32
	types   []uint16
	rrs     []dns.RR
	size    int64
}

// denialCache is a bounded cache of the NSEC records made for denials,
// sharded, each shard with two generations: when the current one is full
// (in bytes or entries), it becomes the old one (the previous old one is
// dropped) and hits in the old generation move to the current one. A shard's
// generation holds at most a 32nd of the bound.
type denialCache struct {
	seed   maphash.Seed
	shards [16]denShard
}

type denShard struct {
	mu                 sync.Mutex
	cur, old           map[denKey]*denEntry
	curBytes, oldBytes int64
	max                int
	maxBytes           int64
}

func newDenialCache(entries int, bytes int64) *denialCache {
	c := &denialCache{seed: maphash.MakeSeed()}
	c.resize(entries, bytes)
	return c
}

func (c *denialCache) resize(entries int, bytes int64) {
	per := entries / len(c.shards) / 2
	perBytes := bytes / int64(len(c.shards)) / 2
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		sh.max, sh.maxBytes = per, perBytes
		if entries > 0 && per < 1 {
			sh.max = 1
		}
		if sh.cur == nil || len(sh.cur) > sh.max || sh.curBytes > sh.maxBytes {
			sh.cur, sh.old, sh.curBytes, sh.oldBytes = map[denKey]*denEntry{}, nil, 0, 0
		}
		sh.mu.Unlock()
	}
}

func (c *denialCache) shard(k denKey) *denShard {
	h := maphash.String(c.seed, k.name)
	return &c.shards[h%uint64(len(c.shards))]
}

func (c *denialCache) get(k denKey) *denEntry {
	sh := c.shard(k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if e := sh.cur[k]; e != nil {
		return e
	}
	if e := sh.old[k]; e != nil {
		delete(sh.old, k)
		sh.oldBytes -= e.size
		sh.putLocked(k, e)
		return e
	}
	return nil
}

func (c *denialCache) put(k denKey, e *denEntry) {
	e.size = denSize(k, e)
	sh := c.shard(k)
	sh.mu.Lock()
	sh.putLocked(k, e)
	sh.mu.Unlock()
}

func (sh *denShard) putLocked(k denKey, e *denEntry) {
	if sh.max <= 0 || e.size > sh.maxBytes {
		return
	}
	if prev := sh.cur[k]; prev != nil {
		sh.curBytes -= prev.size
		delete(sh.cur, k)
	}
	if len(sh.cur) >= sh.max || sh.curBytes+e.size > sh.maxBytes {
		sh.old, sh.cur = sh.cur, make(map[denKey]*denEntry)
		sh.oldBytes, sh.curBytes = sh.curBytes, 0
	}
	sh.cur[k] = e
	sh.curBytes += e.size
}

func (c *denialCache) len() int {
	n := 0
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		n += len(sh.cur) + len(sh.old)
		sh.mu.Unlock()
	}
	return n
}

func (c *denialCache) bytes() int64 {
	var n int64
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		n += sh.curBytes + sh.oldBytes
		sh.mu.Unlock()
	}
	return n
}
