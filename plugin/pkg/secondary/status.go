package secondary

import "time"

// Status is a zone dnspki copies from a primary.
type Status struct {
	Primaries     []string  `json:"primaries"`
	PrimarySerial uint32    `json:"primary_serial"`
	SerialKnown   bool      `json:"primary_serial_known"`
	LastRefresh   time.Time `json:"last_refresh,omitzero"`
	NextRefresh   time.Time `json:"next_refresh,omitzero"`
	// ExpiresAt is when the zone expires (answers SERVFAIL) if no primary
	// can be reached until then: the last refresh plus the SOA's expire.
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	Expired   bool      `json:"expired"`
	LastError string    `json:"last_error,omitempty"`
}

// Status reports the secondary zone's refresh state.
func (s *Secondary) Status() Status {
	_, _, expire := s.timers()
	s.mu.Lock()
	defer s.mu.Unlock()
	out := Status{PrimarySerial: s.pserial, SerialKnown: s.known, LastError: s.lastError, Expired: s.IsExpired(), NextRefresh: s.nextRefresh}
	for _, p := range s.primaries {
		out.Primaries = append(out.Primaries, p.Addr)
	}
	if !s.lastOK.IsZero() {
		out.LastRefresh = s.lastOK.UTC()
		if expire > 0 {
			out.ExpiresAt = s.lastOK.Add(expire).UTC()
		}
	}
	return out
}
