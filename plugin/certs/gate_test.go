package certs

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/go-acme/lego/v5/acme"
)

// After a CA error every certificate waits (backoff, or the CA's
// Retry-After when longer); then one probes while the others wait; an
// answer opens the gate for all. An error about one order does not close it.
func TestGate(t *testing.T) {
	g := newGate(time.Second, 8*time.Second)
	now := time.Unix(1_800_000_000, 0)
	if ok, _ := g.enter(now); !ok {
		t.Fatal("closed at start")
	}
	g.leave(now, &acme.ProblemDetails{HTTPStatus: 400, Type: acme.BadCSRErrorType})
	if until, _ := g.pausedUntil(); !until.IsZero() {
		t.Fatal("an order's error closed the gate")
	}
	down := &acme.ProblemDetails{HTTPStatus: 503, Type: "urn:ietf:params:acme:error:serverInternal"}
	g.enter(now)
	g.leave(now, down)
	until, why := g.pausedUntil()
	if d := until.Sub(now); d < time.Second || d > 1100*time.Millisecond || why == "" {
		t.Fatalf("first failure: closed for %s (%s)", d, why)
	}
	if ok, at := g.enter(now.Add(500 * time.Millisecond)); ok || !at.Equal(until) {
		t.Fatalf("entered while closed (%v)", at)
	}
	// Reopened: one probe, the others wait.
	later := until.Add(time.Millisecond)
	if ok, _ := g.enter(later); !ok {
		t.Fatal("no probe after the pause")
	}
	if ok, _ := g.enter(later); ok {
		t.Fatal("a second certificate entered during the probe")
	}
	// The probe fails too: twice as long; the CA's Retry-After is longer still.
	g.noteRetryAfter(30 * time.Second)
	g.leave(later, down)
	if until, _ := g.pausedUntil(); until.Sub(later) != 30*time.Second {
		t.Fatalf("Retry-After not honoured: %s", until.Sub(later))
	}
	g.enter(until.Add(time.Millisecond))
	g.leave(until, errors.New("dial tcp 127.0.0.1:14000: connect: connection refused (not classified)"))
	// (an unclassified error is an answer of sorts: it opens the gate)
	if until, _ := g.pausedUntil(); !until.IsZero() {
		t.Fatal("still closed")
	}
	rl := &acme.RateLimitedError{ProblemDetails: &acme.ProblemDetails{HTTPStatus: http.StatusTooManyRequests, Type: acme.RateLimitedErrorType}, RetryAfter: time.Hour}
	g.leave(now, rl)
	if until, _ := g.pausedUntil(); until.Sub(now) != time.Hour {
		t.Fatalf("rate limit: %s", until.Sub(now))
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Duration{
		"": 0, "120": 2 * time.Minute, "0": 0, "-5": 0, "soon": 0, "999999999": 24 * time.Hour,
		now.Add(90 * time.Second).Format(http.TimeFormat): 90 * time.Second,
		now.Add(-time.Hour).Format(http.TimeFormat):       0,
	} {
		if got := parseRetryAfter(in, now); got != want {
			t.Errorf("%q: %s, want %s", in, got, want)
		}
	}
}

// FuzzParseRetryAfter: whatever a CA sends, the wait is between 0 and a day.
func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{"120", "Wed, 21 Oct 2015 07:28:00 GMT", "", "-1", "1e9"} {
		f.Add(s)
	}
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, v string) {
		if d := parseRetryAfter(v, now); d < 0 || d > 24*time.Hour {
			t.Fatalf("%q: %s", v, d)
		}
	})
}

// A certificate that entered and then did not talk to the CA (its next key
// was not ready) frees the probe without opening the gate.
func TestGateSkip(t *testing.T) {
	g := newGate(time.Second, 8*time.Second)
	now := time.Unix(1_800_000_000, 0)
	g.leave(now, &acme.ProblemDetails{HTTPStatus: 503})
	later := now.Add(2 * time.Second)
	if ok, _ := g.enter(later); !ok {
		t.Fatal("no probe")
	}
	g.skip()
	if until, _ := g.pausedUntil(); until.IsZero() {
		t.Fatal("a skipped probe opened the gate")
	}
	if ok, _ := g.enter(later); !ok {
		t.Fatal("the probe slot was not freed")
	}
}
