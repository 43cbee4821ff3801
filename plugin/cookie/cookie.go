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
}

// Name implements plugin.Handler.
func (c *Cookie) Name() string { return "cookie" }

// ServeDNS implements plugin.Handler.
func (c *Cookie) ServeDNS(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
	opt := r.IsEdns0()
	if opt == nil {
		byVerdict[Missing].Inc()
		return plugin.NextOrFailure(c.Name(), c.Next, ctx, w, r)
	}
	o, found, err := FromOPT(opt)
	if !found {
		byVerdict[Missing].Inc()
		return plugin.NextOrFailure(c.Name(), c.Next, ctx, w, r)
	}
	if err != nil {
		malformed.Inc()
		return writeFormErr(w, r, err)
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
		return writeBadCookie(cw, r)
	}
	rc, err := plugin.NextOrFailure(c.Name(), c.Next, withVerdict(ctx, v), cw, r)
	return wrapped.Finish(cw, r, cw.written, rc, err)
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
func writeFormErr(w dns.ResponseWriter, r *dns.Msg, why error) (int, error) {
	m := new(dns.Msg)
	m.SetRcode(r, dns.RcodeFormatError)
	ede.Add(r, m, dns.ExtendedErrorCodeOther, why.Error())
	w.WriteMsg(m)
	return dns.RcodeSuccess, nil
}

// writeBadCookie answers BADCOOKIE with a fresh server cookie (RFC 7873
// §5.2.3), which the client uses to ask again.
func writeBadCookie(w dns.ResponseWriter, r *dns.Msg) (int, error) {
	m := new(dns.Msg)
	m.SetRcode(r, dns.RcodeBadCookie)
	w.WriteMsg(m)
	return dns.RcodeSuccess, nil
}
