package zonemodel

import (
	"fmt"
	"sync"

	bolt "go.etcd.io/bbolt"
)

// groupCommit runs the write transactions of every zone of a state
// directory's database (bbolt has one writer at a time): a writer that finds
// no transaction in progress runs its own at once (a lone UPDATE waits for
// nothing); writers that arrive meanwhile queue, and the next of them runs
// the whole queue in one transaction (one commit, one pair of fsyncs for
// all). When a call fails the transaction is rolled back and each call of it
// runs again alone, so a call must do the same when run again (its writes
// depend only on its arguments and on the database).
type groupCommit struct {
	db    *bolt.DB
	mu    sync.Mutex
	queue []*groupCall
	busy  bool // a leader runs the queue
}

// groupMax bounds the calls of one transaction.
const groupMax = 256

type groupCall struct {
	fn   func(*bolt.Tx) error
	done chan groupResult // the result, or the turn to lead
}

type groupResult struct {
	err  error
	lead bool
}

// update runs fn in a write transaction, with the calls queued beside it,
// and returns once that transaction is committed (or fn failed).
func (g *groupCommit) update(fn func(*bolt.Tx) error) error {
	c := &groupCall{fn: fn, done: make(chan groupResult, 1)}
	g.mu.Lock()
	g.queue = append(g.queue, c)
	lead := !g.busy
	g.busy = true
	g.mu.Unlock()
	if !lead {
		r := <-c.done
		if !r.lead {
			return r.err
		}
	}
	g.lead()
	return (<-c.done).err
}

// lead runs one batch of the queue (the leader's call is in it), then hands
// the lead to the first call still queued, if any.
func (g *groupCommit) lead() {
	g.mu.Lock()
	n := min(len(g.queue), groupMax)
	batch := g.queue[:n:n]
	g.queue = g.queue[n:]
	g.mu.Unlock()
	defer g.handOff()
	pending := batch
	defer func() {
		if r := recover(); r != nil {
			for _, c := range pending {
				c.done <- groupResult{err: fmt.Errorf("state database: transaction panicked: %v", r)}
			}
			panic(r)
		}
	}()
	g.run(batch, &pending)
}

// handOff passes the lead to the first queued call, or ends it.
func (g *groupCommit) handOff() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.queue) == 0 {
		g.busy = false
		g.queue = nil
		return
	}
	g.queue[0].done <- groupResult{lead: true}
}

// run commits the batch's calls in one transaction; if one fails, each runs
// again in a transaction of its own. pending is what has no result yet.
func (g *groupCommit) run(batch []*groupCall, pending *[]*groupCall) {
	err := g.db.Update(func(tx *bolt.Tx) error {
		for _, c := range batch {
			if err := c.fn(tx); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil && len(batch) > 1 {
		for i, c := range batch {
			*pending = batch[i:]
			c.done <- groupResult{err: g.db.Update(c.fn)}
		}
		*pending = nil
		return
	}
	*pending = nil
	for _, c := range batch {
		c.done <- groupResult{err: err}
	}
}
