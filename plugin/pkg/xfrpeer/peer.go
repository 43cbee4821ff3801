// Package xfrpeer is the other end of zone transfers and NOTIFY: a peer
// (address, TSIG key, TLS profile) and how dnspki talks to it as a client
// (TCP or TLS connections, DNS queries signed with the peer's key, a
// refusal as an error). Both sides use it: authzone to send NOTIFY to its
// secondaries and to match their addresses, plugin/pkg/secondary to query
// and transfer from its primaries.
package xfrpeer

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/dnspki/dnspki/plugin/pkg/metric"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/dnspki/dnspki/plugin/pkg/tsigkey"
	"github.com/dnspki/dnspki/plugin/pkg/xotls"
)

// Timeouts of a client of a peer (variables: tests shorten them).
var (
	// DialTimeout bounds opening a transfer's connection and writing its request.
	DialTimeout = 5 * time.Second
	// QueryTimeout bounds a query (SOA, NOTIFY) to a peer.
	QueryTimeout = 3 * time.Second
)

// Duration is the duration of zone transfers, per zone and direction (in:
// from a primary, out: to a secondary).
var Duration = metric.HistogramVec("xfr_duration_seconds", "Duration of zone transfers, per zone and direction (in, out).", prometheus.ExponentialBuckets(0.001, 4, 10), "zone", "direction")

// Peer is a primary to transfer from, or a secondary to notify.
type Peer struct {
	Addr string        // host:port
	IP   netip.Addr    // the address, for matching NOTIFY sources
	Key  *tsigkey.Key  // nil: unsigned
	View string        // notify: the view whose changes are announced
	TLS  *xotls.Client // primary: transfer over TLS (XoT) with this profile; nil: plain TCP
	Line int
}

// KeyName is the name of the peer's TSIG key, "" without one.
func (p *Peer) KeyName() string {
	if p.Key == nil {
		return ""
	}
	return p.Key.Name
}

// Dial opens the connection a transfer from p goes over: TCP, or TLS for a
// primary with a TLS profile (the handshake done, so that a refused
// certificate is the error, naming the reason).
func Dial(ctx context.Context, p *Peer) (net.Conn, error) {
	d := &net.Dialer{Timeout: DialTimeout}
	if p.TLS == nil {
		return d.DialContext(ctx, "tcp", p.Addr)
	}
	td := &tls.Dialer{NetDialer: d, Config: p.TLS.Config()}
	conn, err := td.DialContext(ctx, "tcp", p.Addr)
	if err != nil {
		return nil, fmt.Errorf("TLS (%s): %w", p.TLS.Describe(), err)
	}
	return conn, nil
}

// SOANetworks are the transports of a SOA query to p, in order: UDP then
// TCP (on truncation), or TLS alone for a primary asked over TLS.
func SOANetworks(p *Peer) []string {
	if p.TLS != nil {
		return []string{"tcp-tls"}
	}
	return []string{"udp", "tcp"}
}

// client is the DNS client of a query to p over network.
func client(p *Peer, network string) *dns.Client {
	c := &dns.Client{Net: network, Timeout: QueryTimeout}
	if network == "tcp-tls" {
		c.TLSConfig = p.TLS.Config()
		c.Dialer = &net.Dialer{Timeout: QueryTimeout}
	}
	return c
}

// Exchange sends m to the peer over network (signed with its key) and
// checks that the answer is signed when the query was.
func Exchange(ctx context.Context, p *Peer, m *dns.Msg, network string) (*dns.Msg, error) {
	m = m.Copy()
	c := client(p, network)
	if p.Key != nil {
		c.TsigSecret = map[string]string{p.Key.Name: p.Key.Secret}
		m.SetTsig(p.Key.Name, p.Key.Algorithm, 300, time.Now().Unix())
	}
	r, _, err := c.ExchangeContext(ctx, m, p.Addr)
	if err != nil {
		// A primary that cannot verify our request (another secret, a
		// key it does not know) answers NOTAUTH with the TSIG error
		// (RFC 8945 §5.2), unsigned; miekg/dns reports that as "bad
		// authentication". Say what the primary answered instead: it is
		// what tells a wrong secret (BADSIG) from an unknown key (BADKEY)
		// or a clock off (BADTIME). It stays an error either way.
		if r != nil && p.Key != nil && r.Rcode == dns.RcodeNotAuth && errors.Is(err, dns.ErrAuth) {
			return nil, RcodeError(r)
		}
		return nil, err
	}
	if p.Key != nil {
		if t := r.IsTsig(); t == nil {
			if r.Rcode != dns.RcodeSuccess {
				return nil, RcodeError(r)
			}
			return nil, fmt.Errorf("answer is not signed (TSIG key %s)", p.Key.Name)
		} else if t.Error != dns.RcodeSuccess {
			return nil, RcodeError(r)
		}
	}
	return r, nil
}

// RcodeErr is the error of a refused transfer or query: the peer's rcode
// and TSIG error.
type RcodeErr struct {
	Rcode int
	TSIG  uint16
}

func (e *RcodeErr) Error() string {
	s := "the primary answered " + dns.RcodeToString[e.Rcode]
	if e.TSIG != 0 {
		s += " (TSIG " + dns.RcodeToString[int(e.TSIG)] + ")"
	}
	return s
}

// RcodeError is the error for the refusal r.
func RcodeError(r *dns.Msg) error {
	e := &RcodeErr{Rcode: r.Rcode}
	if t := r.IsTsig(); t != nil {
		e.TSIG = t.Error
	}
	return e
}

// Short is a one-line form of a record for messages.
func Short(rr dns.RR) string {
	s := strings.ReplaceAll(rr.String(), "\t", " ")
	if len(s) > 120 {
		s = s[:117] + "..."
	}
	return s
}
