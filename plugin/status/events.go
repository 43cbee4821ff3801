package status

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Kinds of events (the timeline's lanes, in order).
const (
	KindDNSSEC      = "dnssec"
	KindCertificate = "certificate"
	KindTLSA        = "tlsa"
	KindChallenge   = "challenge"
	KindZone        = "zone"
)

// kinds are the lanes of the timeline with their titles.
var kinds = []struct{ kind, title string }{
	{KindDNSSEC, "DNSSEC keys"},
	{KindCertificate, "Certificates"},
	{KindTLSA, "TLSA"},
	{KindChallenge, "Challenges"},
	{KindZone, "Zones"},
}

// grace is how late an event may be before it counts as overdue: a step
// due a moment ago is being run, not missed (a challenge sweeper runs
// every minute).
const grace = 2 * time.Minute

// Event is one scheduled event: something a plugin will do (or something
// that will happen unless it does) at At. An event whose time has passed
// is still pending: it is overdue.
type Event struct {
	ID      string    `json:"id"`
	At      time.Time `json:"at"`
	Kind    string    `json:"kind"`
	Subject string    `json:"subject"` // zone or certificate id
	What    string    `json:"what"`
	Overdue bool      `json:"overdue"`
}

// events lists the report's scheduled events up to end, earliest first,
// each part's from its own function.
func events(r *Report, now, end time.Time) []Event {
	l := &eventList{now: now, end: end}
	dnssecEvents(l, r)
	managed := certificateEvents(l, r)
	tlsaEvents(l, r, managed)
	challengeEvents(l, r)
	zoneEvents(l, r)
	return l.sorted()
}

// eventList collects the events of a report.
type eventList struct {
	now, end time.Time
	out      []Event
}

// add adds an event at a time up to the horizon (none without a time).
// failed marks one that is a failure already (an expired zone, a
// certificate past its ARI window): overdue without the grace.
func (l *eventList) add(at time.Time, kind, subject, what string, failed ...bool) {
	if at.IsZero() || at.After(l.end) {
		return
	}
	overdue := at.Before(l.now.Add(-grace)) || (len(failed) > 0 && failed[0] && !at.After(l.now))
	sum := sha256.Sum256([]byte(kind + "\x00" + subject + "\x00" + what + "\x00" + at.UTC().Format(time.RFC3339)))
	l.out = append(l.out, Event{ID: kind + "-" + hex.EncodeToString(sum[:6]), At: at.UTC(), Kind: kind, Subject: subject, What: what, Overdue: overdue})
}

// sorted returns the events earliest first, each once (the same event
// reported twice, by two views or generations, has one id).
func (l *eventList) sorted() []Event {
	out := l.out
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].At.Equal(out[j].At) {
			return out[i].At.Before(out[j].At)
		}
		return out[i].ID < out[j].ID
	})
	dedup := out[:0]
	for i, e := range out {
		if i > 0 && e.ID == out[i-1].ID {
			continue
		}
		dedup = append(dedup, e)
	}
	return dedup
}

// dnssecEvents: each dated step of the keys (a DS wait has no date).
func dnssecEvents(l *eventList, r *Report) {
	for _, z := range r.DNSSEC {
		for _, s := range z.Steps {
			if !s.WaitingDS {
				l.add(s.At, KindDNSSEC, z.Zone, s.What)
			}
		}
	}
}

// certificateEvents: each managed certificate's expiry, ARI window,
// renewal, next action and CA pause; it returns the managed ids.
func certificateEvents(l *eventList, r *Report) map[string]bool {
	managed := map[string]bool{}
	for _, c := range r.Certificates {
		managed[c.ID] = true
		l.add(c.NotAfter, KindCertificate, c.ID, "certificate expires")
		if c.ARI != nil && !c.ARI.End.IsZero() {
			if c.ARI.Start.After(l.now) {
				l.add(c.ARI.Start, KindCertificate, c.ID, "ARI renewal window opens")
			}
			if c.ARI.Past {
				l.add(c.ARI.End, KindCertificate, c.ID, "past the ARI window: the CA asks to replace it", true)
			} else {
				l.add(c.ARI.End, KindCertificate, c.ID, "ARI renewal window ends")
			}
		}
		l.add(c.RenewAt, KindCertificate, c.ID, "renewal ("+orDash(c.RenewWhy)+")")
		if !c.NextAt.Equal(c.RenewAt) {
			l.add(c.NextAt, KindCertificate, c.ID, "next: "+c.Next)
		}
		l.add(c.CAPausedUntil, KindCertificate, c.ID, "CA pause ends")
	}
	return managed
}

// tlsaEvents: the expiry of certificate files no certs block manages, and
// per record when its hold-down ends (still ahead) or when a retiring one
// is removed (the record is the same at every name and view: one event,
// the latest time).
func tlsaEvents(l *eventList, r *Report, managed map[string]bool) {
	for _, cs := range r.TLSA {
		if !managed[cs.Cert] {
			l.add(cs.NotAfter, KindCertificate, cs.Cert, "certificate expires")
		}
		ready, gone := map[string]time.Time{}, map[string]time.Time{}
		for _, rec := range cs.Records {
			if !rec.Until.IsZero() {
				if rec.Until.After(gone[rec.Record]) {
					gone[rec.Record] = rec.Until
				}
			} else if rec.ReadyAt.After(l.now) && rec.ReadyAt.After(ready[rec.Record]) {
				ready[rec.Record] = rec.ReadyAt
			}
		}
		for rec, at := range ready {
			l.add(at, KindTLSA, cs.Cert, "hold-down over: "+abbrev(rec))
		}
		for rec, at := range gone {
			l.add(at, KindTLSA, cs.Cert, "retired, removed: "+abbrev(rec))
		}
	}
}

// challengeEvents: when each pending challenge record expires.
func challengeEvents(l *eventList, r *Report) {
	for _, z := range r.Challenges {
		for _, c := range z.Challenges {
			l.add(c.Expires, KindChallenge, z.Zone, "challenge "+c.Owner+" expires")
		}
	}
}

// zoneEvents: when a secondary zone expires unless refreshed (overdue at
// once when it has).
func zoneEvents(l *eventList, r *Report) {
	for _, z := range r.Zones {
		if s := z.Secondary; s != nil && !s.ExpiresAt.IsZero() {
			what := "expires unless refreshed from " + strings.Join(s.Primaries, ", ")
			if s.Expired {
				what = "expired: no primary reached"
			}
			l.add(s.ExpiresAt, KindZone, z.Zone, what, s.Expired)
		}
	}
}

// abbrev shortens the digest of "u s m hex" (the whole record is in the
// JSON).
func abbrev(r string) string {
	f := strings.Fields(r)
	if len(f) == 4 && len(f[3]) > 8 {
		f[3] = f[3][:8] + "…"
	}
	return strings.Join(f, " ")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// when says a time relative to now in words.
func when(t, now time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := t.Sub(now)
	a := d
	if a < 0 {
		a = -a
	}
	var s string
	switch {
	case a < time.Minute:
		s = fmt.Sprintf("%ds", int(a.Seconds()))
	case a < 2*time.Hour:
		s = fmt.Sprintf("%dm", int(a.Minutes()))
	case a < 48*time.Hour:
		s = fmt.Sprintf("%dh", int(a.Hours()))
	default:
		s = fmt.Sprintf("%dd", int(a.Hours()/24))
	}
	if d < 0 {
		return s + " ago"
	}
	return "in " + s
}
