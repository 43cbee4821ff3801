// Package loglimit bounds the log lines that requests nobody authenticated
// can cause. dnspki logs every refusal (which key, which name, why), so a
// flood of refused requests (unsigned UPDATEs, forged TSIG records,
// transfers from strangers) would otherwise write a line per packet: one
// budget of Burst lines a second, shared by every plugin that logs
// refusals, lets the first through and counts the rest, and the next line
// logged says how many were not (the metrics count every one).
package loglimit

import (
	"strconv"
	"sync"
	"time"
)

// Burst is how many refusal lines a second are logged.
const Burst = 20

// Limit is a budget of lines per second (by the Unix second).
type Limit struct {
	mu      sync.Mutex
	burst   int
	second  int64
	n       int
	dropped int
	now     func() time.Time
}

// New returns a budget of burst lines a second.
func New(burst int) *Limit { return &Limit{burst: burst, now: time.Now} }

// Refusals is the budget every plugin's refusal lines share.
var Refusals = New(Burst)

// Allow reports whether a line may be logged now; a line not allowed is
// counted for Suppressed.
func (l *Limit) Allow() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if s := l.now().Unix(); s != l.second {
		l.second, l.n = s, 0
	}
	l.n++
	if l.n > l.burst {
		l.dropped++
		return false
	}
	return true
}

// Suppressed is the note to append to an allowed line about the lines not
// logged since the last one (" (N more refusals not logged)"), or "".
func (l *Limit) Suppressed() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.dropped == 0 {
		return ""
	}
	s := " (" + strconv.Itoa(l.dropped) + " more refusals not logged)"
	l.dropped = 0
	return s
}

// Reset forgets the current second's count (for tests that assert log
// lines after other tests used the second's budget).
func (l *Limit) Reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.second, l.n = 0, 0
}
