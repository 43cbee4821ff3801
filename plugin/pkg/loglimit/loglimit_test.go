package loglimit

import (
	"testing"
	"time"
)

// A second's budget lets Burst lines through and counts the rest; the next
// allowed line reports them once; a new second has a new budget.
func TestLimit(t *testing.T) {
	now := time.Unix(1000, 0)
	l := New(3)
	l.now = func() time.Time { return now }
	for i := 0; i < 3; i++ {
		if !l.Allow() {
			t.Fatalf("line %d refused within the budget", i)
		}
	}
	for i := 0; i < 5; i++ {
		if l.Allow() {
			t.Fatalf("line %d allowed beyond the budget", 3+i)
		}
	}
	if s := l.Suppressed(); s != " (5 more refusals not logged)" {
		t.Fatalf("suppressed %q", s)
	}
	now = now.Add(time.Second)
	if !l.Allow() {
		t.Fatal("a new second has no budget")
	}
	if s := l.Suppressed(); s != "" {
		t.Fatalf("suppressed reported twice: %q", s)
	}
	l.Allow()
	l.Allow()
	l.Allow() // the 4th of this second
	if s := l.Suppressed(); s != " (1 more refusals not logged)" {
		t.Fatalf("suppressed %q", s)
	}
	l.Reset()
	if !l.Allow() {
		t.Fatal("Reset did not restore the budget")
	}
}
