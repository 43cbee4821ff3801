package onlinesign

// clock is the eviction both signature caches use (CLOCK, a cheap
// approximation of LRU): every cached entry holds a slot; when the entries
// reach the bound in number or in bytes, the hand passes over the slots,
// sparing once each entry used since the hand last passed and evicting the
// others. The cache fills its whole bound before it evicts anything. It is
// not safe for concurrent use: the owner locks.
type clock[E clockEntry] struct {
	slots    []E   // the zero value: a free slot
	free     []int // free slots
	hand     int
	cap      int   // most entries
	maxBytes int64 // most bytes
	n        int   // entries
	used     int64 // their bytes

	forget func(E) // the owner drops an evicted entry from its index
}

// clockEntry is what a clock holds.
type clockEntry interface {
	comparable
	// bytes is the entry's memory (it does not change while cached).
	bytes() int64
	// spare reports whether the hand passing over the entry should keep it
	// (it was used since the hand last passed), and clears that mark. An
	// entry that is of no use any more is never spared.
	spare() bool
}

func (c *clock[E]) resize(entries int, bytes int64) {
	c.cap, c.maxBytes = entries, bytes
	c.shrink(-1, 0)
}

// fits reports whether one more entry of size bytes fits without evicting.
func (c *clock[E]) fits(size int64) bool {
	return c.n+1 <= c.cap && c.used+size <= c.maxBytes
}

// add caches e in a free slot, evicting first when evict is set, and returns
// the slot; ok is false when e did not fit.
func (c *clock[E]) add(e E, evict bool) (slot int, ok bool) {
	size := e.bytes()
	if c.cap <= 0 || size > c.maxBytes {
		return 0, false
	}
	if evict {
		c.shrink(-1, size)
	}
	if !c.fits(size) {
		return 0, false // every entry is in use right now, or not evicting
	}
	if k := len(c.free); k > 0 {
		slot = c.free[k-1]
		c.free = c.free[:k-1]
	} else {
		slot = len(c.slots)
		c.slots = append(c.slots, e)
	}
	c.slots[slot] = e
	c.n++
	c.used += size
	return slot, true
}

// replace puts e in the place of the entry in slot i (the same key, signed
// again), evicting others if it is larger.
func (c *clock[E]) replace(i int, e E) {
	c.used += e.bytes() - c.slots[i].bytes()
	c.slots[i] = e
	c.shrink(i, 0)
}

// holds reports whether slot i holds e.
func (c *clock[E]) holds(i int, e E) bool {
	return i >= 0 && i < len(c.slots) && c.slots[i] == e
}

// shrink evicts entries until one more of extra bytes fits (extra 0: until
// the entries are within the bounds), never the one in slot keep.
func (c *clock[E]) shrink(keep int, extra int64) {
	more := 0
	if extra > 0 {
		more = 1
	}
	var zero E
	for guard := 3*len(c.slots) + 1; c.n > 0 && (c.n+more > c.cap || c.used+extra > c.maxBytes) && guard > 0; guard-- {
		i := c.hand
		c.hand = (c.hand + 1) % len(c.slots)
		e := c.slots[i]
		if e == zero || i == keep || e.spare() {
			continue
		}
		c.drop(i)
	}
}

// drop empties slot i.
func (c *clock[E]) drop(i int) {
	var zero E
	e := c.slots[i]
	if e == zero {
		return
	}
	c.forget(e)
	c.n--
	c.used -= e.bytes()
	c.slots[i] = zero
	c.free = append(c.free, i)
}
