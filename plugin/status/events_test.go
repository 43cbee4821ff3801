package status

import (
	"strings"
	"testing"
	"time"
)

// TestEvents: every scheduled event of the report up to the horizon, and
// nothing beyond it or without a date; past ones overdue; earliest first.
func TestEvents(t *testing.T) {
	now := time.Date(2027, 3, 1, 12, 0, 0, 0, time.UTC)
	r := sampleReport(now)
	want := map[string]bool{ // kind|subject|what -> overdue
		"dnssec|example.test.|CSK rollover starts (end of lifetime)":                       false,
		"certificate|www|certificate expires":                                              false,
		"certificate|www|past the ARI window: the CA asks to replace it":                   true,
		"certificate|www|renewal (ari)":                                                    true,
		"certificate|mail|certificate expires":                                             false,
		"tlsa|www|hold-down over: 3 1 1 bbbbbbbb…":                                         false,
		"tlsa|www|retired, removed: 3 1 1 cccccccc…":                                       false,
		"challenge|example.test.|challenge _acme-challenge.<b>x</b>.example.test. expires": false,
		"zone|copy.test.|expired: no primary reached":                                      true,
	}
	got := map[string]bool{}
	var prev time.Time
	for _, e := range r.Events {
		k := e.Kind + "|" + e.Subject + "|" + e.What
		if _, dup := got[k]; dup {
			t.Errorf("event twice: %s", k)
		}
		got[k] = e.Overdue
		if e.At.Before(prev) {
			t.Errorf("events out of order at %s", k)
		}
		prev = e.At
		if e.ID == "" || !strings.HasPrefix(e.ID, e.Kind+"-") {
			t.Errorf("event %s: id %q", k, e.ID)
		}
	}
	for k, over := range want {
		g, ok := got[k]
		if !ok {
			t.Errorf("missing event %s", k)
		} else if g != over {
			t.Errorf("%s: overdue %v, want %v", k, g, over)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("unexpected event %s", k)
		}
	}
}

// TestEventGrace: a step due a moment ago is not overdue yet; one due
// longer ago is.
func TestEventGrace(t *testing.T) {
	now := time.Now()
	for _, tc := range []struct {
		at   time.Time
		over bool
	}{{now.Add(-grace / 2), false}, {now.Add(-2 * grace), true}, {now.Add(time.Hour), false}} {
		rep := sampleReport(now)
		rep.Certificates = rep.Certificates[:1]
		rep.Certificates[0].ARI = nil
		rep.Certificates[0].RenewAt, rep.Certificates[0].NextAt = tc.at, tc.at
		found := false
		for _, e := range events(rep, now, now.Add(DefaultHorizon)) {
			if e.What == "renewal (ari)" {
				found = true
				if e.Overdue != tc.over {
					t.Errorf("renewal due %s ago: overdue %v, want %v", now.Sub(tc.at), e.Overdue, tc.over)
				}
			}
		}
		if !found {
			t.Errorf("renewal due %s ago: no event", now.Sub(tc.at))
		}
	}
}

// TestEventFailedNow: a zone that expired a moment ago is overdue at once
// (a failure, not a step being run).
func TestEventFailedNow(t *testing.T) {
	now := time.Now()
	rep := sampleReport(now)
	rep.Zones[1].Secondary.ExpiresAt = now.Add(-time.Second)
	found := false
	for _, e := range events(rep, now, now.Add(DefaultHorizon)) {
		if e.Kind == KindZone {
			found = true
			if !e.Overdue {
				t.Errorf("%s: not overdue", e.What)
			}
		}
	}
	if !found {
		t.Fatal("no zone event")
	}
}
