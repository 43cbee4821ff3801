package cookie

import (
	"context"
	"net"
	"net/netip"
	"strings"

	"github.com/coredns/coredns/core/dnsserver"
	"github.com/miekg/dns"
)

// Verdict is what the cookie plugin found in a request.
type Verdict uint8

const (
	// Missing: no COOKIE option (or no plugin checked).
	Missing Verdict = iota
	// ClientOnly: a client cookie without a server cookie.
	ClientOnly
	// Invalid: a server cookie that is not ours, not this client's, or expired.
	Invalid
	// Valid: a server cookie this server made for this client and address
	// within the last hour: the source address is not forged (RFC 7873 §5.2.5).
	Valid
)

var verdictNames = [...]string{Missing: "missing", ClientOnly: "client_only", Invalid: "invalid", Valid: "valid"}

func (v Verdict) String() string { return verdictNames[v] }

type verdictKey struct{}

func withVerdict(ctx context.Context, v Verdict) context.Context {
	return context.WithValue(ctx, verdictKey{}, v)
}

// VerdictOf returns the verdict of the cookie plugin about the request of ctx.
func VerdictOf(ctx context.Context) Verdict {
	v, _ := ctx.Value(verdictKey{}).(Verdict)
	return v
}

// Validated reports whether the request of ctx carried a valid server cookie.
func Validated(ctx context.Context) bool { return VerdictOf(ctx) == Valid }

// Spoofable reports whether the request in w came over a transport whose
// source address can be forged: plain DNS over UDP. TCP, TLS, HTTPS and
// gRPC need a handshake from the source address; DNS over QUIC reports a
// UDP address but its handshake proves the address too.
func Spoofable(ctx context.Context, w dns.ResponseWriter) bool {
	if _, udp := w.RemoteAddr().(*net.UDPAddr); !udp {
		return false
	}
	if s, ok := ctx.Value(dnsserver.Key{}).(*dnsserver.Server); ok && s != nil {
		return !strings.HasPrefix(s.Addr, "quic://")
	}
	return true
}

// ClientAddr is the source address of the request in w (IPv4-mapped IPv6
// as IPv4); the zero Addr when the transport has none.
func ClientAddr(w dns.ResponseWriter) netip.Addr {
	switch a := w.RemoteAddr().(type) {
	case *net.UDPAddr:
		ip, _ := netip.AddrFromSlice(a.IP)
		return ip.Unmap()
	case *net.TCPAddr:
		ip, _ := netip.AddrFromSlice(a.IP)
		return ip.Unmap()
	}
	if a := w.RemoteAddr(); a != nil {
		if ap, err := netip.ParseAddrPort(a.String()); err == nil {
			return ap.Addr().Unmap()
		}
	}
	return netip.Addr{}
}
