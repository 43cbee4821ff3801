package certs

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Twenty certificates due at once (a CA asked to replace them all): every
// one is stepped, never more than concurrency at once, never one twice at
// once; a wake makes a certificate due again at once.
func TestSchedulerBound(t *testing.T) {
	m := testManager(t)
	m.b.concurrency = 3
	var running, peak atomic.Int32
	var mu sync.Mutex
	steps := map[string]int{}
	inStep := map[string]bool{}
	release := make(chan struct{})
	for i := 0; i < 20; i++ {
		m.certs = append(m.certs, &cert{m: m, cfg: &certConfig{id: fmt.Sprintf("c%02d", i)}})
	}
	m.stepFn = func(c *cert, ctx context.Context, now time.Time) time.Time {
		n := running.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		mu.Lock()
		if inStep[c.cfg.id] {
			t.Errorf("%s stepped twice at once", c.cfg.id)
		}
		inStep[c.cfg.id] = true
		steps[c.cfg.id]++
		mu.Unlock()
		<-release
		mu.Lock()
		inStep[c.cfg.id] = false
		mu.Unlock()
		running.Add(-1)
		return now.Add(time.Hour)
	}
	m.wg.Add(1)
	go m.run()
	t.Cleanup(func() { m.cancel(); close(release); m.wg.Wait() })
	stepped := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(steps)
	}
	// Each time as many steps as the bound allows are running, one finishes.
	deadline := time.Now().Add(30 * time.Second)
	for finished := 0; finished < 20; finished++ {
		want := int32(min(3, 20-finished))
		for running.Load() != want {
			if time.Now().After(deadline) {
				t.Fatalf("%d running after %d finished, want %d", running.Load(), finished, want)
			}
			time.Sleep(time.Millisecond)
		}
		release <- struct{}{}
	}
	if p := peak.Load(); p != 3 {
		t.Fatalf("peak concurrency %d, want 3", p)
	}
	if n := stepped(); n != 20 {
		t.Fatalf("%d stepped", n)
	}
	// A wake: c05 runs again at once (not an hour later).
	m.wake("c05")
	for {
		mu.Lock()
		n := steps["c05"]
		mu.Unlock()
		if n == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the wake did not step c05 again")
		}
		select {
		case release <- struct{}{}:
		case <-time.After(10 * time.Millisecond):
		}
	}
	mu.Lock()
	for id, n := range steps {
		if id != "c05" && n != 1 {
			t.Errorf("%s stepped %d times", id, n)
		}
	}
	mu.Unlock()
}
