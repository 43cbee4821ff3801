package certs

import (
	"errors"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/go-acme/lego/v5/acme"
)

// caGate keeps the certificates of a certs block (one CA) from hammering a
// CA that fails: after a CA error (unreachable, 5xx, rate limit, timeout)
// every certificate waits until the gate reopens (exponential backoff from
// the block's backoff MIN to MAX, with jitter, or longer when the CA said
// Retry-After), then one certificate probes while the others wait, and a
// success opens the gate for all. Errors that concern one order (a refused
// order, a failed validation, DNS propagation, a full disk) do not close it.
type caGate struct {
	min, max time.Duration

	mu         sync.Mutex
	failures   int
	until      time.Time
	probing    bool
	retryAfter time.Duration // the last Retry-After the CA sent with an error
	lastErr    string
}

func newGate(min, max time.Duration) *caGate { return &caGate{min: min, max: max} }

// enter asks to talk to the CA at now: ok, or when to come back. A caller
// that entered must call leave.
func (g *caGate) enter(now time.Time) (bool, time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.failures == 0 {
		return true, time.Time{}
	}
	if now.Before(g.until) {
		return false, g.until
	}
	if g.probing {
		return false, now.Add(time.Second)
	}
	g.probing = true
	return true, time.Time{}
}

// leave reports the outcome of a CA conversation: a CA error closes the gate
// (longer at each failure in a row), anything else opens it.
func (g *caGate) leave(now time.Time, err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.probing = false
	if err == nil || !isCAError(err) {
		// The CA answered (an error about one order is an answer).
		if g.failures > 0 {
			log.Infof("the CA answers again: orders resume")
		}
		g.failures, g.until, g.lastErr, g.retryAfter = 0, time.Time{}, "", 0
		return
	}
	g.failures++
	d := g.min
	for i := 1; i < g.failures && d < g.max; i++ {
		d *= 2
	}
	if d > g.max {
		d = g.max
	}
	d += time.Duration(rand.Int64N(int64(d)/10 + 1))
	var rl *acme.RateLimitedError
	if errors.As(err, &rl) && rl.RetryAfter > d {
		d = rl.RetryAfter
	}
	if g.retryAfter > d {
		d = g.retryAfter
	}
	g.retryAfter = 0
	g.until, g.lastErr = now.Add(d), err.Error()
	log.Warningf("the CA failed (%v, %d in a row): no certificate of this block talks to it for %s", err, g.failures, d.Round(time.Second))
}

// skip gives back an entry that did not talk to the CA after all (nothing
// learnt: a probe slot is freed, the gate stays as it is).
func (g *caGate) skip() {
	g.mu.Lock()
	g.probing = false
	g.mu.Unlock()
}

// pausedUntil is when the gate reopens (zero while open) and why it closed.
func (g *caGate) pausedUntil() (time.Time, string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.failures == 0 {
		return time.Time{}, ""
	}
	return g.until, g.lastErr
}

// noteRetryAfter records the Retry-After of a CA error response.
func (g *caGate) noteRetryAfter(d time.Duration) {
	g.mu.Lock()
	if d > g.retryAfter {
		g.retryAfter = d
	}
	g.mu.Unlock()
}

// isCAError reports an error of the CA as a whole (as opposed to one of an
// order): unreachable, a server error, a rate limit, a timeout.
func isCAError(err error) bool {
	var pd *acme.ProblemDetails
	if errors.As(err, &pd) {
		return pd.HTTPStatus >= 500 || pd.HTTPStatus == http.StatusTooManyRequests || pd.Type == acme.RateLimitedErrorType
	}
	switch classify(err) {
	case "ca_unreachable", "rate_limited", "timeout":
		return true
	}
	return false
}

// retryAfterTransport tells the gate the Retry-After of every CA answer that
// is an error (lego keeps it for rate limits only).
type retryAfterTransport struct {
	rt   http.RoundTripper
	gate *caGate
}

func (t *retryAfterTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.rt.RoundTrip(req)
	if err == nil && (resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500) {
		if d := parseRetryAfter(resp.Header.Get("Retry-After"), time.Now()); d > 0 {
			t.gate.noteRetryAfter(d)
		}
	}
	return resp, err
}

// parseRetryAfter reads a Retry-After header (RFC 9110 §10.2.3: seconds or
// an HTTP date), capped at a day; 0 when absent or unreadable.
func parseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	var d time.Duration
	if n, err := strconv.ParseUint(v, 10, 32); err == nil {
		d = time.Duration(n) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	if d < 0 {
		return 0
	}
	if d > 24*time.Hour {
		d = 24 * time.Hour
	}
	return d
}
