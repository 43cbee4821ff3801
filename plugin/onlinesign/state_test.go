package onlinesign

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/miekg/dns"
)

type fakeEnv struct {
	now    time.Time
	tag    uint16
	maxTTL time.Duration
	dsSeen bool
	dsTTL  time.Duration
}

func (e *fakeEnv) Now() time.Time { return e.now }
func (e *fakeEnv) NewKey(role string, alg uint8) (*KeyState, error) {
	e.tag++
	return &KeyState{Key: fmt.Sprintf("K%s-%d", role, e.tag), Role: role, Algorithm: alg, Tag: e.tag, Created: e.now}, nil
}
func (e *fakeEnv) MaxTTL() time.Duration { return e.maxTTL }
func (e *fakeEnv) DSSeen(keys []*KeyState, since time.Time) (bool, time.Duration) {
	return e.dsSeen, e.dsTTL
}

func testPolicy(scheme string) Policy {
	return Policy{
		Algorithm: dns.ECDSAP256SHA256, Scheme: scheme,
		DNSKEYTTL: time.Minute, Propagation: 30 * time.Second,
		ZSKLifetime: time.Hour, KSKLifetime: 2 * time.Hour, DSTTL: 5 * time.Minute,
	}
}

// flags summarizes the keys: role:tag:P(ublished)Z(one)K(eys)C(DS).
func flags(st *State) string {
	s := ""
	for _, k := range st.Keys {
		f := ""
		for _, x := range []struct {
			b bool
			c string
		}{{k.Published, "P"}, {k.SignsZone, "Z"}, {k.SignsKeys, "K"}, {k.CDS, "C"}} {
			if x.b {
				f += x.c
			}
		}
		s += fmt.Sprintf("%s%d:%s ", k.Role, k.Tag, f)
	}
	return s
}

// checkSafe verifies what must hold at every moment: something signs the
// zone and the keys, every signing key except during presign/post-sign of a
// keyset rollover is published, and a key in CDS is published and signs the
// DNSKEY set.
func checkSafe(t *testing.T, st *State, when string) {
	t.Helper()
	zone, keys := 0, 0
	for _, k := range st.Keys {
		if k.SignsZone {
			zone++
		}
		if k.SignsKeys {
			keys++
		}
		if k.CDS && (!k.Published || !k.SignsKeys) {
			t.Errorf("%s: %s in CDS but published=%v signsKeys=%v", when, k.Key, k.Published, k.SignsKeys)
		}
		if (k.SignsZone || k.SignsKeys) && !k.Published && st.roll("keyset") == nil {
			t.Errorf("%s: %s signs but is not published", when, k.Key)
		}
	}
	if zone == 0 || keys == 0 {
		t.Errorf("%s: %d zone signers, %d key signers", when, zone, keys)
	}
}

// run advances the state from now in steps of d until until, checking
// safety, and returns the state.
func run(t *testing.T, st *State, p Policy, e *fakeEnv, d, until time.Duration) {
	t.Helper()
	end := e.now.Add(until)
	for ; !e.now.After(end); e.now = e.now.Add(d) {
		if _, _, err := st.advance(p, e); err != nil {
			t.Fatal(err)
		}
		checkSafe(t, st, e.now.Format(time.TimeOnly))
	}
}

func TestBootstrap(t *testing.T) {
	e := &fakeEnv{now: time.Unix(1_800_000_000, 0), maxTTL: 5 * time.Minute}
	st := &State{}
	st.advance(testPolicy(SchemeCSK), e)
	if got := flags(st); got != "csk1:PZKC " {
		t.Fatalf("CSK bootstrap: %s", got)
	}
	st = &State{}
	st.advance(testPolicy(SchemeSplit), e)
	if got := flags(st); got != "ksk2:PKC zsk3:PZ " {
		t.Fatalf("split bootstrap: %s", got)
	}
}

func TestZSKRollover(t *testing.T) {
	p := testPolicy(SchemeSplit)
	p.KSKLifetime = 0
	e := &fakeEnv{now: time.Unix(1_800_000_000, 0), maxTTL: 5 * time.Minute}
	st := &State{}
	st.advance(p, e)
	// Before the lifetime: nothing.
	run(t, st, p, e, 10*time.Second, 59*time.Minute)
	if len(st.Rolls) != 0 || flags(st) != "ksk1:PKC zsk2:PZ " {
		t.Fatalf("before the ZSK lifetime: %s %v", flags(st), st.Rolls)
	}
	e.now = e.now.Add(time.Minute)
	st.advance(p, e)
	if flags(st) != "ksk1:PKC zsk2:PZ zsk3:P " {
		t.Fatalf("pre-publish: %s", flags(st))
	}
	start := e.now
	// After DNSKEY TTL + propagation, the new ZSK signs.
	e.now = start.Add(p.DNSKEYTTL + p.Propagation - time.Second)
	st.advance(p, e)
	if flags(st) != "ksk1:PKC zsk2:PZ zsk3:P " {
		t.Fatalf("too early: %s", flags(st))
	}
	e.now = start.Add(p.DNSKEYTTL + p.Propagation)
	st.advance(p, e)
	if flags(st) != "ksk1:PKC zsk2:P zsk3:PZ " {
		t.Fatalf("switch: %s", flags(st))
	}
	// After the max TTL + propagation, the old ZSK goes.
	sw := e.now
	e.now = sw.Add(e.maxTTL + p.Propagation)
	_, removed, _ := st.advance(p, e)
	if flags(st) != "ksk1:PKC zsk3:PZ " || len(removed) != 1 || removed[0] != "Kzsk-2" {
		t.Fatalf("retire: %s removed %v", flags(st), removed)
	}
	// The next one is due a lifetime after the new key became active.
	next, _ := st.nextEvent(p)
	if !next.Equal(sw.Add(p.ZSKLifetime)) {
		t.Errorf("next event %s, want %s", next, sw.Add(p.ZSKLifetime))
	}
}

func TestCSKRolloverWaitsForDS(t *testing.T) {
	p := testPolicy(SchemeCSK)
	p.KSKLifetime = 100 * time.Hour
	e := &fakeEnv{now: time.Unix(1_800_000_000, 0), maxTTL: 10 * time.Minute}
	st := &State{}
	st.advance(p, e)
	e.now = e.now.Add(p.KSKLifetime)
	st.advance(p, e)
	if flags(st) != "csk1:PZKC csk2:P " {
		t.Fatalf("publish: %s", flags(st))
	}
	e.now = e.now.Add(p.DNSKEYTTL + p.Propagation)
	st.advance(p, e)
	if flags(st) != "csk1:PK csk2:PZKC " {
		t.Fatalf("ready: %s", flags(st))
	}
	// No DS at the parent: the old key stays, however long it takes.
	run(t, st, p, e, time.Minute, 48*time.Hour)
	if flags(st) != "csk1:PK csk2:PZKC " {
		t.Fatalf("waiting for the DS: %s", flags(st))
	}
	// The DS appears: the old key goes after the DS TTL + propagation.
	e.dsSeen, e.dsTTL = true, 2*time.Minute
	st.advance(p, e)
	seen := e.now
	e.now = seen.Add(2*time.Minute + p.Propagation - time.Second)
	st.advance(p, e)
	if flags(st) != "csk1:PK csk2:PZKC " {
		t.Fatalf("too early: %s", flags(st))
	}
	e.now = seen.Add(2*time.Minute + p.Propagation)
	st.advance(p, e)
	if flags(st) != "csk2:PZKC " {
		t.Fatalf("done: %s", flags(st))
	}
}

func TestCSKRolloverKeepsOldSignaturesLongEnough(t *testing.T) {
	// The DS is at the parent at once, but the zone's max TTL is long: the
	// old CSK stays published until signatures made with it have expired.
	p := testPolicy(SchemeCSK)
	p.KSKLifetime = 100 * time.Hour
	e := &fakeEnv{now: time.Unix(1_800_000_000, 0), maxTTL: 3 * time.Hour, dsSeen: true, dsTTL: time.Minute}
	st := &State{}
	st.advance(p, e)
	e.now = e.now.Add(p.KSKLifetime)
	st.advance(p, e)
	e.now = e.now.Add(p.DNSKEYTTL + p.Propagation)
	st.advance(p, e)
	ready := e.now
	run(t, st, p, e, time.Minute, 3*time.Hour+p.Propagation-time.Minute)
	if len(st.Keys) != 2 {
		t.Fatalf("old CSK removed before its signatures expired: %s", flags(st))
	}
	e.now = ready.Add(3*time.Hour + p.Propagation)
	st.advance(p, e)
	if len(st.Keys) != 1 {
		t.Fatalf("old CSK kept too long: %s", flags(st))
	}
}

func TestKSKRollover(t *testing.T) {
	p := testPolicy(SchemeSplit)
	p.ZSKLifetime = 0
	e := &fakeEnv{now: time.Unix(1_800_000_000, 0), maxTTL: 5 * time.Minute, dsSeen: true}
	st := &State{}
	st.advance(p, e)
	e.now = e.now.Add(p.KSKLifetime)
	st.advance(p, e)
	if flags(st) != "ksk1:PKC zsk2:PZ ksk3:P " {
		t.Fatalf("publish: %s", flags(st))
	}
	run(t, st, p, e, 10*time.Second, p.DNSKEYTTL+p.Propagation+p.DSTTL+p.Propagation+time.Minute)
	if flags(st) != "zsk2:PZ ksk3:PKC " {
		t.Fatalf("done: %s", flags(st))
	}
}

func TestAlgorithmRollover(t *testing.T) {
	p := testPolicy(SchemeCSK)
	p.KSKLifetime = 0
	e := &fakeEnv{now: time.Unix(1_800_000_000, 0), maxTTL: 5 * time.Minute}
	st := &State{}
	st.advance(p, e)
	// The operator switches to Ed25519 and a KSK/ZSK split.
	p.Algorithm, p.Scheme = dns.ED25519, SchemeSplit
	st.advance(p, e)
	if flags(st) != "csk1:PZKC ksk2:K zsk3:Z " {
		t.Fatalf("presign: %s", flags(st))
	}
	run(t, st, p, e, 10*time.Second, e.maxTTL+p.Propagation+p.DNSKEYTTL+p.Propagation)
	if flags(st) != "csk1:PZK ksk2:PKC zsk3:PZ " {
		t.Fatalf("waiting for the DS: %s", flags(st))
	}
	e.dsSeen = true
	run(t, st, p, e, 10*time.Second, p.DSTTL+p.Propagation+p.DNSKEYTTL+p.Propagation+time.Minute)
	if flags(st) != "ksk2:PKC zsk3:PZ " {
		t.Fatalf("done: %s", flags(st))
	}
	for _, k := range st.Keys {
		if k.Algorithm != dns.ED25519 {
			t.Errorf("key %s algorithm %d", k.Key, k.Algorithm)
		}
	}
}

func TestStateSurvivesRestart(t *testing.T) {
	p := testPolicy(SchemeSplit)
	e := &fakeEnv{now: time.Unix(1_800_000_000, 0), maxTTL: 5 * time.Minute}
	st := &State{Zone: "example.test."}
	st.advance(p, e)
	e.now = e.now.Add(p.ZSKLifetime)
	st.advance(p, e)
	path := filepath.Join(t.TempDir(), "x.keystate")
	if err := st.save(path); err != nil {
		t.Fatal(err)
	}
	back, err := loadState(path)
	if err != nil {
		t.Fatal(err)
	}
	if flags(back) != flags(st) || len(back.Rolls) != 1 || !back.Rolls[0].Due.Equal(st.Rolls[0].Due) {
		t.Fatalf("reloaded %s %+v, was %s %+v", flags(back), back.Rolls, flags(st), st.Rolls)
	}
	// It continues where it was.
	e.now = back.Rolls[0].Due
	back.advance(p, e)
	if back.Rolls[0].Step != 2 {
		t.Fatalf("step %d after reload", back.Rolls[0].Step)
	}
}

// The waits of a step run from when its records were served: when the
// commit of the pre-published ZSK took d, the new key signs d later than
// DNSKEY TTL + propagation after the decision, never earlier; steps taken
// before keep their times.
func TestDelaySteps(t *testing.T) {
	p := testPolicy(SchemeSplit)
	p.KSKLifetime = 0
	e := &fakeEnv{now: time.Unix(1_800_000_000, 0), maxTTL: 5 * time.Minute}
	st := &State{}
	st.advance(p, e)
	e.now = e.now.Add(p.ZSKLifetime)
	decided := e.now
	st.advance(p, e)
	if flags(st) != "ksk1:PKC zsk2:PZ zsk3:P " {
		t.Fatalf("pre-publish: %s", flags(st))
	}
	const commit = 7 * time.Second
	st.delaySteps(decided, commit)
	e.now = decided.Add(p.DNSKEYTTL + p.Propagation)
	st.advance(p, e)
	if flags(st) != "ksk1:PKC zsk2:PZ zsk3:P " {
		t.Fatalf("signing with the new ZSK before its DNSKEY was served for TTL + propagation: %s", flags(st))
	}
	e.now = decided.Add(p.DNSKEYTTL + p.Propagation + commit)
	st.advance(p, e)
	if flags(st) != "ksk1:PKC zsk2:P zsk3:PZ " {
		t.Fatalf("switch: %s", flags(st))
	}
	due := st.Rolls[0].Due
	st.delaySteps(decided, time.Hour) // an earlier step: not moved
	if !st.Rolls[0].Due.Equal(due) {
		t.Fatalf("a later step moved: %s -> %s", due, st.Rolls[0].Due)
	}
}

// TestScheduleIsWhatHappens: the steps the status page shows (schedule)
// are the ones the key manager takes, at their time: advancing to a second
// before the earliest dated step changes nothing, advancing to it changes
// the keys or the rollover. A rollover waiting for the DS is listed without
// a date (and nextEvent says so). Both schemes, through several rollovers.
func TestScheduleIsWhatHappens(t *testing.T) {
	for _, scheme := range []string{SchemeSplit, SchemeCSK} {
		t.Run(scheme, func(t *testing.T) {
			p := testPolicy(scheme)
			e := &fakeEnv{now: time.Unix(1_800_000_000, 0), maxTTL: 5 * time.Minute, dsTTL: 5 * time.Minute}
			st := &State{}
			st.advance(p, e)
			fingerprint := func() string {
				s := flags(st)
				for _, r := range st.Rolls {
					s += fmt.Sprintf("%s/%d/%v ", r.Kind, r.Step, r.Due.IsZero())
				}
				return s
			}
			waited, dated := 0, 0
			for i := 0; i < 40; i++ {
				steps := st.schedule(p)
				if len(steps) == 0 {
					t.Fatalf("step %d: nothing scheduled with lifetimes set (%s)", i, fingerprint())
				}
				var first *Step
				hasWait := false
				for j := range steps {
					s := &steps[j]
					if s.What == "" || s.Kind == "" {
						t.Errorf("step without a description: %+v", s)
					}
					if s.WaitingDS != s.At.IsZero() {
						t.Errorf("step %+v: WaitingDS %v with At %v", s, s.WaitingDS, s.At)
					}
					hasWait = hasWait || s.WaitingDS
					if !s.WaitingDS && (first == nil || s.At.Before(first.At)) {
						first = s
					}
				}
				next, waiting := st.nextEvent(p)
				if waiting != hasWait {
					t.Errorf("nextEvent says waiting for the DS %v, the schedule %v", waiting, hasWait)
				}
				if first == nil || (hasWait && i%3 == 0) {
					// The parent shows the DS now (a rollover waiting for it
					// while others run gets it now and then).
					if first == nil && !next.IsZero() {
						t.Fatalf("nextEvent %v with only a DS wait scheduled", next)
					}
					waited++
					e.dsSeen = true
					st.advance(p, e)
					e.dsSeen = false
					continue
				}
				if !next.Equal(first.At) {
					t.Errorf("nextEvent %s, schedule's earliest %s", next, first.At)
				}
				if first.At.After(e.now.Add(time.Second)) {
					e.now = first.At.Add(-time.Second)
					before := fingerprint()
					st.advance(p, e)
					if got := fingerprint(); got != before {
						t.Fatalf("a second before %q (%s): %s became %s", first.What, first.At, before, got)
					}
				}
				if first.At.After(e.now) {
					e.now = first.At
				}
				before := fingerprint()
				st.advance(p, e)
				if got := fingerprint(); got == before {
					t.Fatalf("at %q (%s) nothing happened: %s", first.What, first.At, got)
				}
				dated++
				checkSafe(t, st, e.now.Format(time.TimeOnly))
			}
			if scheme == SchemeCSK && waited == 0 {
				t.Error("no DS wait seen in a CSK rollover")
			}
			t.Logf("%s: %d dated steps, %d DS waits", scheme, dated, waited)
		})
	}
}
