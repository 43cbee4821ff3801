// Package cookie implements DNS Cookies (RFC 7873) with the interoperable
// server cookie of RFC 9018 (SipHash-2-4, version 1, timestamp): every
// answer to a request with a COOKIE option carries a server cookie, and a
// request that returns a valid one is known not to come from a forged
// address (rrl does not rate limit it).
package cookie

import (
	"context"
	"net/netip"
	"time"

	"github.com/coredns/coredns/plugin"
	"github.com/miekg/dns"

	"github.com/dnspki/dnspki/plugin/pkg/ede"
	"github.com/dnspki/dnspki/plugin/pkg/wrapped"
)

// Cookie is the handler.
type Cookie struct {
	Next plugin.Handler
	// Require answers BADCOOKIE to a UDP request that has a client cookie
	// but no valid server cookie (RFC 7873 §5.2.3 choice 2); over other
	// transports such requests are answered normally (§5.2.3: TCP is
	// authentication enough).
	Require bool
	ring    *ring
	now     func() time.Time
	// traced: the server block has the trace plugin, whose per-plugin spans
	// need plugin.NextOrFailure; without it the next plugin is called
	// directly (NextOrFailure's writer wrapper adds an allocation and a
	// frame at the deepest point of every query, where the answer is
	// written: with cookie and rrl, enough to make each query's goroutine
	// grow its stack, 19% of the server's CPU).
	traced bool
}

// Name implements plugin.Handler.
func (c *Cookie) Name() string { return "cookie" }

// ServeDNS implements plugin.Handler. Its frame is on the stack while the
// answer is written (the deepest point of a query, where a goroutine's
// stack must not have to grow): the request is examined in prepare, which
// returns first, and the next plugin is called directly.
func (c *Cookie) ServeDNS(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
	cw, vctx, answered := c.prepare(ctx, w, r)
	switch {
	case answered:
		return dns.RcodeSuccess, nil
	case c.traced || c.Next == nil:
		return c.serveTraced(ctx, vctx, cw, w, r)
	case cw == nil:
		return c.Next.ServeDNS(ctx, w, r)
	}
	rc, err := c.Next.ServeDNS(vctx, cw, r)
	return wrapped.Finish(cw, r, cw.written, rc, err)
}

// serveTraced is ServeDNS's call of the next plugin through
// plugin.NextOrFailure, for a block with the trace plugin (whose
// per-plugin spans need it) or without a next plugin.
func (c *Cookie) serveTraced(ctx, vctx context.Context, cw *writer, w dns.ResponseWriter, r *dns.Msg) (int, error) {
	if cw == nil {
		return plugin.NextOrFailure(c.Name(), c.Next, ctx, w, r)
	}
	rc, err := plugin.NextOrFailure(c.Name(), c.Next, vctx, cw, r)
	return wrapped.Finish(cw, r, cw.written, rc, err)
}

// prepare reads the request's COOKIE option and decides. It returns the
// writer that puts the server cookie in the answers and the context with
// the verdict; no writer (and ctx unchanged) without a COOKIE option; or
// answered when it has answered itself (FORMERR, BADCOOKIE).
//
//go:noinline
func (c *Cookie) prepare(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (*writer, context.Context, bool) {
	opt := r.IsEdns0()
	if opt == nil {
		byVerdict[Missing].Inc()
		return nil, ctx, false
	}
	o, found, err := FromOPT(opt)
	if !found {
		byVerdict[Missing].Inc()
		return nil, ctx, false
	}
	if err != nil {
		malformed.Inc()
		writeFormErr(w, r, err)
		return nil, ctx, true
	}
	now := c.now()
	ip := ClientAddr(w)
	ks := c.ring.at(now)
	v, echo := check(ks, &o, ip, unixTime(now))
	byVerdict[v].Inc()
	cw := &writer{ResponseWriter: w, client: o.Client, ip: ip, secret: ks[0], at: now}
	if echo {
		cw.echo = o.Server
	}
	if v != Valid && c.Require && Spoofable(ctx, w) {
		badCookie.Inc()
		writeBadCookie(cw, r)
		return nil, ctx, true
	}
	return cw, withVerdict(ctx, v), false
}

// check decides about o from address ip at time now (Unix seconds), with
// ks. echo: the request's server cookie is fresh and made with the current
// secret, so the answer returns it as it is (RFC 9018 §4.3: a cookie is
// renewed once it is half an hour old).
func check(ks keys, o *Option, ip netip.Addr, now uint32) (v Verdict, echo bool) {
	if o.Server == nil {
		return ClientOnly, false
	}
	if len(o.Server) != serverLen || !usable(timestamp(o.Server), now) {
		return Invalid, false
	}
	for i, s := range ks {
		if s.matches(&o.Client, o.Server, ip) {
			return Valid, i == 0 && !worn(timestamp(o.Server), now)
		}
	}
	return Invalid, false
}

func unixTime(t time.Time) uint32 { return uint32(t.Unix()) }

// writeFormErr answers a malformed COOKIE option (RFC 7873 §5.2.2): FORMERR,
// the question, an EDE saying why; nothing else happens to the request.
func writeFormErr(w dns.ResponseWriter, r *dns.Msg, why error) {
	m := new(dns.Msg)
	m.SetRcode(r, dns.RcodeFormatError)
	ede.Add(r, m, dns.ExtendedErrorCodeOther, why.Error())
	w.WriteMsg(m)
}

// writeBadCookie answers BADCOOKIE with a fresh server cookie (RFC 7873
// §5.2.3), which the client uses to ask again.
func writeBadCookie(w dns.ResponseWriter, r *dns.Msg) {
	m := new(dns.Msg)
	m.SetRcode(r, dns.RcodeBadCookie)
	w.WriteMsg(m)
}
