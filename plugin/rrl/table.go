package rrl

import (
	"hash/maphash"
	"sync"
	"time"
)

// table holds the buckets in a fixed amount of memory: entries in sets of
// `ways`, a bucket's set chosen by its key's hash (seeded at random per
// table, so that nobody can aim collisions at a bucket), sets spread over
// shards with a lock each. A new bucket takes the entry of its set that
// has the least debt; a bucket with no debt holds nothing a fresh bucket
// does not, so while the table is large enough nothing is lost. When every
// entry of the set is in debt, the least indebted one is evicted (counted:
// the table is too small for the load).
//
// A bucket is a GCRA (generic cell rate algorithm) state: its theoretical
// arrival time tat. With rate r per second, each response moves tat on by
// 1/r; a response is allowed while tat stays within one second of now
// (up to r responses at once, r per second after that). A limited response
// does not move tat, so a flood gets exactly r per second through.
type table struct {
	seed   maphash.Seed
	shards []shard
	sets   int // per shard
	base   time.Time
}

const (
	ways   = 4
	shardN = 64
	// window is how much response credit a bucket holds: one second's worth.
	window = int64(time.Second)
)

type shard struct {
	mu      sync.Mutex
	entries []entry
	_       [40]byte // keep shards' locks on their own cache lines
}

type entry struct {
	key   uint64 // 0: empty
	tat   int64  // ns since table.base
	slips uint32 // limited responses since the bucket last passed one
}

// Decision is what happens to one answer.
type Decision uint8

const (
	Pass Decision = iota
	Drop
	Slip
)

func newTable(size int, base time.Time) *table {
	sets := (size + shardN*ways - 1) / (shardN * ways)
	if sets < 1 {
		sets = 1
	}
	t := &table{seed: maphash.MakeSeed(), shards: make([]shard, shardN), sets: sets, base: base}
	for i := range t.shards {
		t.shards[i].entries = make([]entry, sets*ways)
	}
	return t
}

// size is the number of buckets the table holds.
func (t *table) size() int { return len(t.shards) * t.sets * ways }

// take decides about one response in the bucket of hash h at now, with an
// interval of 1/rate between responses and slip (every slip-th limited
// response is slipped, 0: none). evicted reports that a bucket in debt lost
// its entry to this one.
func (t *table) take(h uint64, interval int64, slip uint32, now time.Time) (d Decision, evicted bool) {
	h, ns, s, es := t.locate(h, now)
	s.mu.Lock()
	defer s.mu.Unlock()
	e := find(es, h)
	if e == nil {
		e = &es[0]
		for i := 1; i < ways; i++ {
			if es[i].tat < e.tat {
				e = &es[i]
			}
		}
		evicted = e.key != 0 && e.tat > ns
		*e = entry{key: h, tat: ns}
	}
	tat := max(e.tat, ns)
	if tat+interval-ns > window {
		e.slips++
		if slip > 0 && e.slips%slip == 0 {
			return Slip, evicted
		}
		return Drop, evicted
	}
	e.tat = tat + interval
	e.slips = 0
	return Pass, evicted
}

// locate returns the key of hash h (0, the empty slot's key, is taken as
// 1), now on the table's clock, and h's shard and set (to read under the
// shard's lock).
func (t *table) locate(h uint64, now time.Time) (uint64, int64, *shard, []entry) {
	if h == 0 {
		h = 1
	}
	s := &t.shards[h>>58%shardN]
	set := int(h % uint64(t.sets))
	return h, int64(now.Sub(t.base)), s, s.entries[set*ways : set*ways+ways]
}

func find(es []entry, h uint64) *entry {
	for i := range es {
		if es[i].key == h {
			return &es[i]
		}
	}
	return nil
}

// takeLimited decides about one more response in the bucket of hash h when
// that bucket is already over its rate: Drop or Slip, counted as take
// counts them, and ok. When the bucket is not over its rate (or not in the
// table) nothing changes and ok is false.
func (t *table) takeLimited(h uint64, interval int64, slip uint32, now time.Time) (d Decision, ok bool) {
	h, ns, s, es := t.locate(h, now)
	s.mu.Lock()
	defer s.mu.Unlock()
	e := find(es, h)
	if e == nil || max(e.tat, ns)+interval-ns <= window {
		return Pass, false
	}
	e.slips++
	if slip > 0 && e.slips%slip == 0 {
		return Slip, true
	}
	return Drop, true
}
