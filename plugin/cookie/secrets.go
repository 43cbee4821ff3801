package cookie

import (
	"crypto/rand"
	"sync"
	"sync/atomic"
	"time"
)

// keys are the secrets in force at one moment: the first makes the server
// cookies of answers, every one of them is accepted in requests (the
// previous secret after a rotation, or the Corefile's accept list: the old
// secret during a rollover, or the next one before every server of an
// anycast set makes cookies with it; RFC 9018 §5).
type keys []*Secret

// ring supplies the keys: the configured ones, or a random secret replaced
// every rotate, the one before it still accepted. A cookie lives an hour
// (RFC 9018 §4.3) and rotate is at least that, so every cookie made with
// the previous secret is accepted until it expires: rotation breaks no
// client.
type ring struct {
	static keys
	extra  keys // accepted besides the random ones
	rotate time.Duration
	mu     sync.Mutex // serialises rotations
	gen    atomic.Pointer[generation]
}

type generation struct {
	keys  keys
	since time.Time
}

// minRotate: a random secret must outlive the cookies it made, or the next
// rotation but one would reject them before they expire.
const minRotate = time.Hour

// defaultRotate is how often a random secret is replaced.
const defaultRotate = 24 * time.Hour

func staticRing(secret *Secret, accept keys) *ring {
	return &ring{static: append(keys{secret}, accept...)}
}

func randomRing(rotate time.Duration, accept keys, now time.Time) *ring {
	r := &ring{rotate: rotate, extra: accept}
	r.gen.Store(&generation{keys: append(keys{newSecret()}, accept...), since: now})
	return r
}

// at returns the keys in force at now, rotating a random secret that is due.
func (r *ring) at(now time.Time) keys {
	if r.static != nil {
		return r.static
	}
	g := r.gen.Load()
	if now.Sub(g.since) < r.rotate {
		return g.keys
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if g = r.gen.Load(); now.Sub(g.since) < r.rotate {
		return g.keys
	}
	next := &generation{keys: append(keys{newSecret(), g.keys[0]}, r.extra...), since: now}
	r.gen.Store(next)
	return next.keys
}

func newSecret() *Secret {
	var s Secret
	rand.Read(s[:]) // never fails (crypto/rand: it crashes the program instead)
	return &s
}

// randomRings holds the random secrets of the process by rotation period:
// every server block with a generated secret and that period shares it, and
// a configuration reload keeps it, so cookies handed out before the reload
// stay valid.
var randomRings = struct {
	sync.Mutex
	m map[time.Duration]*ring
}{m: map[time.Duration]*ring{}}

func sharedRandomRing(rotate time.Duration, now time.Time) *ring {
	randomRings.Lock()
	defer randomRings.Unlock()
	r := randomRings.m[rotate]
	if r == nil {
		r = randomRing(rotate, nil, now)
		randomRings.m[rotate] = r
	}
	return r
}
