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

// auxRing bounds the signatures cached on RRsets (RRset.Aux) with a clock:
// evicting an entry clears the RRset's Aux, and entries of RRsets that died
// with their snapshot are reclaimed as the hand passes them. Lookups are
// lock-free (RRset.Aux and a reference bit); only misses lock.
type auxRing struct {
	mu sync.Mutex
	c  clock[*sigEntry]
}

func newAuxRing(entries int, bytes int64) *auxRing {
	a := &auxRing{}
	a.c.forget = forgetSig
	a.c.resize(entries, bytes)
	return a
}

// forgetSig clears the RRset's Aux if it still holds e.
func forgetSig(e *sigEntry) {
	if set := e.set.Value(); set != nil {
		if cur, ok := set.Aux().(*sigEntry); ok && cur == e {
			set.SetAux(nil)
		}
	}
}

func (e *sigEntry) bytes() int64 { return e.size }

func (e *sigEntry) spare() bool {
	return e.set.Value() != nil && e.ref.Swap(false)
}

func (a *auxRing) resize(entries int, bytes int64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.c.resize(entries, bytes)
}

func (a *auxRing) len() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.c.n
}

func (a *auxRing) bytes() int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.c.used
}

func (a *auxRing) full() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.c.n >= a.c.cap || a.c.used >= a.c.maxBytes
}

// add caches e on set, in the set's old slot if it had one, else in a free
// one, evicting others first when evict is set. It reports whether e was
// cached.
func (a *auxRing) add(set *zonemodel.RRset, e *sigEntry, evict bool) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.c.cap <= 0 || e.size > a.c.maxBytes {
		return false
	}
	if old, ok := set.Aux().(*sigEntry); ok && a.c.holds(old.slot, old) {
		e.slot, e.set = old.slot, old.set
		set.SetAux(e)
		a.c.replace(e.slot, e)
		return true
	}
	e.set = weak.Make(set)
	slot, ok := a.c.add(e, evict)
	if !ok {
		return false
	}
	e.slot = slot
	set.SetAux(e)
	return true
}

// Sizes of cache entries as the Go heap holds them: the fixed parts measured
// on amd64 (struct, the slice headers' arrays, the Aux box, the weak handle
// and slot), the variable ones from the records.
const (
	sigEntryOverhead = 150
	rrsigOverhead    = 128 // the RRSIG struct and its slot in the entry's slice
	denOverhead      = 220 // the entry (with its key), its key in the map, the map's slot and the clock's slot
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
	key     denKey
	slot    int
	ref     bool // used since the clock's hand last passed (under the shard's lock)
	ks      *keySet
	refresh int64
	ttl     uint32
	types   []uint16
	rrs     []dns.RR
	size    int64
}

// denialCache is a bounded cache of the NSEC records made for denials,
// sharded by name, each shard a clock over a 16th of the bound.
type denialCache struct {
	seed   maphash.Seed
	shards [16]denShard
}

type denShard struct {
	mu  sync.Mutex
	idx map[denKey]*denEntry
	c   clock[*denEntry]
}

func (e *denEntry) bytes() int64 { return e.size }

func (e *denEntry) spare() bool {
	r := e.ref
	e.ref = false
	return r
}

func newDenialCache(entries int, bytes int64) *denialCache {
	c := &denialCache{seed: maphash.MakeSeed()}
	for i := range c.shards {
		sh := &c.shards[i]
		sh.idx = map[denKey]*denEntry{}
		sh.c.forget = func(e *denEntry) { delete(sh.idx, e.key) }
	}
	c.resize(entries, bytes)
	return c
}

// resize shares the bounds among the shards (a bound of fewer entries than
// shards leaves some shards without any).
func (c *denialCache) resize(entries int, bytes int64) {
	n := len(c.shards)
	for i := range c.shards {
		sh := &c.shards[i]
		per := entries / n
		if i < entries%n {
			per++
		}
		sh.mu.Lock()
		sh.c.resize(per, bytes/int64(n))
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
	e := sh.idx[k]
	if e != nil {
		e.ref = true
	}
	return e
}

func (c *denialCache) put(k denKey, e *denEntry) {
	e.key = k
	e.size = denSize(k, e)
	sh := c.shard(k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if prev := sh.idx[k]; prev != nil {
		sh.c.drop(prev.slot)
	}
	if slot, ok := sh.c.add(e, true); ok {
		e.slot = slot
		sh.idx[k] = e
	}
}

func (c *denialCache) len() int {
	n := 0
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		n += sh.c.n
		sh.mu.Unlock()
	}
	return n
}

func (c *denialCache) bytes() int64 {
	var n int64
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		n += sh.c.used
		sh.mu.Unlock()
	}
	return n
}
