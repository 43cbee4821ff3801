package onlinesign

import (
	"slices"
	"sort"
	"time"

	"github.com/miekg/dns"
)

// ZoneStatus is what the status page shows of a signed zone: its keys,
// the rollovers in progress and the scheduled steps with their dates. It
// never holds key material.
type ZoneStatus struct {
	Zone      string     `json:"zone"`
	Algorithm string     `json:"algorithm"`
	Scheme    string     `json:"scheme"`
	Keys      []KeyState `json:"keys"`
	Rolls     []Roll     `json:"rollovers,omitempty"`
	// Steps are the scheduled steps, earliest first (those waiting for the
	// parent's DS last).
	Steps   []Step    `json:"steps,omitempty"`
	Updated time.Time `json:"updated,omitzero"`
}

// Status reports every signed zone of the serving configuration, by zone.
func Status() []ZoneStatus {
	managersMu.Lock()
	ms := make([]*manager, 0, len(managers))
	for _, m := range managers {
		ms = append(ms, m)
	}
	managersMu.Unlock()
	var out []ZoneStatus
	for _, m := range ms {
		out = append(out, m.status())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Zone < out[j].Zone })
	return out
}

func (m *manager) status() ZoneStatus {
	m.mu.Lock()
	defer m.mu.Unlock()
	p := m.cfg.policy
	zs := ZoneStatus{Zone: m.origin, Algorithm: dns.AlgorithmToString[p.Algorithm], Scheme: p.Scheme, Updated: m.state.Updated}
	for _, k := range m.state.Keys {
		zs.Keys = append(zs.Keys, *k)
	}
	for _, r := range m.state.Rolls {
		c := *r
		c.Old, c.New = slices.Clone(r.Old), slices.Clone(r.New)
		zs.Rolls = append(zs.Rolls, c)
	}
	zs.Steps = m.state.schedule(p)
	sort.SliceStable(zs.Steps, func(i, j int) bool {
		a, b := zs.Steps[i], zs.Steps[j]
		if a.WaitingDS != b.WaitingDS {
			return !a.WaitingDS
		}
		return a.At.Before(b.At)
	})
	return zs
}
