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
// the memory; it holds at most limit entries (the oldest go first) and
// forgets each at the end of its window.
type replayMemory struct {
	mu    sync.Mutex
	seen  map[[32]byte]time.Time // key+MAC digest → end of its window
	order [][32]byte             // insertion order
	limit int
	clock func() time.Time
}

const replayLimit = 1 << 16

func newReplayMemory() *replayMemory {
	return &replayMemory{seen: map[[32]byte]time.Time{}, limit: replayLimit, clock: time.Now}
}

// check records the request's MAC; a MAC already recorded (and not yet
// expired) is a replay.
func (m *replayMemory) check(key string, t *dns.TSIG) *Failure {
	h := sha256.New()
	h.Write([]byte(key))
	h.Write([]byte{0})
	h.Write([]byte(t.MAC))
	var id [32]byte
	h.Sum(id[:0])
	now := m.clock()
	end := time.Unix(int64(t.TimeSigned)+int64(t.Fudge), 0)

	m.mu.Lock()
	defer m.mu.Unlock()
	m.expire(now)
	if until, ok := m.seen[id]; ok && now.Before(until) {
		return &Failure{Rcode: dns.RcodeRefused, Reason: "replay", Msg: "TSIG key " + key + ": replay of a message already processed (same MAC within its time window)"}
	}
	if len(m.order) >= m.limit {
		delete(m.seen, m.order[0])
		m.order = m.order[1:]
	}
	m.seen[id] = end
	m.order = append(m.order, id)
	return nil
}

// expire drops the entries at the front of the order whose window has
// ended (entries behind a longer-lived one wait for it: the memory stays
// bounded by limit either way).
func (m *replayMemory) expire(now time.Time) {
	n := 0
	for _, id := range m.order {
		if until, ok := m.seen[id]; ok && now.Before(until) {
			break
		}
		delete(m.seen, id)
		n++
	}
	m.order = m.order[n:]
}
