package onlinesign

import (
	"hash/maphash"
	"sync"
	"weak"

	"github.com/miekg/dns"

	"github.com/dnspki/dnspki/plugin/pkg/zonemodel"
)

// auxRing bounds the signatures cached on RRsets (RRset.Aux): every cached
// entry holds a slot; when all slots are taken, the CLOCK hand evicts an
// entry that was not used since the hand last passed (it clears the RRset's
// Aux). Slots of RRsets that died with their snapshot are reused first.
// Lookups are lock-free (RRset.Aux and a reference bit); only misses lock.
type auxRing struct {
	mu    sync.Mutex
	slots []auxSlot
	hand  int
	cap   int
}

type auxSlot struct {
	set weak.Pointer[zonemodel.RRset]
	e   *sigEntry
}

func newAuxRing(capacity int) *auxRing { return &auxRing{cap: capacity} }

func (a *auxRing) resize(capacity int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.cap = capacity
	for len(a.slots) > a.cap {
		last := a.slots[len(a.slots)-1]
		a.evict(last)
		a.slots = a.slots[:len(a.slots)-1]
	}
	if a.hand >= len(a.slots) {
		a.hand = 0
	}
}

func (a *auxRing) len() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.slots)
}

func (a *auxRing) full() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.slots) >= a.cap
}

func (a *auxRing) evict(s auxSlot) {
	if s.e == nil {
		return
	}
	if set := s.set.Value(); set != nil {
		if cur, ok := set.Aux().(*sigEntry); ok && cur == s.e {
			set.SetAux(nil)
		}
	}
}

// add caches e on set, taking a slot (the set's old slot if it had one).
func (a *auxRing) add(set *zonemodel.RRset, e *sigEntry) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.cap <= 0 {
		return
	}
	if old, ok := set.Aux().(*sigEntry); ok && old.slot < len(a.slots) && a.slots[old.slot].e == old {
		e.slot = old.slot
		a.slots[e.slot].e = e
		set.SetAux(e)
		return
	}
	if len(a.slots) < a.cap {
		e.slot = len(a.slots)
		a.slots = append(a.slots, auxSlot{set: weak.Make(set), e: e})
		set.SetAux(e)
		return
	}
	for range 2*len(a.slots) + 1 {
		s := &a.slots[a.hand]
		i := a.hand
		a.hand = (a.hand + 1) % len(a.slots)
		if s.e != nil && s.set.Value() != nil && s.e.ref.Load() {
			s.e.ref.Store(false)
			continue
		}
		a.evict(*s)
		e.slot = i
		*s = auxSlot{set: weak.Make(set), e: e}
		set.SetAux(e)
		return
	}
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
}

// denialCache is a bounded cache of the NSEC records made for denials,
// sharded, each shard with two generations: when the current one is full,
// it becomes the old one (the previous old one is dropped) and hits in the
// old generation move to the current one.
type denialCache struct {
	seed   maphash.Seed
	shards [16]denShard
}

type denShard struct {
	mu       sync.Mutex
	cur, old map[denKey]*denEntry
	max      int
}

func newDenialCache(capacity int) *denialCache {
	c := &denialCache{seed: maphash.MakeSeed()}
	c.resize(capacity)
	return c
}

func (c *denialCache) resize(capacity int) {
	per := capacity / len(c.shards) / 2
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		sh.max = per
		if capacity > 0 && per < 1 {
			sh.max = 1
		}
		if sh.cur == nil || len(sh.cur) > sh.max {
			sh.cur, sh.old = map[denKey]*denEntry{}, nil
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
		sh.putLocked(k, e)
		return e
	}
	return nil
}

func (c *denialCache) put(k denKey, e *denEntry) {
	sh := c.shard(k)
	sh.mu.Lock()
	sh.putLocked(k, e)
	sh.mu.Unlock()
}

func (sh *denShard) putLocked(k denKey, e *denEntry) {
	if sh.max <= 0 {
		return
	}
	if len(sh.cur) >= sh.max {
		sh.old, sh.cur = sh.cur, make(map[denKey]*denEntry, sh.max)
	}
	sh.cur[k] = e
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
