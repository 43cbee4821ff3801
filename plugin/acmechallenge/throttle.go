package acmechallenge

import (
	"net"
	"net/netip"
	"sync"
	"time"
)

// Password guessing on the HTTP API is throttled: after throttleMax failed
// logins from one client address, or for one configured user, within
// throttleWindow of the first of them, further requests from that address or
// for that user are answered 429 with Retry-After, without the password being
// checked, until the window has passed. The table is bounded
// (throttleEntries): when full, entries whose window has passed go first,
// then the oldest.
const (
	throttleMax     = 10
	throttleWindow  = 5 * time.Minute
	throttleEntries = 10000
)

// authThrottle counts failed logins per key (client address or user).
type authThrottle struct {
	now      func() time.Time
	max      int
	window   time.Duration
	capacity int

	mu      sync.Mutex
	entries map[string]*failures
}

// failures is one key's failed logins in its current window.
type failures struct {
	first time.Time
	n     int
}

func newAuthThrottle(now func() time.Time) *authThrottle {
	return &authThrottle{now: now, max: throttleMax, window: throttleWindow, capacity: throttleEntries, entries: map[string]*failures{}}
}

// addrKey is the throttle key of a client address (host:port as
// http.Request.RemoteAddr has it): the IPv4 address, or the /64 of an IPv6
// address (one host has a whole /64).
func addrKey(remote string) string {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return "addr:" + host
	}
	a = a.Unmap().WithZone("")
	if a.Is6() {
		p, _ := a.Prefix(64)
		return "addr:" + p.String()
	}
	return "addr:" + a.String()
}

// userKey is the throttle key of a user.
func userKey(user string) string { return "user:" + user }

// live returns the entry of key if its window has not passed (t.mu held).
func (t *authThrottle) live(key string, now time.Time) *failures {
	f := t.entries[key]
	if f == nil {
		return nil
	}
	if !now.Before(f.first.Add(t.window)) {
		delete(t.entries, key)
		return nil
	}
	return f
}

// blocked returns which key is throttled (the first of keys that is) and how
// long until it is not; "" when none is.
func (t *authThrottle) blocked(keys ...string) (string, time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	for _, k := range keys {
		if f := t.live(k, now); f != nil && f.n >= t.max {
			return k, f.first.Add(t.window).Sub(now)
		}
	}
	return "", 0
}

// fail counts a failed login for each key.
func (t *authThrottle) fail(keys ...string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	for _, k := range keys {
		if f := t.live(k, now); f != nil {
			f.n++
			continue
		}
		t.makeRoom(now)
		t.entries[k] = &failures{first: now, n: 1}
	}
}

// forget drops key's failures (a successful login from an address).
func (t *authThrottle) forget(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.entries, key)
}

// makeRoom frees an entry when the table is full (t.mu held): the entries
// whose window has passed, else the one whose window started first.
func (t *authThrottle) makeRoom(now time.Time) {
	if len(t.entries) < t.capacity {
		return
	}
	var oldest string
	var at time.Time
	for k, f := range t.entries {
		if !now.Before(f.first.Add(t.window)) {
			delete(t.entries, k)
			continue
		}
		if oldest == "" || f.first.Before(at) {
			oldest, at = k, f.first
		}
	}
	if len(t.entries) >= t.capacity && oldest != "" {
		delete(t.entries, oldest)
	}
}

// size is the number of entries (for tests).
func (t *authThrottle) size() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.entries)
}
