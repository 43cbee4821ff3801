package authzone

import (
	"crypto/tls"
	"fmt"
	"strings"

	"github.com/coredns/coredns/plugin/pkg/transport"

	"github.com/dnspki/dnspki/plugin/pkg/xotls"
)

// Zone transfers over TLS (XoT, RFC 9103). Out: a server block with a
// tls:// address and the xot directive serves transfers on TLS like on TCP;
// 'transfer to ... tls' rules match only requests that came over TLS.
// In: a 'primary ... tls' is asked over TLS (SOA queries and transfers;
// NOTIFY stays plain DNS, RFC 9103 §7.2 leaves it so), with one of the
// profiles of RFC 9103 §9.3:
//
//	primary ADDR:853 tls                       opportunistic: encrypted, not authenticated
//	primary ADDR:853 tls-spki PIN...           strict: the primary's key is pinned
//	primary ADDR:853 tls-ca FILE tls-name NAME strict: a certificate for NAME from the CA
//	... tls-cert CERT KEY                      mutual TLS: the secondary's own certificate
//
// TSIG works over TLS as over TCP (the key line of the same primary).

// tlsOptions are the TLS words of a primary line.
var tlsOptions = []string{"tls", "tls-spki", "tls-ca", "tls-name", "tls-cert"}

// parsePeerTLS reads a primary line's TLS options; nil when it has none.
// path resolves relative file names.
func parsePeerTLS(opts map[string][]string, path func(string) string) (*xotls.Client, error) {
	used := false
	for _, o := range tlsOptions {
		if _, ok := opts[o]; ok {
			used = true
		}
	}
	if !used {
		return nil, nil
	}
	c := &xotls.Client{}
	if a, ok := opts["tls"]; ok && len(a) != 0 {
		return nil, fmt.Errorf("'tls' takes no arguments (opportunistic TLS), got %q: use tls-spki, tls-ca, tls-name, tls-cert", strings.Join(a, " "))
	}
	if pins, ok := opts["tls-spki"]; ok {
		if len(pins) == 0 {
			return nil, fmt.Errorf("'tls-spki' needs at least one SPKI pin (base64 SHA-256; 'dnspki spki CERT' prints it)")
		}
		for _, p := range pins {
			pin, err := xotls.ParsePin(p)
			if err != nil {
				return nil, err
			}
			c.Pins = append(c.Pins, pin)
		}
	}
	if ca, ok := opts["tls-ca"]; ok {
		if len(ca) != 1 {
			return nil, fmt.Errorf("'tls-ca' takes one PEM file")
		}
		pool, err := xotls.LoadCAs(path(ca[0]))
		if err != nil {
			return nil, fmt.Errorf("tls-ca: %v", err)
		}
		c.CAs = pool
		n := opts["tls-name"]
		if len(n) != 1 {
			return nil, fmt.Errorf("'tls-ca' needs 'tls-name NAME': the name the primary's certificate must have")
		}
	}
	if n, ok := opts["tls-name"]; ok {
		if len(n) != 1 {
			return nil, fmt.Errorf("'tls-name' takes one name")
		}
		c.Name = strings.TrimSuffix(n[0], ".")
	}
	if cf, ok := opts["tls-cert"]; ok {
		if len(cf) != 2 {
			return nil, fmt.Errorf("'tls-cert' takes the certificate and key files (PEM): tls-cert CERT KEY")
		}
		cert, err := tls.LoadX509KeyPair(path(cf[0]), path(cf[1]))
		if err != nil {
			return nil, fmt.Errorf("tls-cert: %v", err)
		}
		c.Cert = &cert
	}
	return c, nil
}

// checkTLSListener refuses a server block with a tls:// address and no TLS
// configuration (no xot directive): CoreDNS would serve plain TCP there.
func checkTLSListener(keys []string, hasTLS bool) error {
	for _, k := range keys {
		if strings.HasPrefix(k, transport.TLS+"://") && !hasTLS {
			return fmt.Errorf("%s has no TLS configuration and would serve DNS over plain TCP: add the 'xot' directive to the server block", k)
		}
	}
	return nil
}
