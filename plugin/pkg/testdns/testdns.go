// Package testdns has what unit tests of DNS handlers share: a clock that
// moves only when the test says so, and a ResponseWriter that records what
// reaches the client. Only tests import it.
package testdns

import (
	"sync"
	"time"

	"github.com/coredns/coredns/plugin/test"
	"github.com/miekg/dns"
)

// Clock is a test clock.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock set to t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now is the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// Sink records what is written to the client, as the client sees it (packed
// and unpacked again): Msgs has every answer in order, whether written as a
// message or as bytes; Raw has the bytes written as bytes.
type Sink struct {
	test.ResponseWriter
	Msgs []*dns.Msg
	Raw  [][]byte
}

// WriteMsg records m through the wire.
func (s *Sink) WriteMsg(m *dns.Msg) error {
	b, err := m.Pack()
	if err != nil {
		return err
	}
	return s.add(b)
}

// Write records b, and the message in it.
func (s *Sink) Write(b []byte) (int, error) {
	s.Raw = append(s.Raw, append([]byte(nil), b...))
	if err := s.add(b); err != nil {
		return 0, err
	}
	return len(b), nil
}

func (s *Sink) add(b []byte) error {
	out := new(dns.Msg)
	if err := out.Unpack(b); err != nil {
		return err
	}
	s.Msgs = append(s.Msgs, out)
	return nil
}
