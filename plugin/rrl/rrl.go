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
	// traced: the block has the trace plugin (see serveTraced).
	traced bool
}

// Name implements plugin.Handler.
func (l *RRL) Name() string { return "rrl" }

// ServeDNS implements plugin.Handler. Its frame is on the stack while the
// answer is written (the deepest point of a query): the request is
// examined in prepare, which returns first, and the next plugin is called
// directly.
func (l *RRL) ServeDNS(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
	lw, answered, err := l.prepare(ctx, w, r)
	switch {
	case answered:
		return dns.RcodeSuccess, err
	case l.traced || l.Next == nil:
		return l.serveTraced(ctx, lw, w, r)
	case lw == nil:
		return l.Next.ServeDNS(ctx, w, r)
	}
	rc, err := l.Next.ServeDNS(ctx, lw, r)
	return wrapped.Finish(lw, r, lw.written, rc, err)
}

// serveTraced is ServeDNS's call of the next plugin through
// plugin.NextOrFailure, for a block with the trace plugin (whose
// per-plugin spans need it; its writer wrapper costs an allocation and a
// frame at the deepest point of every query) or without a next plugin.
func (l *RRL) serveTraced(ctx context.Context, lw *writer, w dns.ResponseWriter, r *dns.Msg) (int, error) {
	if lw == nil {
		return plugin.NextOrFailure(l.Name(), l.Next, ctx, w, r)
	}
	rc, err := plugin.NextOrFailure(l.Name(), l.Next, ctx, lw, r)
	return wrapped.Finish(lw, r, lw.written, rc, err)
}

// prepare decides what rrl does with the request: nothing (no writer: TCP,
// exempt), answer it at once (answered: an early decision), or count its
// answer (the writer).
//
//go:noinline
func (l *RRL) prepare(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (lw *writer, answered bool, err error) {
	if !cookie.Spoofable(ctx, w) {
		return nil, false, nil
	}
	ip := cookie.ClientAddr(w)
	if reason := l.exemption(ctx, r, ip); reason != "" {
		exemptions[reason].Inc()
		return nil, false, nil
	}
	network := l.network(ip)
	if d, ok := l.early(network, r); ok {
		return nil, true, writeEarly(w, r, d)
	}
	return &writer{ResponseWriter: w, l: l, r: r, network: network}, false, nil
}

// early decides about a query before it is answered when its answer's
// bucket is already over the rate: the bucket of an answer with records
// for this network, name and type (the kind a reflection attack asks for,
// again and again). Such a bucket only gets into debt through answers with
// records to exactly this question, so the answer would be one again and
// would be limited: it is dropped or slipped without being made, which
// spares the work of the answer (signatures included) during the flood.
// Other categories are keyed by zone or network, which only the answer
// tells: they are decided when it is written.
func (l *RRL) early(network netip.Prefix, r *dns.Msg) (Decision, bool) {
	iv := l.interval[Answer]
	if iv == 0 || len(r.Question) != 1 || r.Opcode != dns.OpcodeQuery {
		return Pass, false
	}
	q := r.Question[0]
	d, ok := l.table.takeLimited(l.key(network, Answer, q.Name, q.Qtype), iv, l.slip, l.now())
	if !ok {
		return Pass, false
	}
	if d == Slip {
		slipped[Answer].Inc()
	} else {
		dropped[Answer].Inc()
	}
	logLimited(network, Answer, q.Name)
	return d, true
}

// writeEarly carries out an early decision: nothing, or the truncated
// answer (authoritative, NOERROR, the question and the OPT record, TC).
func writeEarly(w dns.ResponseWriter, r *dns.Msg, d Decision) error {
	if d == Drop {
		return nil
	}
	m := new(dns.Msg)
	m.SetReply(r)
	m.Authoritative = true
	if o := r.IsEdns0(); o != nil {
		m.SetEdns0(o.UDPSize(), o.Do())
	}
	return w.WriteMsg(truncated(m))
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
// (It returns before the answer is written: not inlined into the writer,
// whose frame is on the stack at the deepest point of the query.)
//
//go:noinline
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
