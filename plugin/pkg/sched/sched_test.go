package sched

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeClock is a clock that moves only when the test advances it.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []fakeTimer
}

type fakeTimer struct {
	at time.Time
	ch chan time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Unix(1_000_000, 0)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) TimerAt(at time.Time) (<-chan time.Time, func() bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	if !at.After(c.now) {
		ch <- c.now
		return ch, func() bool { return false }
	}
	c.timers = append(c.timers, fakeTimer{at, ch})
	return ch, func() bool { return true }
}

// advance moves the clock and fires the timers it passes.
func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.timers[:0]
	for _, t := range c.timers {
		if t.at.After(c.now) {
			kept = append(kept, t)
			continue
		}
		select {
		case t.ch <- c.now:
		default:
		}
	}
	c.timers = kept
}

func (c *fakeClock) in(d time.Duration) time.Time { return c.Now().Add(d) }

// recorder collects the names of jobs as they run.
type recorder struct {
	mu   sync.Mutex
	runs []string
	ran  chan string
}

func newRecorder() *recorder { return &recorder{ran: make(chan string, 100)} }

func (r *recorder) job(name string) func() {
	return func() {
		r.mu.Lock()
		r.runs = append(r.runs, name)
		r.mu.Unlock()
		r.ran <- name
	}
}

// wait waits for n runs (bounded by the test's deadline) and returns all
// runs so far.
func (r *recorder) wait(t *testing.T, n int) []string {
	t.Helper()
	for range n {
		<-r.ran
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.runs...)
}

func newTest(t *testing.T, workers int) (*Scheduler, *fakeClock) {
	c := newFakeClock()
	s := New(workers, c)
	t.Cleanup(s.Close)
	return s, c
}

// Jobs run in the order of their times, not of their scheduling.
func TestOrder(t *testing.T) {
	s, c := newTest(t, 1)
	g, r := s.Group(), newRecorder()
	g.At("a", c.in(3*time.Second), r.job("a"))
	g.At("b", c.in(1*time.Second), r.job("b"))
	g.At("c", c.in(2*time.Second), r.job("c"))
	c.advance(5 * time.Second)
	if got := r.wait(t, 3); got[0] != "b" || got[1] != "c" || got[2] != "a" {
		t.Fatalf("order %v, want [b c a]", got)
	}
}

// A job not due yet does not run before one that is; it runs once its
// time comes.
func TestNotBeforeItsTime(t *testing.T) {
	s, c := newTest(t, 4)
	g, r := s.Group(), newRecorder()
	g.At("later", c.in(10*time.Second), r.job("later"))
	g.At("now", c.in(time.Second), r.job("now"))
	c.advance(time.Second)
	if got := r.wait(t, 1); len(got) != 1 || got[0] != "now" {
		t.Fatalf("runs %v after 1s, want [now]", got)
	}
	c.advance(9 * time.Second)
	if got := r.wait(t, 1); len(got) != 2 || got[1] != "later" {
		t.Fatalf("runs %v after 10s, want [now later]", got)
	}
}

// Scheduling a key again replaces its pending job: At moves it (also
// later), Soon keeps the earlier time; the replaced function never runs.
func TestReplacement(t *testing.T) {
	s, c := newTest(t, 1)
	g, r := s.Group(), newRecorder()
	g.At("k", c.in(10*time.Second), r.job("first"))
	g.Soon("k", c.in(time.Second), r.job("soon"))    // earlier: moves it
	g.Soon("k", c.in(20*time.Second), r.job("kept")) // later: time kept, function replaced
	g.At("m", c.in(5*time.Second), r.job("m-first"))
	g.At("m", c.in(30*time.Second), r.job("m-moved")) // At moves it later
	g.At("sentinel", c.in(15*time.Second), r.job("sentinel"))
	c.advance(40 * time.Second)
	got := r.wait(t, 3)
	if got[0] != "kept" || got[1] != "sentinel" || got[2] != "m-moved" {
		t.Fatalf("runs %v, want [kept sentinel m-moved]", got)
	}
	// One more job after them: nothing else of k or m ran before it.
	g.At("end", c.in(time.Second), r.job("end"))
	c.advance(time.Second)
	if got := r.wait(t, 1); len(got) != 4 || got[3] != "end" {
		t.Fatalf("runs %v, want the three and end", got)
	}
}

// Cancel drops a key's pending job; Stop drops a group's and ignores what
// is scheduled after it; other groups run on.
func TestCancellation(t *testing.T) {
	s, c := newTest(t, 1)
	r := newRecorder()
	g, other := s.Group(), s.Group()
	g.At("cancelled", c.in(time.Second), r.job("cancelled"))
	g.At("stopped", c.in(2*time.Second), r.job("stopped"))
	g.Cancel("cancelled")
	g.Stop()
	g.At("after-stop", c.in(time.Second), r.job("after-stop"))
	other.At("sentinel", c.in(3*time.Second), r.job("sentinel"))
	c.advance(4 * time.Second)
	if got := r.wait(t, 1); len(got) != 1 || got[0] != "sentinel" {
		t.Fatalf("runs %v, want only the other group's sentinel", got)
	}
}

// Stop waits for the group's running job to return.
func TestStopWaitsForRunning(t *testing.T) {
	s, c := newTest(t, 2)
	g := s.Group()
	started, release := make(chan struct{}), make(chan struct{})
	var stopReturned, ended atomic.Bool
	g.At("k", c.in(0), func() {
		close(started)
		<-release
		if stopReturned.Load() {
			t.Error("Stop returned while the job ran")
		}
		ended.Store(true)
	})
	<-started
	done := make(chan struct{})
	go func() { g.Stop(); stopReturned.Store(true); close(done) }()
	close(release)
	<-done
	if !ended.Load() {
		t.Fatal("Stop returned before the running job ended")
	}
}

// At most the pool's size of jobs run at once, and it is reached; a key
// never runs twice at once: its job due while it runs waits for the run.
func TestBoundedConcurrency(t *testing.T) {
	const workers, jobs = 3, 12
	s, c := newTest(t, workers)
	g := s.Group()
	var cur, peak atomic.Int32
	started := make(chan int, jobs)
	release := make(chan struct{})
	for i := range jobs {
		g.At(i, c.in(time.Second), func() {
			n := cur.Add(1)
			for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
			}
			started <- i
			<-release
			cur.Add(-1)
		})
	}
	c.advance(time.Second)
	for range workers {
		<-started // the pool fills
	}
	for range jobs {
		release <- struct{}{} // one job ends; the next may start
	}
	for range jobs - workers {
		<-started
	}
	if p := peak.Load(); p != workers {
		t.Fatalf("peak of %d jobs at once, want %d", p, workers)
	}
}

// A key's job scheduled while it runs runs after that run, not beside it.
func TestSameKeyNotConcurrent(t *testing.T) {
	s, c := newTest(t, 4)
	g := s.Group()
	var cur atomic.Int32
	first, release := make(chan struct{}), make(chan struct{})
	second := make(chan int32, 1)
	g.At("k", c.in(0), func() {
		cur.Add(1)
		close(first)
		<-release
		cur.Add(-1)
	})
	<-first
	g.Soon("k", c.in(0), func() { second <- cur.Add(1) })
	close(release)
	if n := <-second; n != 1 {
		t.Fatalf("the second run of k saw %d runs of k at once", n)
	}
}
