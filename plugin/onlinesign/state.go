package onlinesign

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/dnspki/dnspki/plugin/pkg/atomicfile"
	"github.com/miekg/dns"
)

// Schemes of keys.
const (
	SchemeCSK   = "csk"   // one combined signing key
	SchemeSplit = "split" // a KSK for the DNSKEY set, a ZSK for the rest
)

// Policy is how a zone's keys are kept: what to generate, when to roll, how
// long to wait between the steps of a rollover (RFC 7583).
type Policy struct {
	Algorithm   uint8
	Scheme      string
	DNSKEYTTL   time.Duration // TTL of DNSKEY, CDS and CDNSKEY
	Propagation time.Duration // time for a change to reach every secondary/anycast node
	ZSKLifetime time.Duration // 0: no automatic ZSK rollover
	KSKLifetime time.Duration // of the KSK or CSK; 0: no automatic rollover
	MaxZoneTTL  time.Duration // 0: computed from the zone when needed
	DSTTL       time.Duration // the parent's DS TTL, when it cannot be observed
	DSWait      time.Duration // >0: the new DS is assumed at the parent after this long
}

// KeyState is one key of a zone and what it does now.
type KeyState struct {
	Key       string    `json:"key"` // file base name, Kzone+alg+tag
	Role      string    `json:"role"`
	Algorithm uint8     `json:"algorithm"`
	Tag       uint16    `json:"tag"`
	Created   time.Time `json:"created"`
	Active    time.Time `json:"active,omitzero"` // when it became the zone's current key of its role
	Published bool      `json:"published"`       // its DNSKEY is in the zone
	SignsZone bool      `json:"signs_zone"`      // it signs the zone's RRsets
	SignsKeys bool      `json:"signs_keys"`      // it signs DNSKEY, CDS, CDNSKEY
	CDS       bool      `json:"cds"`             // it is in CDS/CDNSKEY (its DS belongs at the parent)
}

// Roll is a rollover in progress.
type Roll struct {
	Kind   string    `json:"kind"` // zsk, ksk, csk, keyset (algorithm or scheme change)
	Old    []string  `json:"old"`
	New    []string  `json:"new"`
	Step   int       `json:"step"`
	Since  time.Time `json:"since"`        // the current step began
	Due    time.Time `json:"due,omitzero"` // the next step may begin; zero: waiting for the DS
	DSSeen time.Time `json:"ds_seen,omitzero"`
	// NotBefore is a second lower bound for the step after the DS wait (CSK
	// rollover: the old signatures must have expired from caches too).
	NotBefore time.Time `json:"not_before,omitzero"`
}

// State is the persisted key state of a zone: <keydir>/<zone>.keystate.
type State struct {
	Zone    string      `json:"zone"`
	Keys    []*KeyState `json:"keys"`
	Rolls   []*Roll     `json:"rolls,omitempty"`
	Updated time.Time   `json:"updated"`
}

func (st *State) clone() *State {
	b, _ := json.Marshal(st)
	var c State
	json.Unmarshal(b, &c)
	return &c
}

func (st *State) key(base string) *KeyState {
	for _, k := range st.Keys {
		if k.Key == base {
			return k
		}
	}
	return nil
}

func (st *State) roll(kind string) *Roll {
	for _, r := range st.Rolls {
		if r.Kind == kind {
			return r
		}
	}
	return nil
}

// current returns the key of role that is the zone's current one: for a
// KSK/CSK the one in CDS, for a ZSK the one signing the zone (the newest).
func (st *State) current(role string) *KeyState {
	var best *KeyState
	for _, k := range st.Keys {
		if k.Role != role {
			continue
		}
		ok := (role == RoleZSK && k.SignsZone) || (role != RoleZSK && k.CDS)
		if ok && (best == nil || k.Active.After(best.Active)) {
			best = k
		}
	}
	return best
}

// scheme is the scheme of the zone's current keys ("" without keys).
func (st *State) scheme() string {
	for _, k := range st.Keys {
		if k.Role == RoleCSK && k.CDS {
			return SchemeCSK
		}
	}
	for _, k := range st.Keys {
		if k.Role == RoleKSK && k.CDS {
			return SchemeSplit
		}
	}
	return ""
}

// env is what advancing the state needs from outside: the clock, key
// generation, the zone's maximum TTL and the parent's DS.
type env interface {
	Now() time.Time
	// NewKey generates and stores a key of role and algorithm.
	NewKey(role string, alg uint8) (*KeyState, error)
	// MaxTTL is the longest TTL a resolver may cache data of the zone for
	// (RRsets and negative answers).
	MaxTTL() time.Duration
	// DSSeen reports whether the parent has the DS of every key in keys
	// (and the DS TTL it observed, 0 if unknown).
	DSSeen(keys []*KeyState, since time.Time) (bool, time.Duration)
}

// delaySteps moves the waits of the steps begun at `at` (the moment advance
// ran) later by d: the records of those steps were only served d after it.
// Earlier steps keep their times.
func (st *State) delaySteps(at time.Time, d time.Duration) {
	if d <= 0 {
		return
	}
	for _, r := range st.Rolls {
		if !r.Since.Equal(at) && !r.DSSeen.Equal(at) {
			continue
		}
		if !r.Due.IsZero() {
			r.Due = r.Due.Add(d)
		}
		if r.NotBefore.After(at) {
			r.NotBefore = r.NotBefore.Add(d)
		}
	}
}

// event is something advance did, for the log.
type event struct{ msg string }

// advance moves st forward as far as the clock allows: creates the first
// keys, runs the steps of rollovers whose time has come and starts rollovers
// that are due. It reports what it did; st is changed in place (callers work
// on a clone and keep it only once the change is stored).
func (st *State) advance(p Policy, e env) ([]event, []string, error) {
	var evs []event
	var removed []string
	now := e.Now()
	logf := func(f string, a ...any) { evs = append(evs, event{fmt.Sprintf(f, a...)}) }
	if len(st.Keys) == 0 {
		if err := st.bootstrap(p, e); err != nil {
			return nil, nil, err
		}
		for _, k := range st.Keys {
			logf("generated %s %s (algorithm %s, tag %d)", strings.ToUpper(k.Role), k.Key, dns.AlgorithmToString[k.Algorithm], k.Tag)
		}
		return evs, nil, nil
	}
	for range 20 {
		progressed := false
		for _, r := range slices.Clone(st.Rolls) {
			if r.Due.IsZero() {
				newSEP := st.sepKeys(r.New)
				seen, ttl := e.DSSeen(newSEP, r.Since)
				if !seen {
					continue
				}
				if ttl <= 0 {
					ttl = p.DSTTL
				}
				r.DSSeen = now
				r.Due = now.Add(ttl + p.Propagation)
				if r.NotBefore.After(r.Due) {
					r.Due = r.NotBefore
				}
				logf("%s rollover: the parent has the DS of %s; old key(s) go at %s", r.Kind, strings.Join(r.New, " "), r.Due.UTC().Format(time.RFC3339))
				progressed = true
			}
			if now.Before(r.Due) {
				continue
			}
			rem, err := st.step(r, p, e, logf)
			if err != nil {
				return evs, removed, err
			}
			removed = append(removed, rem...)
			progressed = true
		}
		if st.start(p, e, logf) {
			progressed = true
		}
		if !progressed {
			break
		}
	}
	return evs, removed, nil
}

func (st *State) sepKeys(bases []string) []*KeyState {
	var out []*KeyState
	for _, b := range bases {
		if k := st.key(b); k != nil && k.Role != RoleZSK {
			out = append(out, k)
		}
	}
	return out
}

// bootstrap creates the first keys of a zone: published and active at once
// (nothing is cached anywhere yet).
func (st *State) bootstrap(p Policy, e env) error {
	now := e.Now()
	roles := []string{RoleCSK}
	if p.Scheme == SchemeSplit {
		roles = []string{RoleKSK, RoleZSK}
	}
	for _, role := range roles {
		k, err := e.NewKey(role, p.Algorithm)
		if err != nil {
			return err
		}
		k.Active = now
		k.Published = true
		k.SignsZone = role != RoleKSK
		k.SignsKeys = role != RoleZSK
		k.CDS = role != RoleZSK
		st.Keys = append(st.Keys, k)
	}
	return nil
}

// start begins the rollovers that are due. It reports whether it started one.
func (st *State) start(p Policy, e env, logf func(string, ...any)) bool {
	now := e.Now()
	if st.roll("keyset") != nil {
		return false
	}
	cur := st.scheme()
	wrongAlg := false
	for _, k := range st.Keys {
		if (k.SignsZone || k.SignsKeys) && k.Algorithm != p.Algorithm {
			wrongAlg = true
		}
	}
	if cur != p.Scheme || wrongAlg {
		if len(st.Rolls) > 0 {
			return false // let running rollovers finish first
		}
		return st.startKeyset(p, e, now, logf)
	}
	started := false
	kskRole := RoleCSK
	if cur == SchemeSplit {
		kskRole = RoleKSK
	}
	if p.KSKLifetime > 0 && st.roll(kskRole) == nil {
		old, r, err := st.startLifetime(kskRole, p.KSKLifetime, p, e, now)
		switch {
		case err != nil:
			logf("%s rollover: %v", kskRole, err)
		case r != nil:
			logf("%s rollover started: %s published beside %s; it becomes current at %s", strings.ToUpper(kskRole), r.New[0], old, r.Due.UTC().Format(time.RFC3339))
			started = true
		}
	}
	if cur == SchemeSplit && p.ZSKLifetime > 0 && st.roll(RoleZSK) == nil {
		_, r, err := st.startLifetime(RoleZSK, p.ZSKLifetime, p, e, now)
		switch {
		case err != nil:
			logf("ZSK rollover: %v", err)
		case r != nil:
			logf("ZSK rollover started: %s pre-published; it signs from %s", r.New[0], r.Due.UTC().Format(time.RFC3339))
			started = true
		}
	}
	return started
}

// startKeyset starts a rollover of the whole key set to the policy's scheme
// and algorithm.
func (st *State) startKeyset(p Policy, e env, now time.Time, logf func(string, ...any)) bool {
	var old []string
	for _, k := range st.Keys {
		old = append(old, k.Key)
	}
	roles := []string{RoleCSK}
	if p.Scheme == SchemeSplit {
		roles = []string{RoleKSK, RoleZSK}
	}
	r := &Roll{Kind: "keyset", Old: old}
	for _, role := range roles {
		k, err := e.NewKey(role, p.Algorithm)
		if err != nil {
			logf("keyset rollover: %v", err)
			return false
		}
		// Step 1: the new keys sign, unpublished, so that every cached
		// RRset carries signatures of both algorithms before the new
		// DNSKEYs appear (RFC 6781 §4.1.4).
		k.SignsZone = role != RoleKSK
		k.SignsKeys = role != RoleZSK
		st.Keys = append(st.Keys, k)
		r.New = append(r.New, k.Key)
	}
	r.Step, r.Since, r.Due = 1, now, now.Add(maxTTL(p, e)+p.Propagation)
	st.Rolls = append(st.Rolls, r)
	logf("keyset rollover to %s %s started (new keys %s sign, unpublished, until %s)", p.Scheme, dns.AlgorithmToString[p.Algorithm], strings.Join(r.New, " "), r.Due.UTC().Format(time.RFC3339))
	return true
}

// startLifetime starts the rollover of role's current key when its lifetime
// is over: a new key published beside it (pre-publication). It returns the
// old key and the rollover (nil when none is due).
func (st *State) startLifetime(role string, lifetime time.Duration, p Policy, e env, now time.Time) (string, *Roll, error) {
	k := st.current(role)
	if k == nil || now.Before(k.Active.Add(lifetime)) {
		return "", nil, nil
	}
	nk, err := e.NewKey(role, p.Algorithm)
	if err != nil {
		return "", nil, err
	}
	nk.Published = true
	st.Keys = append(st.Keys, nk)
	r := &Roll{Kind: role, Old: []string{k.Key}, New: []string{nk.Key}, Step: 1, Since: now, Due: now.Add(p.DNSKEYTTL + p.Propagation)}
	st.Rolls = append(st.Rolls, r)
	return k.Key, r, nil
}

func maxTTL(p Policy, e env) time.Duration {
	if p.MaxZoneTTL > 0 {
		return p.MaxZoneTTL
	}
	return e.MaxTTL()
}

// step runs the next step of rollover r (its due time has come). It returns
// the keys it removed.
func (st *State) step(r *Roll, p Policy, e env, logf func(string, ...any)) ([]string, error) {
	now := e.Now()
	each := func(bases []string, fn func(*KeyState)) {
		for _, b := range bases {
			if k := st.key(b); k != nil {
				fn(k)
			}
		}
	}
	finish := func() []string {
		st.Rolls = slices.DeleteFunc(st.Rolls, func(x *Roll) bool { return x == r })
		st.Keys = slices.DeleteFunc(st.Keys, func(k *KeyState) bool { return slices.Contains(r.Old, k.Key) })
		return r.Old
	}
	r.Step++
	r.Since = now
	switch r.Kind {
	case RoleZSK:
		switch r.Step {
		case 2: // the new ZSK is in every cached DNSKEY set: it signs now
			each(r.New, func(k *KeyState) { k.SignsZone, k.Active = true, now })
			each(r.Old, func(k *KeyState) { k.SignsZone = false })
			r.Due = now.Add(maxTTL(p, e) + p.Propagation)
			logf("ZSK rollover: %s signs the zone; %s stays published until %s", strings.Join(r.New, " "), strings.Join(r.Old, " "), r.Due.UTC().Format(time.RFC3339))
		default: // signatures of the old ZSK have expired from caches
			logf("ZSK rollover done: %s removed", strings.Join(r.Old, " "))
			return finish(), nil
		}
	case RoleKSK, RoleCSK:
		switch r.Step {
		case 2: // the new key is in every cached DNSKEY set: it becomes current
			each(r.New, func(k *KeyState) {
				k.SignsKeys, k.CDS, k.Active = true, true, now
				if r.Kind == RoleCSK {
					k.SignsZone = true
				}
			})
			each(r.Old, func(k *KeyState) { k.CDS, k.SignsZone = false, false })
			r.Due = time.Time{}
			if r.Kind == RoleCSK {
				r.NotBefore = now.Add(maxTTL(p, e) + p.Propagation)
			}
			logf("%s rollover: %s is current and in CDS/CDNSKEY; waiting for its DS at the parent", strings.ToUpper(r.Kind), strings.Join(r.New, " "))
		default: // the parent's DS points to the new key everywhere
			logf("%s rollover done: %s removed", strings.ToUpper(r.Kind), strings.Join(r.Old, " "))
			return finish(), nil
		}
	case "keyset":
		switch r.Step {
		case 2: // every cached RRset carries signatures of the new keys: publish them
			each(r.New, func(k *KeyState) { k.Published = true })
			r.Due = now.Add(p.DNSKEYTTL + p.Propagation)
			logf("keyset rollover: %s published", strings.Join(r.New, " "))
		case 3: // new DNSKEYs in every cache: switch CDS/CDNSKEY, wait for the DS
			each(r.New, func(k *KeyState) {
				k.Active = now
				if k.Role != RoleZSK {
					k.CDS = true
				}
			})
			each(r.Old, func(k *KeyState) { k.CDS = false })
			r.Due = time.Time{}
			logf("keyset rollover: %s in CDS/CDNSKEY; waiting for the DS at the parent", strings.Join(r.New, " "))
		case 4: // the parent has only the new DS: unpublish the old keys
			each(r.Old, func(k *KeyState) { k.Published = false })
			r.Due = now.Add(p.DNSKEYTTL + p.Propagation)
			logf("keyset rollover: %s unpublished; their signatures stop at %s", strings.Join(r.Old, " "), r.Due.UTC().Format(time.RFC3339))
		default: // no cached DNSKEY set has the old keys: stop their signatures
			logf("keyset rollover done: %s removed", strings.Join(r.Old, " "))
			return finish(), nil
		}
	default:
		return nil, fmt.Errorf("unknown rollover kind %q in the key state", r.Kind)
	}
	return nil, nil
}

// nextEvent is the earliest due time of the rollovers and of the keys'
// lifetimes (zero when nothing is scheduled), and whether a rollover waits
// for the DS at the parent.
func (st *State) nextEvent(p Policy) (time.Time, bool) {
	var t time.Time
	waitingDS := false
	for _, s := range st.schedule(p) {
		if s.WaitingDS {
			waitingDS = true
			continue
		}
		if t.IsZero() || s.At.Before(t) {
			t = s.At
		}
	}
	return t, waitingDS
}

// Step is a scheduled step of a zone's keys: the next step of a rollover in
// progress (At zero and WaitingDS while it waits for the parent's DS), or
// the start of a rollover when a key's lifetime ends.
type Step struct {
	At        time.Time `json:"at,omitzero"`
	Kind      string    `json:"kind"` // zsk, ksk, csk, keyset
	What      string    `json:"what"`
	Keys      []string  `json:"keys,omitempty"`
	WaitingDS bool      `json:"waiting_ds,omitempty"`
}

// schedule lists the scheduled steps: each rollover's next step (its due
// time), and each current key's end of lifetime (a rollover starts then).
func (st *State) schedule(p Policy) []Step {
	var out []Step
	for _, r := range st.Rolls {
		s := Step{At: r.Due, Kind: r.Kind, What: nextStepOf(r), Keys: slices.Clone(r.New)}
		if r.Due.IsZero() {
			s.WaitingDS = true
		}
		out = append(out, s)
	}
	if st.roll("keyset") == nil {
		if p.KSKLifetime > 0 {
			for _, role := range []string{RoleCSK, RoleKSK} {
				if k := st.current(role); k != nil && st.roll(role) == nil {
					out = append(out, Step{At: k.Active.Add(p.KSKLifetime), Kind: role, What: strings.ToUpper(role) + " rollover starts (end of lifetime)", Keys: []string{k.Key}})
				}
			}
		}
		if p.ZSKLifetime > 0 && st.roll(RoleZSK) == nil {
			if k := st.current(RoleZSK); k != nil {
				out = append(out, Step{At: k.Active.Add(p.ZSKLifetime), Kind: RoleZSK, What: "ZSK rollover starts (end of lifetime)", Keys: []string{k.Key}})
			}
		}
	}
	return out
}

// nextStepOf says what the next step of r does (step runs it).
func nextStepOf(r *Roll) string {
	switch r.Kind {
	case RoleZSK:
		if r.Step == 1 {
			return "ZSK rollover: the new ZSK signs the zone"
		}
		return "ZSK rollover: the old ZSK is removed"
	case RoleKSK, RoleCSK:
		if r.Step == 1 {
			return strings.ToUpper(r.Kind) + " rollover: the new key becomes current (CDS/CDNSKEY)"
		}
		if r.Due.IsZero() {
			return strings.ToUpper(r.Kind) + " rollover: waiting for the new DS at the parent"
		}
		return strings.ToUpper(r.Kind) + " rollover: the old key is removed"
	case "keyset":
		switch r.Step {
		case 1:
			return "keyset rollover: the new keys are published"
		case 2:
			return "keyset rollover: the new keys go to CDS/CDNSKEY"
		case 3:
			if r.Due.IsZero() {
				return "keyset rollover: waiting for the new DS at the parent"
			}
			return "keyset rollover: the old keys are unpublished"
		default:
			return "keyset rollover: the old keys are removed"
		}
	}
	return r.Kind + " rollover step " + fmt.Sprint(r.Step+1)
}

// published lists the keys whose DNSKEY is in the zone, by tag.
func (st *State) published() []*KeyState {
	var out []*KeyState
	for _, k := range st.Keys {
		if k.Published {
			out = append(out, k)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

func loadState(path string) (*State, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var st State
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	for _, k := range st.Keys {
		switch k.Role {
		case RoleCSK, RoleKSK, RoleZSK:
		default:
			return nil, fmt.Errorf("%s: key %s has unknown role %q", path, k.Key, k.Role)
		}
	}
	return &st, nil
}

func (st *State) save(path string) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(path, append(b, '\n'), 0o600)
}

func stateJSON(st *State) (string, error) {
	b, err := json.Marshal(st)
	return string(b), err
}
