package tlsa

import (
	"crypto/x509"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Roles of a published record.
const (
	RoleCurrent  = "current"  // made from the certificate in use (the last good one read)
	RoleNext     = "next"     // a staged next key or certificate, published before use
	RolePending  = "pending"  // a key or certificate read from the files that do not agree yet (mid-renewal)
	RoleRetiring = "retiring" // no longer wanted: kept for the hold-down, then removed
)

// stateVersion is the version of the stored state format.
const stateVersion = 1

// metaPrefix is the prefix of the source metadata keys, one per certificate.
const metaPrefix = "cert/"

// recState is one published record and its history.
type recState struct {
	View  string `json:"view"`
	Name  string `json:"name"`
	U     uint8  `json:"u"`
	S     uint8  `json:"s"`
	M     uint8  `json:"m"`
	Data  string `json:"data"`
	TTL   uint32 `json:"ttl"`
	Role  string `json:"role"`
	Since int64  `json:"since"` // Unix time since when it is published without a gap
	// Retired is when it stopped being wanted (0: wanted). It stays
	// published until Until: the hold-down after it retired, and at least
	// the hold-down after the certificate that replaced it became ready (a
	// deploy hook switches the server only then, so the old certificate may
	// be served until that moment).
	Retired int64 `json:"retired,omitempty"`
	Hold    int64 `json:"hold,omitempty"`
	Until   int64 `json:"until,omitempty"`
}

func (r *recState) rdata() rdata { return rdata{r.U, r.S, r.M, r.Data} }

func (r *recState) key() string { return recKey(r.View, r.Name, r.rdata()) }

func recKey(view, name string, d rdata) string { return view + "|" + name + "|" + d.String() }

// removeAt is when a retiring record goes (0 for a wanted one).
func (r *recState) removeAt() int64 {
	if r.Retired == 0 {
		return 0
	}
	return r.Until
}

// storedMaterial is material in the stored state (DER).
type storedMaterial struct {
	Chain [][]byte `json:"chain,omitempty"`
	SPKI  []byte   `json:"spki,omitempty"`
}

func storeMaterial(m Material) storedMaterial {
	if m.IsKey() {
		return storedMaterial{SPKI: m.SPKI}
	}
	s := storedMaterial{}
	for _, c := range m.Chain {
		s.Chain = append(s.Chain, c.Raw)
	}
	return s
}

func (s storedMaterial) material() (Material, error) {
	if len(s.Chain) == 0 {
		if len(s.SPKI) == 0 {
			return Material{}, fmt.Errorf("empty stored material")
		}
		if _, err := x509.ParsePKIXPublicKey(s.SPKI); err != nil {
			return Material{}, err
		}
		return Material{SPKI: s.SPKI}, nil
	}
	var chain []*x509.Certificate
	for _, der := range s.Chain {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return Material{}, err
		}
		chain = append(chain, c)
	}
	return ChainMaterial(chain)
}

// entryState is what is stored per certificate: the last good material and
// every record published with its history. It is written in the same
// transaction as the records.
type entryState struct {
	Version int `json:"v"`
	// Current is the last good certificate chain read from the files.
	Current *storedMaterial `json:"current,omitempty"`
	// Next is the last good next-key material per file.
	Next map[string]storedMaterial `json:"next,omitempty"`
	// Staged is next-key material staged through the Go API, by label.
	Staged  map[string]storedMaterial `json:"staged,omitempty"`
	Records []*recState               `json:"records,omitempty"`
	Changed int64                     `json:"changed,omitempty"` // last change of the records
}

func (s *entryState) clone() *entryState {
	if s == nil {
		return &entryState{Version: stateVersion, Next: map[string]storedMaterial{}, Staged: map[string]storedMaterial{}}
	}
	c := *s
	if s.Current != nil {
		cur := *s.Current
		c.Current = &cur
	}
	c.Next = map[string]storedMaterial{}
	for k, v := range s.Next {
		c.Next[k] = v
	}
	c.Staged = map[string]storedMaterial{}
	for k, v := range s.Staged {
		c.Staged[k] = v
	}
	c.Records = make([]*recState, len(s.Records))
	for i, r := range s.Records {
		rc := *r
		c.Records[i] = &rc
	}
	return &c
}

func decodeState(b []byte) (*entryState, error) {
	s := &entryState{}
	if err := json.Unmarshal(b, s); err != nil {
		return nil, err
	}
	if s.Version != stateVersion {
		return nil, fmt.Errorf("state version %d, this build reads %d", s.Version, stateVersion)
	}
	return s, nil
}

func (s *entryState) encode() []byte {
	s.Version = stateVersion
	sort.Slice(s.Records, func(i, j int) bool { return s.Records[i].key() < s.Records[j].key() })
	b, _ := json.Marshal(s)
	return b
}

// want is one record an entry wants published now.
type want struct {
	view, name string
	d          rdata
	role       string
}

// wantSet collects wanted records; the strongest role wins (current over
// next over pending).
type wantSet map[string]*want

func rolePrio(r string) int {
	switch r {
	case RoleCurrent:
		return 3
	case RoleNext:
		return 2
	case RolePending:
		return 1
	}
	return 0
}

func (ws wantSet) add(views, names []string, ds []rdata, role string) {
	for _, v := range views {
		for _, n := range names {
			for _, d := range ds {
				k := recKey(v, n, d)
				if w := ws[k]; w != nil && rolePrio(w.role) >= rolePrio(role) {
					continue
				}
				ws[k] = &want{v, n, d, role}
			}
		}
	}
}

// reconcile moves the records of st to the wanted set at now: wanted records
// are kept (their Since untouched: they stay published without a gap) or
// added (Since = now); records no longer wanted retire and stay for the
// hold-down (the longer of hold and twice their TTL) after they retired and
// after the current records became ready, then go. It reports whether
// anything published or stored changed.
func reconcile(st *entryState, ws wantSet, ttl uint32, hold time.Duration, now time.Time) bool {
	changed := false
	sec := ceilUnix(now)
	have := map[string]*recState{}
	for _, r := range st.Records {
		k := r.key()
		have[k] = r
		if w := ws[k]; w != nil {
			if r.Retired != 0 || r.Role != w.role || r.TTL != ttl {
				changed = true
			}
			r.Retired, r.Hold, r.Until, r.Role, r.TTL = 0, 0, 0, w.role, ttl
		} else if r.Retired == 0 {
			r.Retired = sec
			h := int64(hold / time.Second)
			if t := 2 * int64(r.TTL); t > h {
				h = t
			}
			r.Hold = h
			r.Role = RoleRetiring
			changed = true
		}
	}
	keys := make([]string, 0, len(ws))
	for k := range ws {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if have[k] != nil {
			continue
		}
		w := ws[k]
		st.Records = append(st.Records, &recState{View: w.view, Name: w.name, U: w.d.U, S: w.d.S, M: w.d.M, Data: w.d.Data, TTL: ttl, Role: w.role, Since: sec})
		changed = true
	}
	// When the current records are ready: a deploy hook may switch the
	// server then, not before.
	var ready int64
	for _, r := range st.Records {
		if r.Role == RoleCurrent {
			if at := r.Since + int64(hold/time.Second); at > ready {
				ready = at
			}
		}
	}
	kept := st.Records[:0]
	for _, r := range st.Records {
		if r.Retired != 0 {
			until := max(r.Retired, ready) + r.Hold
			if until > r.Until {
				r.Until = until
				changed = true
			}
			if now.Unix() >= r.Until {
				changed = true
				continue
			}
		}
		kept = append(kept, r)
	}
	st.Records = kept
	if changed {
		st.Changed = now.Unix()
	}
	return changed
}

// ceilUnix is now in Unix seconds, rounded up: a publication time is never
// earlier than the moment the record was actually served.
func ceilUnix(t time.Time) int64 {
	s := t.Unix()
	if t.Nanosecond() > 0 {
		s++
	}
	return s
}

// nextRemoval is the earliest time a retiring record of the states goes.
func nextRemoval(states map[string]*entryState) time.Time {
	var t int64
	for _, s := range states {
		for _, r := range s.Records {
			if at := r.removeAt(); at != 0 && (t == 0 || at < t) {
				t = at
			}
		}
	}
	if t == 0 {
		return time.Time{}
	}
	return time.Unix(t, 0)
}

func describe(d rdata) string {
	if len(d.Data) > 16 {
		return fmt.Sprintf("%d %d %d %s…", d.U, d.S, d.M, d.Data[:16])
	}
	return d.String()
}

func joinKeys(m map[string]bool) string {
	l := make([]string, 0, len(m))
	for k := range m {
		l = append(l, k)
	}
	sort.Strings(l)
	return strings.Join(l, ", ")
}
