package authzone

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/coredns/coredns/request"
	"github.com/miekg/dns"

	"github.com/dnspki/dnspki/plugin/pkg/loglimit"
	"github.com/dnspki/dnspki/plugin/pkg/tsigauth"
	"github.com/dnspki/dnspki/plugin/pkg/xfrpeer"
	"github.com/dnspki/dnspki/plugin/pkg/xotls"
	"github.com/dnspki/dnspki/plugin/pkg/zonemodel"
)

// xfrRequest is one AXFR or IXFR request being answered.
type xfrRequest struct {
	ctx    context.Context
	w      dns.ResponseWriter
	r      *dns.Msg
	zs     *zoneState
	key    string // the request's verified TSIG key ("" unsigned)
	start  time.Time
	qt     string // "AXFR" or "IXFR"
	origin string
	ip     netip.Addr
	who    string // the client in logs: address, key, "over TLS"
	udp    bool
	state  request.Request

	// Set once the transfer ACL let the request in.
	entry *aclEntry
	view  *zonemodel.View
	peer  string // the client's metrics label
}

// serveTransfer answers AXFR and IXFR (RFC 5936, RFC 1995) under the zone's
// transfer ACL. key is the request's verified TSIG key ("" unsigned).
func (a *AuthZone) serveTransfer(ctx context.Context, w dns.ResponseWriter, r *dns.Msg, zs *zoneState, key string) (int, error) {
	t := newXfrRequest(ctx, w, r, zs, key)
	ctxView := ctxViewName(ctx, zs)
	if ctxView != "" && zs.zone.View(ctxView) == nil {
		return writeRcode(ctx, w, r, dns.RcodeRefused, dns.ExtendedErrorCodeProhibited, "")
	}
	overTLS := xotls.State(ctx) != nil
	if overTLS {
		t.who += " over TLS"
	}
	e, why := zs.matchTransfer(t.ip, key, ctxView, overTLS)
	if e == nil {
		return t.refuse(ctxView, why)
	}
	t.entry, t.view, t.peer = e, zs.transferView(ctxView, e), peerLabel(key, t.ip)
	if r.Question[0].Qtype == dns.TypeAXFR && t.udp {
		// AXFR over UDP is not defined (RFC 5936 §4.2).
		return t.fail(dns.RcodeFormatError, dns.ExtendedErrorCodeNotSupported, "formerr", "AXFR over UDP")
	}
	ixfr := r.Question[0].Qtype == dns.TypeIXFR
	var serial uint32
	if ixfr {
		var found bool
		if serial, found = clientSerial(r); !found {
			return t.fail(dns.RcodeFormatError, dns.ExtendedErrorCodeOther, "formerr", "IXFR without the client's SOA in the authority section (RFC 1995 §3)")
		}
	}
	if zs.sec != nil && zs.sec.IsExpired() {
		return t.fail(dns.RcodeServerFailure, dns.ExtendedErrorCodeNoReachableAuthority, "error", "the zone has expired")
	}
	p, err := planTransfer(ctx, t.view, ixfr, serial, e.signed)
	if err != nil {
		return t.fail(dns.RcodeServerFailure, dns.ExtendedErrorCodeOther, "error", "%v", err)
	}
	if t.udp {
		return t.answerUDP(p, ixfr, serial)
	}
	msgs, rrs, err := t.stream(p)
	if err != nil {
		log.Warningf("zone %s view %s: %s to %s broken after %d messages: %v", t.origin, t.view.Name, t.qt, t.who, msgs, err)
		xfrOut.WithLabelValues(t.origin, t.view.Name, t.peer, t.qt, "error").Inc()
		return dns.RcodeSuccess, nil
	}
	xfrOut.WithLabelValues(t.origin, t.view.Name, t.peer, t.qt, p.kind).Inc()
	zs.down().transferred(t.view.Name, key, t.ip, serial, ixfr, p.kind, p.soa.(*dns.SOA).Serial)
	xfrpeer.Duration.WithLabelValues(t.origin, "out").Observe(time.Since(t.start).Seconds())
	t.logSent(p, ixfr, serial, msgs, rrs)
	return dns.RcodeSuccess, nil
}

func newXfrRequest(ctx context.Context, w dns.ResponseWriter, r *dns.Msg, zs *zoneState, key string) *xfrRequest {
	t := &xfrRequest{
		ctx: ctx, w: w, r: r, zs: zs, key: key,
		start:  time.Now(),
		qt:     dns.TypeToString[r.Question[0].Qtype],
		origin: zs.zone.Origin,
		ip:     remoteIP(w),
		state:  request.Request{W: w, Req: r},
	}
	t.udp = t.state.Proto() == "udp"
	t.who = t.ip.String()
	if key != "" {
		t.who += " key " + key
	}
	return t
}

// clientSerial is the serial of the client's SOA in the authority section
// of an IXFR request.
func clientSerial(r *dns.Msg) (uint32, bool) {
	for _, rr := range r.Ns {
		if s, ok := rr.(*dns.SOA); ok {
			return s.Serial, true
		}
	}
	return 0, false
}

// refuse answers a request the transfer ACL does not let in (why: which
// rule, for the log).
func (t *xfrRequest) refuse(ctxView, why string) (int, error) {
	vn := ctxView
	if vn == "" {
		vn = t.zs.transferView("", nil).Name
	}
	if loglimit.Refusals.Allow() {
		log.Warningf("zone %s: %s from %s refused: %s%s", t.origin, t.qt, t.who, why, loglimit.Refusals.Suppressed())
	}
	xfrOut.WithLabelValues(t.origin, vn, "unauthorized", t.qt, "refused").Inc()
	return writeRcode(t.ctx, t.w, t.r, dns.RcodeRefused, dns.ExtendedErrorCodeProhibited, "")
}

// fail answers an admitted request with an error rcode and extended error
// code, logs why and counts it as result.
func (t *xfrRequest) fail(rcode int, code uint16, result, format string, args ...any) (int, error) {
	why := fmt.Sprintf(format, args...)
	log.Warningf("zone %s view %s: %s from %s: %s", t.origin, t.view.Name, t.qt, t.who, why)
	xfrOut.WithLabelValues(t.origin, t.view.Name, t.peer, t.qt, result).Inc()
	return writeRcode(t.ctx, t.w, t.r, rcode, code, why)
}

// answerUDP answers an IXFR over UDP (RFC 1995 §2): the answer if it fits,
// else the current SOA alone, telling the client to use TCP.
func (t *xfrRequest) answerUDP(p *xfrPlan, ixfr bool, serial uint32) (int, error) {
	m := new(dns.Msg)
	m.SetReply(t.r)
	m.Authoritative = true
	m.Compress = true
	result := p.kind
	if p.kind != "axfr" {
		p.each(func(rr dns.RR) error { m.Answer = append(m.Answer, rr); return nil })
	}
	// Room for the OPT record (and a few options) besides the TSIG.
	if p.kind == "axfr" || m.Len()+tsigOverhead(t.r)+64 > t.state.Size() {
		m.Answer = []dns.RR{p.soa}
		result = "tcp"
	}
	if err := writeReply(t.ctx, t.w, t.r, m); err != nil {
		return t.fail(dns.RcodeServerFailure, dns.ExtendedErrorCodeOther, "error", "writing the answer: %v", err)
	}
	xfrOut.WithLabelValues(t.origin, t.view.Name, t.peer, t.qt, result).Inc()
	t.zs.down().transferred(t.view.Name, t.key, t.ip, serial, ixfr, result, p.soa.(*dns.SOA).Serial)
	log.Debugf("zone %s view %s: IXFR over UDP from %s, serial %d: %s", t.origin, t.view.Name, t.who, serial, result)
	return dns.RcodeSuccess, nil
}

// stream sends plan p over TCP in messages of about xfrMsgSize, every
// message signed, each next one over the previous MAC (RFC 8945 §5.3.1),
// with the request's verified key. It returns how many messages and records
// it sent.
func (t *xfrRequest) stream(p *xfrPlan) (msgs, rrs int, err error) {
	id, _ := tsigauth.Of(t.ctx, t.r)
	replies := tsigauth.NewReplies(t.ctx, t.w, id)
	batch := make([]dns.RR, 0, 128)
	size := 0
	flush := func() error {
		m := new(dns.Msg)
		m.SetReply(t.r)
		m.Authoritative = true
		m.Compress = true
		m.Answer = batch
		prepareReply(t.w, t.r, m)
		if err := replies.Write(m); err != nil {
			return err
		}
		msgs++
		rrs += len(batch)
		batch = make([]dns.RR, 0, 128)
		size = 0
		return nil
	}
	err = p.each(func(rr dns.RR) error {
		batch = append(batch, rr)
		size += dns.Len(rr)
		if size >= xfrMsgSize {
			return flush()
		}
		return nil
	})
	if err == nil && len(batch) > 0 {
		err = flush()
	}
	return msgs, rrs, err
}

// logSent logs a transfer sent in full: msgs messages, rrs records.
func (t *xfrRequest) logSent(p *xfrPlan, ixfr bool, serial uint32, msgs, rrs int) {
	origin, v, who := t.origin, t.view, t.who
	switch p.kind {
	case "uptodate":
		log.Debugf("zone %s view %s: IXFR from %s: up to date at serial %d", origin, v.Name, who, serial)
	case "ixfr":
		log.Infof("zone %s view %s: IXFR to %s: serial %d -> %d, %d changes, %d messages, %d records, %s",
			origin, v.Name, who, serial, p.soa.(*dns.SOA).Serial, len(p.entries), msgs, rrs, time.Since(t.start).Round(time.Millisecond))
	default:
		how := "AXFR"
		signed := t.entry.signed
		switch {
		case ixfr && signed:
			how = fmt.Sprintf("IXFR from serial %d answered with the whole zone (signed transfers are whole zones)", serial)
		case ixfr:
			how = fmt.Sprintf("IXFR from serial %d answered with the whole zone (the journal does not reach it)", serial)
		}
		if signed {
			how += ", signed"
		}
		log.Infof("zone %s view %s: %s to %s: serial %d, %d messages, %d records, %s",
			origin, v.Name, how, who, p.soa.(*dns.SOA).Serial, msgs, rrs, time.Since(t.start).Round(time.Millisecond))
	}
}
