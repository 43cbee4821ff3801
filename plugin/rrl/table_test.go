package rrl

import (
	"math/rand/v2"
	"testing"
	"time"
)

// TestTableBounded: the table never grows, whatever number of buckets is
// asked for; a bucket in debt (an attack on one victim) keeps its entry
// while a flood of new buckets (random sources, one answer each) churns
// through the table, so the victim stays limited; the flood needs no
// eviction of a bucket in debt as long as the new ones' debt is smaller.
func TestTableBounded(t *testing.T) {
	clk := newClock()
	tb := newTable(256, clk.Now())
	n := tb.size()
	if n != 256 {
		t.Fatalf("size %d, want 256", n)
	}
	const iv = int64(time.Second / 10) // 10 a second
	victim := uint64(0xdeadbeef)
	for range 10 {
		tb.take(victim, iv, 0, clk.Now())
	}
	if d, _ := tb.take(victim, iv, 0, clk.Now()); d != Drop {
		t.Fatal("the victim's 11th answer passed")
	}
	rng := rand.New(rand.NewPCG(1, 2))
	passedVictim := 0
	for i := range 100000 {
		tb.take(rng.Uint64(), iv, 0, clk.Now())
		if i%1000 == 0 {
			clk.Advance(10 * time.Millisecond)
			if d, _ := tb.take(victim, iv, 0, clk.Now()); d == Pass {
				passedVictim++
			}
		}
	}
	// 100 probes over 1 s at 10 a second: about 10 pass.
	if passedVictim > 11 {
		t.Fatalf("the victim got %d answers through during the churn, want at most 11 (its bucket was reset)", passedVictim)
	}
	entries := 0
	for i := range tb.shards {
		entries += len(tb.shards[i].entries)
	}
	if entries != n {
		t.Fatalf("the table has %d entries after 100000 keys, want %d", entries, n)
	}
}

// TestTableEvictsLeastDebt: a full set in debt gives up the least indebted
// entry, and says so.
func TestTableEvictsLeastDebt(t *testing.T) {
	clk := newClock()
	tb := newTable(256, clk.Now()) // 64 shards x 1 set x 4 ways
	const iv = int64(time.Second / 10)
	// Five keys in one set of one shard (same top bits, same set).
	keys := []uint64{1 << 58, 1<<58 | 1<<8, 1<<58 | 2<<8, 1<<58 | 3<<8, 1<<58 | 4<<8}
	for i, k := range keys[:4] {
		for range i + 1 { // debt 1..4 answers
			tb.take(k, iv, 0, clk.Now())
		}
	}
	if _, ev := tb.take(keys[4], iv, 0, clk.Now()); !ev {
		t.Fatal("a full set in debt: no eviction reported")
	}
	// keys[0] (least debt) was evicted; keys[3] (most) is still there.
	s := &tb.shards[1]
	if find(s.entries, keys[0]) != nil || find(s.entries, keys[3]) == nil {
		t.Fatal("the wrong entry was evicted")
	}
	// After the debts are paid, a new key evicts nothing in debt.
	clk.Advance(time.Second)
	if _, ev := tb.take(1<<58|9<<8, iv, 0, clk.Now()); ev {
		t.Fatal("evicted a bucket without debt and reported it")
	}
}
