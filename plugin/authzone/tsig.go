package authzone

import (
	"context"

	"github.com/coredns/coredns/request"
	"github.com/miekg/dns"

	"github.com/dnspki/dnspki/plugin/pkg/ede"
	"github.com/dnspki/dnspki/plugin/pkg/tsigauth"
)

// tsigOverhead bounds the size a TSIG record adds to a reply to r.
func tsigOverhead(r *dns.Msg) int {
	t := r.IsTsig()
	if t == nil {
		return 0
	}
	// owner, type/class/ttl/rdlength, algorithm, time, fudge, MAC size, MAC
	// (64 octets at most, hmac-sha512), original ID, error, other length
	// and 6 octets of other data (BADTIME).
	return len(t.Hdr.Name) + 1 + 10 + len(t.Algorithm) + 1 + 6 + 2 + 2 + 64 + 2 + 2 + 2 + 6
}

// writeReply writes m, a reply to r. The OPT record goes in before the TSIG
// (which must be last); a request signed with a verified key gets a signed
// reply (RFC 8945 §5.3, tsigauth), cut to the client's UDP size first if
// needed since a signed message cannot be truncated afterwards. (The
// preparation is a function of its own so that its frame is gone when the
// message is written: see ServeDNS.)
func writeReply(ctx context.Context, w dns.ResponseWriter, r, m *dns.Msg) error {
	prepareReply(w, r, m)
	if r.IsTsig() == nil {
		return w.WriteMsg(m)
	}
	return writeSigned(ctx, w, r, m)
}

//go:noinline
func writeSigned(ctx context.Context, w dns.ResponseWriter, r, m *dns.Msg) error {
	id, _ := tsigauth.Of(ctx, r)
	return tsigauth.WriteReply(ctx, w, id, m)
}

//go:noinline
func prepareReply(w dns.ResponseWriter, r, m *dns.Msg) {
	state := request.Request{W: w, Req: r}
	state.SizeAndDo(m)
	if r.IsTsig() != nil && state.Proto() == "udp" {
		if size := state.Size() - tsigOverhead(r); m.Len() > size {
			m.Truncate(size)
		}
	}
}

// rcodeMsg is an error answer to r, explained by an Extended DNS Error
// (RFC 8914; when r has EDNS): code and a short text, never anything a
// view hides.
func rcodeMsg(r *dns.Msg, rcode int, code uint16, text string) *dns.Msg {
	m := new(dns.Msg)
	m.SetRcode(r, rcode)
	ede.Add(r, m, code, text)
	return m
}

func writeRcode(ctx context.Context, w dns.ResponseWriter, r *dns.Msg, rcode int, code uint16, text string) (int, error) {
	writeReply(ctx, w, r, rcodeMsg(r, rcode, code, text))
	return dns.RcodeSuccess, nil
}
