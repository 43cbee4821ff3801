// Package wrapped is for plugins that wrap the dns.ResponseWriter to act on
// every answer of the chain after them (cookie adds the server cookie, rrl
// rate limits): it makes sure the answers CoreDNS writes on a plugin's
// behalf go through the wrapper too.
package wrapped

import (
	"crypto/tls"

	"github.com/coredns/coredns/plugin"
	"github.com/miekg/dns"
)

// Finish is called with what the next plugin returned (rc, err) and whether
// anything was written through the wrapper w. A plugin that returns an
// rcode for which plugin.ClientWrite is false (SERVFAIL, REFUSED, FORMERR,
// NOTIMP) without writing leaves the answer to CoreDNS's server, which
// writes it to the writer it holds, past every wrapper; Finish writes that
// answer through w instead (as the server would: the rcode, the question)
// and returns an rcode that tells the server the client has its answer.
// err is returned unchanged, for the errors plugin.
func Finish(w dns.ResponseWriter, r *dns.Msg, written bool, rc int, err error) (int, error) {
	if written || plugin.ClientWrite(rc) {
		return rc, err
	}
	m := new(dns.Msg)
	m.SetRcode(r, rc)
	if werr := w.WriteMsg(m); werr != nil && err == nil {
		err = werr
	}
	return dns.RcodeSuccess, err
}

// ConnectionState forwards the TLS connection state of w, if it has one
// (ConnectionStater is not part of dns.ResponseWriter, so a wrapper that
// embeds the writer must forward it explicitly).
func ConnectionState(w dns.ResponseWriter) *tls.ConnectionState {
	if cs, ok := w.(dns.ConnectionStater); ok {
		return cs.ConnectionState()
	}
	return nil
}
