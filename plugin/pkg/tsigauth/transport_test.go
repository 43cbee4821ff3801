package tsigauth

import (
	"context"
	"testing"

	"github.com/coredns/coredns/core/dnsserver"
)

// Signed replies are written as they are on the transports that send the
// bytes a plugin writes: DNS (UDP, TCP) and DNS over TLS, where zone
// transfers over TLS (RFC 9103) are signed like over TCP; the re-encoding
// transports get them uncompressed.
func TestNativeTransport(t *testing.T) {
	for addr, want := range map[string]bool{
		"dns://127.0.0.1:53":    true,
		"tls://127.0.0.1:853":   true,
		"https://127.0.0.1:443": false,
		"quic://127.0.0.1:853":  false,
		"grpc://127.0.0.1:443":  false,
	} {
		ctx := context.WithValue(context.Background(), dnsserver.Key{}, &dnsserver.Server{Addr: addr})
		if got := nativeTransport(ctx); got != want {
			t.Errorf("%s: native %v, want %v", addr, got, want)
		}
	}
}
