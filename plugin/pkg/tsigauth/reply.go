package tsigauth

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/coredns/coredns/core/dnsserver"
	"github.com/miekg/dns"

	"github.com/dnspki/dnspki/plugin/pkg/ede"
	"github.com/dnspki/dnspki/plugin/pkg/tsigkey"
)

// replyFudge is the fudge of the replies dnspki signs (RFC 8945 §10: 300 s).
const replyFudge = 300

// WriteReply writes m, the reply to a request with identity id: signed with
// the request's key when the request was signed with a verified key (RFC
// 8945 §5.3), unsigned otherwise. The MAC is computed with the key's own
// HMAC (every algorithm, hmac-md5 included) and the bytes are written as
// they are, on every transport.
func WriteReply(ctx context.Context, w dns.ResponseWriter, id Identity, m *dns.Msg) error {
	if id.Key == nil {
		return w.WriteMsg(m)
	}
	rs := NewReplies(ctx, w, id)
	return rs.Write(m)
}

// Replies signs and writes the messages of one answer to a signed request:
// the first message's MAC covers the request's MAC, every next one covers
// the previous message's MAC and the timers only (RFC 8945 §5.3.1: a zone
// transfer). With an unsigned request the messages go out unsigned.
type Replies struct {
	w        dns.ResponseWriter
	id       Identity
	compress bool
	prevMAC  string
	n        int
}

// NewReplies starts the answer to the request with identity id.
func NewReplies(ctx context.Context, w dns.ResponseWriter, id Identity) *Replies {
	return &Replies{w: w, id: id, compress: nativeTransport(ctx)}
}

// Write signs (when the request was signed) and writes m.
func (rs *Replies) Write(m *dns.Msg) error {
	if rs.id.Key == nil {
		return rs.w.WriteMsg(m)
	}
	reqMAC, timersOnly := rs.id.TSIG.MAC, false
	if rs.n > 0 {
		reqMAC, timersOnly = rs.prevMAC, true
	}
	b, mac, err := sign(m, *rs.id.Key, reqMAC, timersOnly, rs.compress, time.Now())
	if err != nil {
		return err
	}
	if _, err := rs.w.Write(b); err != nil {
		return err
	}
	rs.prevMAC = mac
	rs.n++
	return nil
}

// sign packs m with a TSIG record of key k (replacing one m may carry) and
// its MAC over m, the previous MAC and the TSIG variables.
func sign(m *dns.Msg, k tsigkey.Key, reqMAC string, timersOnly, compress bool, at time.Time) ([]byte, string, error) {
	c := *m
	c.Extra = stripTSIG(m.Extra)
	c.Compress = compress
	c.SetTsig(k.Name, k.Algorithm, replyFudge, at.Unix())
	return dns.TsigGenerateWithProvider(&c, k.Provider(), reqMAC, timersOnly)
}

func stripTSIG(extra []dns.RR) []dns.RR {
	if n := len(extra); n > 0 && extra[n-1].Header().Rrtype == dns.TypeTSIG {
		return extra[: n-1 : n-1]
	}
	return extra[:len(extra):len(extra)]
}

// nativeTransport: the request came over DNS on UDP, TCP or TLS, where the
// bytes written are sent as they are. The other transports (DoH, DoQ,
// gRPC) decode what a plugin writes and encode it again, uncompressed, so a
// signed reply must be uncompressed for its MAC to survive.
func nativeTransport(ctx context.Context) bool {
	s, ok := ctx.Value(dnsserver.Key{}).(*dnsserver.Server)
	if !ok || s == nil {
		return true
	}
	return strings.HasPrefix(s.Addr, "dns://") || strings.HasPrefix(s.Addr, "tls://")
}

// WriteFailure answers a request the gate refused (RFC 8945 §5.3.2, RFC
// 6891 §7):
//   - FORMERR: the header and question, nothing else;
//   - NOTAUTH with BADKEY, BADSIG or BADTRUNC: an unsigned TSIG record
//     carrying the error (empty MAC); BADTRUNC is unsigned too because the
//     truncated MAC was not verified, and a signed answer to an unverified
//     request would be a signing oracle;
//   - NOTAUTH with BADTIME: signed with the key (whose MAC verified),
//     covering the request's MAC, the server's time in Other Data;
//   - REFUSED for a replay: signed like any answer to a verified request.
func WriteFailure(ctx context.Context, w dns.ResponseWriter, r *dns.Msg, f *Failure) error {
	m := new(dns.Msg)
	m.SetRcode(r, f.Rcode)
	m.Opcode = r.Opcode
	// The reason, for people (dig shows it): the metrics label, which says
	// what was wrong with the request and nothing about the zone.
	code := uint16(dns.ExtendedErrorCodeProhibited)
	if f.Rcode == dns.RcodeFormatError {
		code = dns.ExtendedErrorCodeOther
	}
	if r.IsEdns0() != nil && structureOK(r) {
		ede.Add(r, m, code, f.Reason)
	}
	switch {
	case f.Rcode == dns.RcodeFormatError:
		m.Question = m.Question[:min(len(m.Question), 1)]
		return w.WriteMsg(m)
	case f.Rcode == dns.RcodeRefused && f.Key != nil:
		return WriteReply(ctx, w, Identity{Key: f.Key, TSIG: f.tsig}, m)
	case f.Error == dns.RcodeBadTime && f.Key != nil:
		return writeBadTime(ctx, w, m, f)
	}
	t := f.tsig
	if t == nil {
		return w.WriteMsg(m)
	}
	m.Extra = append(m.Extra, &dns.TSIG{
		Hdr:        dns.RR_Header{Name: t.Hdr.Name, Rrtype: dns.TypeTSIG, Class: dns.ClassANY},
		Algorithm:  t.Algorithm,
		TimeSigned: t.TimeSigned,
		Fudge:      t.Fudge,
		OrigId:     r.Id,
		Error:      f.Error,
	})
	b, err := m.Pack()
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// writeBadTime signs the BADTIME answer m (RFC 8945 §5.2.3): the request's
// Time Signed, the server's time in Other Data, the MAC over the request's
// MAC.
func writeBadTime(ctx context.Context, w dns.ResponseWriter, m *dns.Msg, f *Failure) error {
	t, k := f.tsig, *f.Key
	now := time.Now()
	m.Extra = append(stripTSIG(m.Extra), &dns.TSIG{
		Hdr:        dns.RR_Header{Name: k.Name, Rrtype: dns.TypeTSIG, Class: dns.ClassANY},
		Algorithm:  k.Algorithm,
		TimeSigned: t.TimeSigned,
		Fudge:      t.Fudge,
		OrigId:     m.Id,
		Error:      dns.RcodeBadTime,
		OtherLen:   6,
		OtherData:  fmt.Sprintf("%012x", uint64(now.Unix())&0xffffffffffff),
	})
	m.Compress = nativeTransport(ctx)
	b, _, err := dns.TsigGenerateWithProvider(m, k.Provider(), t.MAC, false)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// structureOK: the request's OPT can be answered with one (a FORMERR for a
// second or misplaced OPT gets none).
func structureOK(r *dns.Msg) bool {
	n := 0
	for _, rr := range r.Extra {
		if rr.Header().Rrtype == dns.TypeOPT {
			n++
		}
	}
	return n == 1
}
