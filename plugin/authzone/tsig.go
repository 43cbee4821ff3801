package authzone

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/coredns/coredns/request"
	"github.com/miekg/dns"

	"github.com/dnspki/dnspki/plugin/pkg/tsigkey"
)

// requestKey checks a request's TSIG (RFC 8945). It returns the name of the
// key the request is signed with ("" unsigned), or the failure to answer with
// NOTAUTH. Keys of authzone's own ring are bound to their algorithm; a key
// another plugin registered with the server (tsig, acmechallenge) is accepted
// as the server verified it.
func (a *AuthZone) requestKey(w dns.ResponseWriter, r *dns.Msg) (string, *tsigkey.Failure) {
	t := r.IsTsig()
	if t == nil {
		return "", nil
	}
	status := w.TsigStatus()
	name := strings.ToLower(t.Hdr.Name)
	if a.ring != nil {
		if _, ok := a.ring.Get(name); ok {
			k, f := a.ring.Verify(r, status)
			if f != nil {
				return "", f
			}
			return k.Name, nil
		}
	}
	if status == nil {
		if _, ok := a.secrets[name]; ok {
			return name, nil
		}
		return "", &tsigkey.Failure{Rcode: dns.RcodeBadKey, Reason: fmt.Sprintf("unknown TSIG key %s", name)}
	}
	switch {
	case errors.Is(status, dns.ErrSecret):
		return "", &tsigkey.Failure{Rcode: dns.RcodeBadKey, Reason: fmt.Sprintf("unknown TSIG key %s", name)}
	case errors.Is(status, dns.ErrTime):
		return "", &tsigkey.Failure{Rcode: dns.RcodeBadTime, Reason: fmt.Sprintf("TSIG key %s: time outside the fudge window", name)}
	default:
		return "", &tsigkey.Failure{Rcode: dns.RcodeBadSig, Reason: fmt.Sprintf("TSIG key %s: bad MAC (%v)", name, status)}
	}
}

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
// reply (RFC 8945 §5.3), cut to the client's UDP size first if needed since
// a signed message cannot be truncated afterwards. (The preparation is a
// function of its own so that its frame is gone when the message is
// written: see ServeDNS.)
func writeReply(w dns.ResponseWriter, r, m *dns.Msg) error {
	prepareReply(w, r, m)
	return w.WriteMsg(m)
}

//go:noinline
func prepareReply(w dns.ResponseWriter, r, m *dns.Msg) {
	state := request.Request{W: w, Req: r}
	t := r.IsTsig()
	signed := t != nil && w.TsigStatus() == nil
	state.SizeAndDo(m)
	if signed && state.Proto() == "udp" {
		if size := state.Size() - tsigOverhead(r); m.Len() > size {
			m.Truncate(size)
		}
	}
	if signed {
		m.SetTsig(t.Hdr.Name, t.Algorithm, 300, time.Now().Unix())
	}
}

func rcodeMsg(r *dns.Msg, rcode int) *dns.Msg {
	m := new(dns.Msg)
	m.SetRcode(r, rcode)
	return m
}

func writeRcode(w dns.ResponseWriter, r *dns.Msg, rcode int) (int, error) {
	writeReply(w, r, rcodeMsg(r, rcode))
	return dns.RcodeSuccess, nil
}
