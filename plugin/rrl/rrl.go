// Package rrl implements response rate limiting for an authoritative
// server, in the spirit of BIND's and Knot's RRL: answers to a client
// network are counted per category (answers per name and type, NODATA and
// NXDOMAIN per zone, referrals per delegation, errors per network) and,
// above the category's rate, dropped or slipped (sent truncated, so that a
// real resolver asks again over TCP). It only applies where the source
// address can be forged: never to TCP, nor to requests with a valid DNS
// cookie (the cookie plugin) or a verified TSIG signature.
package rrl

import (
	"context"
	"hash/maphash"
	"net/netip"
	"strings"
	"time"

	"github.com/coredns/coredns/plugin"
	"github.com/miekg/dns"

	"github.com/dnspki/dnspki/plugin/cookie"
	"github.com/dnspki/dnspki/plugin/pkg/tsigauth"
	"github.com/dnspki/dnspki/plugin/pkg/wrapped"
)

// RRL is the handler.
type RRL struct {
	Next plugin.Handler
	// interval[c] is the time between two responses of category c (1/rate);
	// 0: not limited.
	interval [nCategories]int64
	slip     uint32
	v4Bits   int
	v6Bits   int
	exempt   []netip.Prefix
	table    *table
	now      func() time.Time
}

// Name implements plugin.Handler.
func (l *RRL) Name() string { return "rrl" }

// ServeDNS implements plugin.Handler.
func (l *RRL) ServeDNS(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
	if !cookie.Spoofable(ctx, w) {
		return plugin.NextOrFailure(l.Name(), l.Next, ctx, w, r)
	}
	ip := cookie.ClientAddr(w)
	if reason := l.exemption(ctx, r, ip); reason != "" {
		exempted.WithLabelValues(reason).Inc()
		return plugin.NextOrFailure(l.Name(), l.Next, ctx, w, r)
	}
	lw := &writer{ResponseWriter: w, l: l, r: r, network: l.network(ip)}
	rc, err := plugin.NextOrFailure(l.Name(), l.Next, ctx, lw, r)
	return wrapped.Finish(lw, r, lw.written, rc, err)
}

// exemption says why a UDP request is not limited ("": it is).
func (l *RRL) exemption(ctx context.Context, r *dns.Msg, ip netip.Addr) string {
	if cookie.Validated(ctx) {
		return "cookie"
	}
	if r.IsTsig() != nil {
		if id, ok := tsigauth.Of(ctx, r); ok && id.Key != nil {
			return "tsig"
		}
	}
	for _, p := range l.exempt {
		if p.Contains(ip) {
			return "network"
		}
	}
	return ""
}

// network is the client's network: its address cut to the configured
// prefix length (the zero prefix when the address is unknown: one bucket).
func (l *RRL) network(ip netip.Addr) netip.Prefix {
	bits := l.v6Bits
	if ip.Is4() {
		bits = l.v4Bits
	}
	p, _ := ip.Prefix(bits)
	return p
}

// decide counts m, the answer to r for network, and says what to do with it.
func (l *RRL) decide(network netip.Prefix, r, m *dns.Msg) Decision {
	cat, name, qtype := classify(r, m)
	iv := l.interval[cat]
	if iv == 0 {
		return Pass
	}
	d, evicted := l.table.take(l.key(network, cat, name, qtype), iv, l.slip, l.now())
	if evicted {
		evictions.Inc()
	}
	switch d {
	case Drop:
		dropped[cat].Inc()
	case Slip:
		slipped[cat].Inc()
	}
	if d != Pass {
		logLimited(network, cat, name)
	}
	return d
}

// key is the hash of a bucket: the network, the category, the name
// (case-insensitive) and the type.
func (l *RRL) key(network netip.Prefix, cat Category, name string, qtype uint16) uint64 {
	var h maphash.Hash
	h.SetSeed(l.table.seed)
	a := network.Addr().As16()
	h.Write(a[:])
	h.Write([]byte{byte(network.Bits()), byte(cat), byte(qtype >> 8), byte(qtype)})
	h.WriteString(strings.ToLower(name))
	return h.Sum64()
}
