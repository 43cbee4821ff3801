// Package sched runs keyed jobs at their times for many zones with a fixed
// number of goroutines: one goroutine keeps the timer heap, and at most
// Workers jobs run at once (workers are started as jobs become due and end
// when none is left). A key has at most one pending job: scheduling it
// again replaces the pending one (At: at the new time; Soon: at the earlier
// of the two), and two jobs of one key never run at once (a job due while
// its key runs waits for that run to end). Jobs belong to a Group (a
// zone): Stop drops the group's pending jobs, waits for its running ones
// and ignores what is scheduled afterwards.
//
// It replaces a goroutine per zone (a secondary's refresh loop) and per
// NOTIFY target: with 10,000 zones the cost is the heap's entries, not
// 10,000 sleeping goroutines.
package sched

import (
	"container/heap"
	"sync"
	"time"
)

// Clock is the scheduler's time (an interface: tests advance a fake one).
type Clock interface {
	Now() time.Time
	// TimerAt returns a channel that receives once the clock reaches t
	// (at once if it has), and a function that stops the timer. (A deadline,
	// not a duration: a duration computed from Now would be off by however
	// far the clock moved before the timer was made.)
	TimerAt(t time.Time) (<-chan time.Time, func() bool)
}

// RealClock is the wall clock.
type RealClock struct{}

// Now is time.Now.
func (RealClock) Now() time.Time { return time.Now() }

// TimerAt is a time.Timer that fires at t.
func (RealClock) TimerAt(t time.Time) (<-chan time.Time, func() bool) {
	tm := time.NewTimer(time.Until(t))
	return tm.C, tm.Stop
}

// Scheduler runs the jobs of its groups.
type Scheduler struct {
	clock   Clock
	workers int

	mu       sync.Mutex
	heap     jobHeap
	pending  map[jobKey]*job // scheduled, not yet started (in the heap or deferred)
	deferred map[jobKey]*job // due while a job of the same key runs
	running  map[jobKey]bool
	active   int // running workers
	wake     chan struct{}
	done     chan struct{}
}

// jobKey is a key within its group.
type jobKey struct {
	g   *Group
	key any
}

type job struct {
	k     jobKey
	due   time.Time
	fn    func()
	index int // in the heap; -1 when not
}

// New starts a scheduler that runs at most workers jobs at once.
func New(workers int, clock Clock) *Scheduler {
	s := &Scheduler{
		clock: clock, workers: max(workers, 1),
		pending: map[jobKey]*job{}, deferred: map[jobKey]*job{}, running: map[jobKey]bool{},
		wake: make(chan struct{}, 1), done: make(chan struct{}),
	}
	go s.loop()
	return s
}

// Close stops the timer goroutine; running jobs finish, pending ones are
// dropped.
func (s *Scheduler) Close() { close(s.done) }

// Now is the scheduler's clock.
func (s *Scheduler) Now() time.Time { return s.clock.Now() }

// Group is the jobs of one owner (a zone).
type Group struct {
	s       *Scheduler
	stopped bool // under s.mu
	runs    sync.WaitGroup
}

// Group makes a group of jobs.
func (s *Scheduler) Group() *Group { return &Group{s: s} }

// At runs fn at t as key's job, replacing the job pending for key (if any):
// the job then runs at t, with fn.
func (g *Group) At(key any, t time.Time, fn func()) { g.s.schedule(jobKey{g, key}, t, fn, false) }

// Soon runs fn no later than t as key's job: a job pending for key keeps
// its time if that is earlier (and takes fn).
func (g *Group) Soon(key any, t time.Time, fn func()) { g.s.schedule(jobKey{g, key}, t, fn, true) }

// Cancel drops key's pending job (a running one continues).
func (g *Group) Cancel(key any) {
	s := g.s
	s.mu.Lock()
	defer s.mu.Unlock()
	s.drop(jobKey{g, key})
}

// Stop drops the group's pending jobs, ignores the ones scheduled from now
// on and waits until its running jobs have returned (so not from a job of
// the group: it would wait for itself).
func (g *Group) Stop() {
	s := g.s
	s.mu.Lock()
	g.stopped = true
	for k := range s.pending {
		if k.g == g {
			s.drop(k)
		}
	}
	s.mu.Unlock()
	g.runs.Wait()
}

// Now is the scheduler's clock.
func (g *Group) Now() time.Time { return g.s.clock.Now() }

func (s *Scheduler) schedule(k jobKey, t time.Time, fn func(), sooner bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if k.g.stopped {
		return
	}
	if j := s.pending[k]; j != nil {
		j.fn = fn
		if !sooner || t.Before(j.due) {
			j.due = t
			if j.index >= 0 {
				heap.Fix(&s.heap, j.index)
			}
		}
	} else {
		j := &job{k: k, due: t, fn: fn, index: -1}
		s.pending[k] = j
		heap.Push(&s.heap, j)
	}
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// drop removes k's pending job (s.mu held).
func (s *Scheduler) drop(k jobKey) {
	j := s.pending[k]
	if j == nil {
		return
	}
	delete(s.pending, k)
	delete(s.deferred, k)
	if j.index >= 0 {
		heap.Remove(&s.heap, j.index)
	}
}

// loop waits for the earliest job's time (or a change of the heap) and
// starts workers for the due jobs.
func (s *Scheduler) loop() {
	for {
		s.mu.Lock()
		s.dispatch()
		var timer <-chan time.Time
		stop := func() bool { return false }
		if len(s.heap) > 0 && s.active < s.workers {
			// (With every worker busy, a finishing worker takes the
			// next due job itself.)
			timer, stop = s.clock.TimerAt(s.heap[0].due)
		}
		s.mu.Unlock()
		select {
		case <-s.done:
			stop()
			return
		case <-s.wake:
		case <-timer:
		}
		stop()
	}
}

// dispatch starts workers for due jobs while fewer than s.workers run
// (s.mu held).
func (s *Scheduler) dispatch() {
	for s.active < s.workers {
		j := s.take()
		if j == nil {
			return
		}
		s.active++
		go s.work(j)
	}
}

// take returns a due job whose key is not running, marked running, or nil
// (s.mu held). A due job whose key runs waits in deferred.
func (s *Scheduler) take() *job {
	now := s.clock.Now()
	for len(s.heap) > 0 && !s.heap[0].due.After(now) {
		j := heap.Pop(&s.heap).(*job)
		if s.running[j.k] {
			s.deferred[j.k] = j
			continue
		}
		delete(s.pending, j.k)
		s.running[j.k] = true
		j.k.g.runs.Add(1)
		return j
	}
	return nil
}

// work runs j, then the next due jobs, until none is due.
func (s *Scheduler) work(j *job) {
	for j != nil {
		j.fn()
		s.mu.Lock()
		delete(s.running, j.k)
		if d := s.deferred[j.k]; d != nil {
			delete(s.deferred, j.k)
			heap.Push(&s.heap, d)
		}
		j.k.g.runs.Done()
		j = s.take()
		if j == nil {
			s.active--
		}
		s.mu.Unlock()
	}
	select {
	case s.wake <- struct{}{}: // a deferred job may be due now
	default:
	}
}

// jobHeap orders jobs by due time.
type jobHeap []*job

func (h jobHeap) Len() int           { return len(h) }
func (h jobHeap) Less(i, j int) bool { return h[i].due.Before(h[j].due) }
func (h jobHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *jobHeap) Push(x any) {
	j := x.(*job)
	j.index = len(*h)
	*h = append(*h, j)
}
func (h *jobHeap) Pop() any {
	old := *h
	j := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	j.index = -1
	return j
}
