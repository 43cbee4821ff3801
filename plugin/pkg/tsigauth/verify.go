package tsigauth

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/coredns/coredns/core/dnsserver"
	"github.com/miekg/dns"

	"github.com/dnspki/dnspki/plugin/pkg/tsigkey"
)

// Failure is why a request is refused before any plugin acts on it. Rcode
// is FORMERR (malformed), NOTAUTH with a TSIG error (BADKEY, BADSIG,
// BADTIME, BADTRUNC) or REFUSED (a replay).
type Failure struct {
	Rcode int    // DNS rcode of the answer: FORMERR, NOTAUTH or REFUSED
	Error uint16 // TSIG error of a NOTAUTH answer
	// Reason is the metrics label (formerr_tsig, badkey, badsig, ...).
	Reason string
	// Msg says what was wrong, for the log (never sent to the client).
	Msg string
	// Key is the key the request named when the answer must be signed with
	// it (BADTIME, a replay); nil otherwise.
	Key  *tsigkey.Key
	tsig *dns.TSIG
}

func (f *Failure) String() string { return f.Msg }

// macSizes is the HMAC output length of each algorithm, in octets.
var macSizes = map[string]int{
	dns.HmacMD5:    16,
	dns.HmacSHA1:   20,
	dns.HmacSHA224: 28,
	dns.HmacSHA256: 32,
	dns.HmacSHA384: 48,
	dns.HmacSHA512: 64,
}

// Authenticate decides who signed r, once: the structure of the message,
// then (RFC 8945 §5.2) the key, the MAC, the time, the MAC's length, and a
// replay of a message already accepted. w is the request's writer: its
// TsigStatus is the DNS server's check of the MAC on the bytes that arrived,
// which is used when the server checked it with this block's secret for
// the key. Where the server could not check the MAC (hmac-md5, which the DNS
// library dropped; a key name in another case than the key's), the MAC is
// checked on the message as re-encoded (see verifyEncoded).
func (b *Block) Authenticate(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (Identity, *Failure) {
	t, f := checkStructure(r)
	if f != nil || t == nil {
		return Identity{}, f
	}
	name := strings.ToLower(t.Hdr.Name)
	k, ok := b.Ring.Get(name)
	if !ok {
		if b.foreign {
			return Identity{TSIG: t, Foreign: true}, nil
		}
		return Identity{}, notAuth(dns.RcodeBadKey, "badkey", t, nil, "unknown TSIG key %s", name)
	}
	alg, err := tsigkey.Algorithm(t.Algorithm)
	if err != nil || alg != k.Algorithm {
		return Identity{}, notAuth(dns.RcodeBadKey, "badkey", t, nil, "TSIG key %s is %s, request signed with %s", name, tsigkey.AlgorithmName(k.Algorithm), strings.TrimSuffix(strings.ToLower(t.Algorithm), "."))
	}
	if f := checkMACSize(t, k); f != nil {
		return Identity{}, f
	}
	if f := b.checkMAC(ctx, w, r, t, &k); f != nil {
		return Identity{}, f
	}
	if f := b.replay.check(k.Name, t); f != nil {
		f.Key, f.tsig = &k, t
		return Identity{}, f
	}
	return Identity{Key: &k, TSIG: t}, nil
}

// checkMACSize applies RFC 8945 §5.2.2.1: a MAC longer than the algorithm's
// output, or shorter than the larger of 10 octets and half of it, is
// FORMERR. A truncated MAC between the two is refused by local policy with
// BADTRUNC (§5.2.4): dnspki accepts full-length MACs only (every client it
// serves sends them), because the DNS server checks full MACs on the bytes
// that arrived and nothing else can.
func checkMACSize(t *dns.TSIG, k tsigkey.Key) *Failure {
	full := macSizes[k.Algorithm]
	size := int(t.MACSize)
	switch {
	case size > full:
		return formErr("formerr_mac", "TSIG key %s: MAC of %d octets, longer than %s's %d", k.Name, size, tsigkey.AlgorithmName(k.Algorithm), full)
	case size < max(10, full/2):
		return formErr("formerr_mac", "TSIG key %s: MAC of %d octets, shorter than RFC 8945 allows (%d)", k.Name, size, max(10, full/2))
	case size < full:
		return notAuth(dns.RcodeBadTrunc, "badtrunc", t, nil, "TSIG key %s: MAC truncated to %d octets (only full %d-octet MACs are accepted)", k.Name, size, full)
	}
	return nil
}

// checkMAC checks the MAC and the time of r, signed with k.
func (b *Block) checkMAC(ctx context.Context, w dns.ResponseWriter, r *dns.Msg, t *dns.TSIG, k *tsigkey.Key) *Failure {
	status := w.TsigStatus()
	if !serverHas(ctx, t.Hdr.Name, k) {
		// The server checked with no secret, or with another secret
		// than this block's (another server block on the same listener
		// defines the name otherwise): its status says nothing about k.
		if srvSecret(ctx, t.Hdr.Name) != "" && k.Algorithm != dns.HmacMD5 {
			return notAuth(dns.RcodeBadKey, "badkey", t, nil, "TSIG key %s: the DNS server holds another secret under this name (another server block on this listener defines it): give the key one definition", k.Name)
		}
		status = errNotChecked
	} else if k.Algorithm == dns.HmacMD5 {
		status = errNotChecked
	}
	if errors.Is(status, errNotChecked) {
		status = verifyEncoded(r, *k)
	}
	switch {
	case status == nil:
		return nil
	case errors.Is(status, dns.ErrTime):
		return notAuth(dns.RcodeBadTime, "badtime", t, k, "TSIG key %s: signed at %s, outside the %d s fudge window", k.Name, time.Unix(int64(t.TimeSigned), 0).UTC().Format(time.RFC3339), t.Fudge)
	default:
		return notAuth(dns.RcodeBadSig, "badsig", t, nil, "TSIG key %s: bad MAC (%v)", k.Name, status)
	}
}

var errNotChecked = errors.New("not checked by the server")

// serverHas reports whether the DNS server serving ctx verifies the key
// name, exactly as spelled in the request, with k's secret.
func serverHas(ctx context.Context, name string, k *tsigkey.Key) bool {
	return srvSecret(ctx, name) == k.Secret
}

func srvSecret(ctx context.Context, name string) string {
	s, ok := ctx.Value(dnsserver.Key{}).(*dnsserver.Server)
	if !ok || s == nil {
		return ""
	}
	return s.TsigSecret[name]
}

// verifyEncoded checks the MAC of a request whose bytes are no longer at
// hand (CoreDNS hands plugins the parsed message only): the request is
// encoded again the two ways clients encode (names compressed as BIND,
// dnspython and miekg/dns compress, and uncompressed) and the MAC is checked
// on each, with the key's own HMAC (hmac-md5 included). A forged MAC
// verifies under neither, and an encoding of the parsed message that
// verifies is a message with the same content as the one the key holder
// signed; a client that compresses otherwise gets BADSIG (never a false
// accept). The time is checked after the MAC.
func verifyEncoded(req *dns.Msg, k tsigkey.Key) error {
	err := dns.ErrSig
	for _, compress := range []bool{true, false} {
		c := req.Copy()
		c.Compress = compress
		buf, perr := c.Pack()
		if perr != nil {
			return perr
		}
		e := dns.TsigVerifyWithProvider(buf, k.Provider(), "", false)
		if e == nil || errors.Is(e, dns.ErrTime) {
			return e
		}
		err = e
	}
	return err
}

func notAuth(tsigErr uint16, reason string, t *dns.TSIG, k *tsigkey.Key, format string, a ...any) *Failure {
	return &Failure{Rcode: dns.RcodeNotAuth, Error: tsigErr, Reason: reason, Msg: fmt.Sprintf(format, a...), Key: k, tsig: t}
}
