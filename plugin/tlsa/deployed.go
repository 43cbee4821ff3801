package tlsa

// deployedState is how the records served compare with a certificate in
// use.
type deployedState struct {
	id           string
	match, ready bool
}

// deployed checks each configured certificate's current material (the
// last good one read, or set by the certs plugin) against the records the
// zone serves now, with the readiness rule (readyFor).
func (m *Manager) deployed() []deployedState {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.started || m.zone == nil {
		return nil
	}
	now := m.now()
	var out []deployedState
	for _, id := range m.idsLocked() {
		st := m.states[id]
		if st == nil || st.Current == nil {
			continue
		}
		mat, err := st.Current.material()
		if err != nil {
			continue
		}
		r := m.readyFor(m.entries[id], mat, now)
		d := deployedState{id: id, match: true, ready: r.Ready}
		for _, c := range r.Checks {
			if c.Record == "" {
				d.match = false
			}
		}
		out = append(out, d)
	}
	return out
}
