package tlsa

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/dnspki/dnspki/plugin/pkg/zonemodel"
	"github.com/miekg/dns"
)

// Check is the readiness of material at one owner name in one view, for one
// certificate usage and matching type of the records there.
type Check struct {
	Cert         string    `json:"cert"`
	View         string    `json:"view"`
	Name         string    `json:"name"`
	Usage        uint8     `json:"usage"`
	MatchingType uint8     `json:"matching_type"`
	Record       string    `json:"record,omitempty"` // the matching record published longest
	Since        time.Time `json:"since,omitzero"`
	Ready        bool      `json:"ready"`
	Reason       string    `json:"reason,omitempty"`
}

// Readiness says whether material is safe to switch to: at every owner name
// of the certificates that publish it, in every view that publishes them,
// and for every certificate usage and matching type published there, a
// record matching it has been served without a gap for at least the
// hold-down (so no resolver can still hold a TLSA RRset without it, RFC 7671
// §8.1). A DANE client uses the records of the strongest matching type it
// supports (RFC 7671 §9), and may support DANE-EE or DANE-TA only, hence the
// check per usage and matching type: a certificate from a new issuer is
// ready once the new issuer's DANE-TA (2 x x) record has been served for the
// hold-down too. A bare key is checked against the DANE-EE records only (it
// cannot match DANE-TA ones, which do not change with the key).
type Readiness struct {
	Ready bool `json:"ready"`
	// Wait is how long until it can be ready if nothing changes (0 when it is
	// ready, or when waiting alone will not make it ready).
	Wait   time.Duration `json:"-"`
	WaitS  float64       `json:"wait_seconds"`
	Reason string        `json:"reason,omitempty"`
	Checks []Check       `json:"checks,omitempty"`
}

func (r *Readiness) merge(o Readiness) {
	if !o.Ready {
		if r.Ready || r.Reason == "" {
			r.Reason = o.Reason
		}
		r.Ready = false
	}
	if o.Wait > r.Wait {
		r.Wait = o.Wait
	}
	r.Checks = append(r.Checks, o.Checks...)
}

func (r *Readiness) finish() {
	if r.Ready {
		r.Wait = 0
	}
	r.WaitS = r.Wait.Seconds()
}

// Ready answers whether material can be switched to for the certificate id,
// or, with id empty, for every certificate of the zone that publishes a
// record matching it. With mat nil it re-reads the certificate's files and
// answers for the certificate in them (not ready while they disagree).
func (m *Manager) Ready(id string, mat *Material) (Readiness, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.started {
		return Readiness{}, ErrNotStarted
	}
	if mat == nil {
		e := m.entries[id]
		if e == nil {
			return Readiness{}, ErrUnknownCert
		}
		if err := m.refreshLocked(); err != nil {
			return Readiness{Reason: "publishing failed: " + err.Error()}, nil
		}
		if e.problem != "" {
			r := Readiness{Reason: "the certificate files are not consistent: " + e.problem}
			r.finish()
			return r, nil
		}
		st := m.states[id]
		if st == nil || st.Current == nil {
			r := Readiness{Reason: "no certificate has been read yet"}
			r.finish()
			return r, nil
		}
		cur, err := st.Current.material()
		if err != nil {
			return Readiness{}, err
		}
		mat = &cur
	}
	now := m.now()
	var ids []string
	if id != "" {
		if m.entries[id] == nil {
			return Readiness{}, ErrUnknownCert
		}
		ids = []string{id}
	} else {
		ids = m.publishing(*mat)
	}
	if len(ids) == 0 {
		r := Readiness{Reason: "no certificate of zone " + m.origin + " publishes a record matching it"}
		r.finish()
		return r, nil
	}
	r := Readiness{Ready: true}
	for _, x := range ids {
		r.merge(m.readyFor(m.entries[x], *mat, now))
	}
	r.finish()
	return r, nil
}

// publishing lists the certificates with a record matching mat.
func (m *Manager) publishing(mat Material) []string {
	var out []string
	for _, id := range m.idsLocked() {
		if st := m.states[id]; st != nil {
			for _, r := range st.Records {
				if matches(mat, r.rdata()) {
					out = append(out, id)
					break
				}
			}
		}
	}
	return out
}

// readyFor checks one certificate's names and views.
func (m *Manager) readyFor(e *entry, mat Material, now time.Time) Readiness {
	out := Readiness{Ready: true}
	for _, v := range e.views {
		view := m.zone.View(v)
		if view == nil {
			continue
		}
		snap := view.Snapshot()
		for _, name := range e.cfg.Names {
			if !slices.Contains(m.viewsFor(e, name), v) {
				continue
			}
			served := servedRecords(snap, name)
			recs, kinds := m.checkKinds(e, mat, v, name)
			for _, k := range kinds {
				c := checkKind(e, mat, v, name, k, recs, served, now)
				if !c.Ready {
					out.Ready = false
					if out.Reason == "" {
						out.Reason = c.Reason
					}
					if c.Record != "" {
						out.Wait = max(out.Wait, e.cfg.HoldDown-now.Sub(c.Since))
					}
				}
				out.Checks = append(out.Checks, c)
			}
		}
	}
	if !out.Ready {
		for _, c := range out.Checks {
			if !c.Ready && c.Record == "" {
				out.Wait = 0 // waiting alone will not make it ready
			}
		}
	}
	return out
}

// servedRecords are the TLSA records the snapshot serves at name.
func servedRecords(snap *zonemodel.Snapshot, name string) map[string]bool {
	served := map[string]bool{}
	if set := snap.Get(name, dns.TypeTLSA); set != nil {
		for _, rr := range set.RRs {
			if t, ok := rr.(*dns.TLSA); ok {
				served[rdata{t.Usage, t.Selector, t.MatchingType, strings.ToLower(t.Certificate)}.String()] = true
			}
		}
	}
	return served
}

// checkKinds returns the published records at name in view v and the
// (usage, matching type) pairs to check there: those of the records and of
// the certificate's forms (DANE-TA ones not for a bare key, which cannot
// match them; they are assumed to stay valid across a key change), by
// matching type, DANE-EE first.
func (m *Manager) checkKinds(e *entry, mat Material, v, name string) ([]*recState, [][2]uint8) {
	var recs []*recState
	kinds := map[[2]uint8]bool{}
	for _, st := range m.states {
		for _, r := range st.Records {
			if r.View != v || r.Name != name {
				continue
			}
			recs = append(recs, r)
			if !(mat.IsKey() && r.U == 2) {
				kinds[[2]uint8{r.U, r.M}] = true
			}
		}
	}
	for _, f := range e.cfg.Forms {
		if !(mat.IsKey() && f.Usage == 2) {
			kinds[[2]uint8{f.Usage, f.MatchingType}] = true
		}
	}
	ks := make([][2]uint8, 0, len(kinds))
	for k := range kinds {
		ks = append(ks, k)
	}
	sort.Slice(ks, func(i, j int) bool {
		if ks[i][1] != ks[j][1] {
			return ks[i][1] < ks[j][1]
		}
		return ks[i][0] > ks[j][0]
	})
	return recs, ks
}

// checkKind checks one (usage, matching type) at name in view v: the
// longest-served record of that kind that is served and matches the
// material must have been published for the hold-down.
func checkKind(e *entry, mat Material, v, name string, k [2]uint8, recs []*recState, served map[string]bool, now time.Time) Check {
	u, mt := k[0], k[1]
	c := Check{Cert: e.cfg.ID, View: v, Name: name, Usage: u, MatchingType: mt}
	var best *recState
	for _, r := range recs {
		if r.U == u && r.M == mt && served[r.rdata().String()] && matches(mat, r.rdata()) && (best == nil || r.Since < best.Since) {
			best = r
		}
	}
	if best == nil {
		c.Reason = fmt.Sprintf("no usage %d matching type %d record at %s (view %s) matches it", u, mt, name, v)
		return c
	}
	need := e.cfg.HoldDown
	c.Record = best.rdata().String()
	c.Since = time.Unix(best.Since, 0).UTC()
	age := now.Sub(time.Unix(best.Since, 0))
	if age >= need {
		c.Ready = true
	} else {
		c.Reason = fmt.Sprintf("%s at %s (view %s) published %s ago; the hold-down is %s", describe(best.rdata()), name, v, age.Round(time.Second), need)
	}
	return c
}

// WaitReady polls Ready every interval until the material is ready or ctx
// ends.
func (m *Manager) WaitReady(ctx context.Context, id string, mat *Material, interval time.Duration) (Readiness, error) {
	if interval <= 0 {
		interval = time.Second
	}
	for {
		r, err := m.Ready(id, mat)
		if err != nil || r.Ready {
			return r, err
		}
		d := interval
		if r.Wait > 0 && r.Wait < d {
			d = r.Wait + 50*time.Millisecond
		}
		select {
		case <-ctx.Done():
			return r, ctx.Err()
		case <-time.After(d):
		}
	}
}

// The managers of the running configurations, for the readiness endpoint and
// Lookup. During a reload both generations are here briefly; the newest
// wins.
var registry = struct {
	sync.Mutex
	gen      uint64
	managers map[*Manager]uint64
}{managers: map[*Manager]uint64{}}

func register(m *Manager) {
	registry.Lock()
	defer registry.Unlock()
	registry.gen++
	registry.managers[m] = registry.gen
}

func unregister(m *Manager) {
	registry.Lock()
	defer registry.Unlock()
	delete(registry.managers, m)
}

// Managers returns the serving managers, newest configuration first, one per
// zone.
func Managers() []*Manager {
	registry.Lock()
	defer registry.Unlock()
	all := make([]*Manager, 0, len(registry.managers))
	for m := range registry.managers {
		all = append(all, m)
	}
	sort.Slice(all, func(i, j int) bool { return registry.managers[all[i]] > registry.managers[all[j]] })
	seen := map[string]bool{}
	out := all[:0]
	for _, m := range all {
		if !seen[m.origin] {
			seen[m.origin] = true
			out = append(out, m)
		}
	}
	return out
}

// Lookup returns the serving manager that has the certificate id.
func Lookup(id string) *Manager {
	for _, m := range Managers() {
		m.mu.Lock()
		ok := m.entries[id] != nil
		m.mu.Unlock()
		if ok {
			return m
		}
	}
	return nil
}

// CertStatus is the published state of one certificate.
type CertStatus struct {
	Zone     string         `json:"zone"`
	Cert     string         `json:"cert"`
	Names    []string       `json:"names,omitempty"`
	Views    []string       `json:"views,omitempty"`
	TTL      uint32         `json:"ttl,omitempty"`
	HoldDown float64        `json:"holddown_seconds,omitempty"`
	Problem  string         `json:"problem,omitempty"`
	Changed  time.Time      `json:"changed,omitzero"`
	NotAfter time.Time      `json:"not_after,omitzero"`
	Records  []RecordStatus `json:"records"`
}

// RecordStatus is one published record.
type RecordStatus struct {
	View   string    `json:"view"`
	Name   string    `json:"name"`
	Record string    `json:"record"`
	Role   string    `json:"role"`
	Since  time.Time `json:"since"`
	Until  time.Time `json:"until,omitzero"` // retiring: removed then
	// ReadyAt (a record still wanted) is when it will have been served for
	// the hold-down: from then on it no longer holds back a switch to what
	// it matches.
	ReadyAt time.Time `json:"ready_at,omitzero"`
}

// Status reports every certificate's published records (certificates no
// longer configured whose records are still retiring included).
func (m *Manager) Status() []CertStatus {
	m.mu.Lock()
	defer m.mu.Unlock()
	ids := make([]string, 0, len(m.states))
	for id := range m.states {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var out []CertStatus
	for _, id := range ids {
		st := m.states[id]
		cs := CertStatus{Zone: m.origin, Cert: id, Records: []RecordStatus{}}
		e := m.entries[id]
		if e != nil {
			cs.Names, cs.Views, cs.TTL, cs.HoldDown, cs.Problem = e.cfg.Names, e.views, e.cfg.TTL, e.cfg.HoldDown.Seconds(), e.problem
		}
		if st.Changed != 0 {
			cs.Changed = time.Unix(st.Changed, 0).UTC()
		}
		if st.Current != nil {
			if mat, err := st.Current.material(); err == nil && mat.Leaf() != nil {
				cs.NotAfter = mat.Leaf().NotAfter.UTC()
			}
		}
		for _, r := range st.Records {
			rs := RecordStatus{View: r.View, Name: r.Name, Record: r.rdata().String(), Role: r.Role, Since: time.Unix(r.Since, 0).UTC()}
			if at := r.removeAt(); at != 0 {
				rs.Until = time.Unix(at, 0).UTC()
			} else if e != nil {
				rs.ReadyAt = rs.Since.Add(e.cfg.HoldDown)
			}
			cs.Records = append(cs.Records, rs)
		}
		out = append(out, cs)
	}
	return out
}
