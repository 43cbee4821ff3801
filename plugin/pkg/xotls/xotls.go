// Package xotls holds the TLS side of zone transfers over TLS (RFC 9103,
// XoT): the authentication profiles a client (a secondary asking its
// primary) and a server (a primary's TLS listener) apply, SPKI pins, the
// certificate generated on first start when none is configured, and the
// TLS state of a request as plugins see it.
//
// Every profile negotiates TLS 1.3 (RFC 9103 §9: XoT requires it) with the
// ALPN token "dot" (RFC 9103 §7.1).
package xotls

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"strings"
)

// ALPN is the application protocol of DNS over TLS, and so of XoT.
const ALPN = "dot"

// Pin is the SPKI pin of a certificate: base64 of the SHA-256 of its
// SubjectPublicKeyInfo (the form of RFC 7858 §4.2 and of pin-sha256).
func Pin(c *x509.Certificate) string {
	h := sha256.Sum256(c.RawSubjectPublicKeyInfo)
	return base64.StdEncoding.EncodeToString(h[:])
}

// ParsePin checks a pin's form (base64 of 32 octets).
func ParsePin(s string) (string, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) != sha256.Size {
		return "", fmt.Errorf("SPKI pin %q: want the base64 of a SHA-256 digest (44 characters; 'dnspki spki CERT' prints it)", s)
	}
	return s, nil
}

// LoadCAs reads a PEM file of CA certificates.
func LoadCAs(path string) (*x509.CertPool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%s: no PEM certificate", path)
	}
	return pool, nil
}

// Auth is who a TLS peer must be (RFC 9103 §9.3): anyone (opportunistic
// TLS: encrypted, not authenticated), the holder of a pinned key, or of a
// certificate chaining to a CA (with a name, for servers). Pins and a CA
// may both be set: either suffices.
type Auth struct {
	Pins []string
	CAs  *x509.CertPool
	Name string // the server name a CA-signed server certificate must have
}

// Strict reports whether the profile authenticates the peer.
func (a Auth) Strict() bool { return len(a.Pins) > 0 || a.CAs != nil }

// Describe names the profile for logs.
func (a Auth) Describe() string {
	var p []string
	if len(a.Pins) > 0 {
		p = append(p, "pinned SPKI")
	}
	if a.CAs != nil {
		p = append(p, "CA")
	}
	if len(p) == 0 {
		return "opportunistic"
	}
	return "strict (" + strings.Join(p, " or ") + ")"
}

// verify checks the peer's certificate chain against the profile. server
// tells a server's certificate (name checked against Name) from a
// client's. The error says why, for the log line that names the peer.
func (a Auth) verify(cs tls.ConnectionState, server bool) error {
	if len(cs.PeerCertificates) == 0 {
		if a.Strict() {
			return errors.New("no certificate")
		}
		return nil
	}
	leaf := cs.PeerCertificates[0]
	if !a.Strict() {
		return nil
	}
	pin := Pin(leaf)
	for _, p := range a.Pins {
		if p == pin {
			return nil
		}
	}
	var caErr error
	if a.CAs != nil {
		opts := x509.VerifyOptions{Roots: a.CAs, Intermediates: x509.NewCertPool()}
		for _, c := range cs.PeerCertificates[1:] {
			opts.Intermediates.AddCert(c)
		}
		if server {
			opts.DNSName = a.Name
			opts.KeyUsages = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		} else {
			opts.KeyUsages = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
		}
		if _, caErr = leaf.Verify(opts); caErr == nil {
			return nil
		}
	}
	switch {
	case len(a.Pins) > 0 && caErr != nil:
		return fmt.Errorf("certificate %q (SPKI %s) is neither pinned nor valid for the CA: %v", leaf.Subject, pin, caErr)
	case len(a.Pins) > 0:
		return fmt.Errorf("certificate %q has SPKI %s, which is not pinned", leaf.Subject, pin)
	}
	return fmt.Errorf("certificate %q: %v", leaf.Subject, caErr)
}

// Client is the TLS profile of a secondary towards one primary.
type Client struct {
	Auth
	Cert *tls.Certificate // mutual TLS: the secondary's own certificate
}

// Config returns the client TLS configuration for dialing the primary.
// Verification is the profile's own (the standard one would refuse a
// self-signed, pinned certificate, and opportunistic TLS checks nothing).
func (c *Client) Config() *tls.Config {
	cfg := &tls.Config{
		MinVersion:         tls.VersionTLS13,
		NextProtos:         []string{ALPN},
		ServerName:         c.Name,
		InsecureSkipVerify: true, // verified by VerifyConnection below
		VerifyConnection: func(cs tls.ConnectionState) error {
			if cs.NegotiatedProtocol != ALPN {
				return fmt.Errorf("the primary did not agree to ALPN %q (RFC 9103 §7.1)", ALPN)
			}
			if err := c.verify(cs, true); err != nil {
				return fmt.Errorf("refusing the primary's TLS certificate: %w", err)
			}
			return nil
		},
	}
	if c.Cert != nil {
		cfg.Certificates = []tls.Certificate{*c.Cert}
	}
	return cfg
}

type ctxKey struct{}

// WithState records the TLS state of the connection a request came on.
func WithState(ctx context.Context, cs *tls.ConnectionState) context.Context {
	return context.WithValue(ctx, ctxKey{}, cs)
}

// State returns the TLS state of the request's connection, or nil when it
// did not come over TLS (or no xot plugin serves its listener).
func State(ctx context.Context) *tls.ConnectionState {
	cs, _ := ctx.Value(ctxKey{}).(*tls.ConnectionState)
	return cs
}
