package tsigauth

import (
	"crypto/sha256"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// replayMemory remembers the MACs of the signed requests accepted within
// their time window (Time Signed ± Fudge): a request whose key and MAC were
// already accepted is a copy of a message already processed, and is
// refused (REFUSED, signed). Without it, a captured UPDATE that added a
// challenge record, replayed after the client deleted the record, would
// bring the record back.
//
// Only requests whose MAC verified get here, so only a key holder can fill
// the memory. Each key has its own bounded memory (limit entries, the
// oldest go first, each forgotten at the end of its window): a holder of
// one key cannot push another key's messages out of it and then replay
// them; only the key's own traffic (more than limit requests within a
// window) can.
type replayMemory struct {
	mu    sync.Mutex
	keys  map[string]*macs // by key name
	limit int              // entries per key
	clock func() time.Time
}

// macs is the memory of one key.
type macs struct {
	seen  map[[32]byte]time.Time // MAC digest → end of its window
	order [][32]byte             // insertion order
}

const replayLimit = 1 << 16

func newReplayMemory() *replayMemory {
	return &replayMemory{keys: map[string]*macs{}, limit: replayLimit, clock: time.Now}
}

// check records the request's MAC; a MAC already recorded for the key (and
// not yet expired) is a replay.
func (m *replayMemory) check(key string, t *dns.TSIG) *Failure {
	id := sha256.Sum256([]byte(t.MAC))
	now := m.clock()
	end := time.Unix(int64(t.TimeSigned)+int64(t.Fudge), 0)

	m.mu.Lock()
	defer m.mu.Unlock()
	k := m.keys[key]
	if k == nil {
		k = &macs{seen: map[[32]byte]time.Time{}}
		m.keys[key] = k
	}
	k.expire(now)
	if until, ok := k.seen[id]; ok && now.Before(until) {
		return &Failure{Rcode: dns.RcodeRefused, Reason: "replay", Msg: "TSIG key " + key + ": replay of a message already processed (same MAC within its time window)"}
	}
	if len(k.order) >= m.limit {
		delete(k.seen, k.order[0])
		k.order = k.order[1:]
	}
	k.seen[id] = end
	k.order = append(k.order, id)
	return nil
}

// expire drops the entries at the front of the order whose window has
// ended (entries behind a longer-lived one wait for it: the memory stays
// bounded by limit either way).
func (k *macs) expire(now time.Time) {
	n := 0
	for _, id := range k.order {
		if until, ok := k.seen[id]; ok && now.Before(until) {
			break
		}
		delete(k.seen, id)
		n++
	}
	k.order = k.order[n:]
}
