package rrl

import (
	"crypto/tls"
	"net/netip"

	"github.com/miekg/dns"

	"github.com/dnspki/dnspki/plugin/pkg/wrapped"
)

// writer passes, drops or slips each answer of the chain after rrl.
type writer struct {
	dns.ResponseWriter
	l       *RRL
	r       *dns.Msg
	network netip.Prefix
	written bool
}

// WriteMsg implements dns.ResponseWriter.
func (w *writer) WriteMsg(m *dns.Msg) error {
	w.written = true
	switch w.l.decide(w.network, w.r, m) {
	case Drop:
		return nil
	case Slip:
		return w.ResponseWriter.WriteMsg(truncated(m))
	}
	return w.ResponseWriter.WriteMsg(m)
}

// Write implements dns.ResponseWriter: an answer written as bytes (signed
// with a key this block does not verify) is judged like any other.
func (w *writer) Write(b []byte) (int, error) {
	w.written = true
	m := new(dns.Msg)
	if m.Unpack(b) != nil {
		return w.ResponseWriter.Write(b)
	}
	switch w.l.decide(w.network, w.r, m) {
	case Drop:
		return len(b), nil
	case Slip:
		return len(b), w.ResponseWriter.WriteMsg(truncated(m))
	}
	return w.ResponseWriter.Write(b)
}

// ConnectionState implements dns.ConnectionStater.
func (w *writer) ConnectionState() *tls.ConnectionState {
	return wrapped.ConnectionState(w.ResponseWriter)
}

// truncated is m cut to its header and question with TC set: no larger than
// the request, and a resolver that gets it asks again over TCP (RFC 1035
// §4.2.1), where rrl does not apply. Its OPT record stays, without options
// (the cookie plugin, before rrl, adds the server cookie to it).
func truncated(m *dns.Msg) *dns.Msg {
	s := new(dns.Msg)
	s.MsgHdr = m.MsgHdr
	s.Truncated = true
	s.Question = m.Question
	if o := m.IsEdns0(); o != nil {
		s.Extra = []dns.RR{&dns.OPT{Hdr: o.Hdr}}
	}
	return s
}
