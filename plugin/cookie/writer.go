package cookie

import (
	"crypto/tls"
	"net/netip"
	"time"

	"github.com/miekg/dns"

	"github.com/dnspki/dnspki/plugin/pkg/wrapped"
)

// writer puts the server cookie in every answer written as a message. An
// answer written as bytes (a reply signed with TSIG, whose MAC covers the
// OPT record) goes out as it is, without a cookie: TSIG authenticates it.
type writer struct {
	dns.ResponseWriter
	client  [clientLen]byte
	ip      netip.Addr
	secret  *Secret
	at      time.Time
	echo    []byte // the request's server cookie, returned as it is; nil: a fresh one
	written bool
}

// WriteMsg implements dns.ResponseWriter. (The cookie is added in a function
// of its own, which returns before the answer is written: this frame is on
// the stack at the deepest point of every query, keep it small.)
func (w *writer) WriteMsg(m *dns.Msg) error {
	w.written = true
	w.addCookie(m)
	return w.ResponseWriter.WriteMsg(m)
}

//go:noinline
func (w *writer) addCookie(m *dns.Msg) { setCookie(m, w.option()) }

// Write implements dns.ResponseWriter.
func (w *writer) Write(b []byte) (int, error) {
	w.written = true
	return w.ResponseWriter.Write(b)
}

// ConnectionState implements dns.ConnectionStater.
func (w *writer) ConnectionState() *tls.ConnectionState {
	return wrapped.ConnectionState(w.ResponseWriter)
}

func (w *writer) option() dns.EDNS0 {
	if w.echo != nil {
		return option(w.client, w.echo)
	}
	sc := w.secret.serverCookie(&w.client, w.ip, unixTime(w.at))
	return option(w.client, sc[:])
}

// setCookie makes c the only COOKIE option of m, adding an OPT record if m
// has none (the server then sizes it to the request's).
func setCookie(m *dns.Msg, c dns.EDNS0) {
	o := m.IsEdns0()
	if o == nil {
		o = &dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT}}
		o.SetUDPSize(dns.DefaultMsgSize)
		m.Extra = append(m.Extra, o)
	}
	opts := make([]dns.EDNS0, 0, len(o.Option)+1)
	for _, e := range o.Option {
		if e.Option() != dns.EDNS0COOKIE {
			opts = append(opts, e)
		}
	}
	o.Option = append(opts, c)
}
