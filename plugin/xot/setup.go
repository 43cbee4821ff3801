// Package xot is the dnspki directive that makes a server block's tls://
// listeners serve DNS over TLS for zone transfers (RFC 9103, XoT): it sets
// the block's TLS configuration (TLS 1.3, ALPN "dot", the certificate, or
// one generated into the state directory on first start; mutual TLS with
// a client CA or pinned client keys) and tells the plugins after it which
// requests came over TLS (plugin/pkg/xotls.State), for authzone's
// 'transfer to ... tls' rules. CoreDNS's own tls plugin is not in this
// build; without this directive a tls:// listener would speak plain TCP,
// so authzone refuses to start in such a block.
package xot

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/dnspki/dnspki/plugin/pkg/metric"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/plugin"
	clog "github.com/coredns/coredns/plugin/pkg/log"
	"github.com/coredns/coredns/plugin/pkg/transport"
	"github.com/miekg/dns"

	"github.com/dnspki/dnspki/plugin/pkg/loglimit"
	"github.com/dnspki/dnspki/plugin/pkg/xotls"
)

const pluginName = "xot"

var log = clog.NewWithPlugin(pluginName)

var refusedTotal = metric.CounterVec("xot_refused_total", "TLS clients refused by an XoT listener during the handshake, per reason (alpn, certificate).", "reason")

func init() { plugin.Register(pluginName, setup) }

// config is what the Corefile says.
type config struct {
	certFile, keyFile string
	clients           xotls.Auth
	clientCAFile      []byte // the client-ca file's content, for fingerprint
	state             string
}

// Server blocks that share a tls:// listener (two zones on one port) must
// have one TLS policy: CoreDNS compares certificates and client CAs, and
// accepts the per-connection callbacks only from configurations that carry
// the same identity. Blocks whose xot configurations are the same (the
// certificate, the client CA, the pinned client keys) share one.
var identities = struct {
	sync.Mutex
	m map[string]*dnsserver.TLSConfigIdentity
}{m: map[string]*dnsserver.TLSConfigIdentity{}}

func identityFor(fp string) *dnsserver.TLSConfigIdentity {
	identities.Lock()
	defer identities.Unlock()
	id := identities.m[fp]
	if id == nil {
		id = dnsserver.NewTLSConfigIdentity()
		identities.m[fp] = id
	}
	return id
}

// fingerprint identifies the TLS policy of a configuration.
func fingerprint(cert tls.Certificate, cfg *config) string {
	h := sha256.New()
	for _, der := range cert.Certificate {
		fmt.Fprintf(h, "cert %d:", len(der))
		h.Write(der)
	}
	fmt.Fprintf(h, "ca %d:", len(cfg.clientCAFile))
	h.Write(cfg.clientCAFile)
	pins := slices.Clone(cfg.clients.Pins)
	slices.Sort(pins)
	fmt.Fprintf(h, "pins %q", pins)
	return hex.EncodeToString(h.Sum(nil))
}

func setup(c *caddy.Controller) error {
	cfg, err := parse(c)
	if err != nil {
		return err
	}
	if !hasTLSKey(c.ServerBlockKeys) {
		return c.Errf("xot: the server block has no tls:// address (for example tls://example.test:853)")
	}
	srv := &xotls.Server{Clients: cfg.clients, Refused: refused}
	if cfg.certFile != "" {
		srv.Cert, err = tls.LoadX509KeyPair(cfg.certFile, cfg.keyFile)
		if err != nil {
			return c.Errf("xot: certificate %s, key %s: %v", cfg.certFile, cfg.keyFile, err)
		}
	} else {
		cert, path, created, err := xotls.SelfSigned(filepath.Join(cfg.state, "tls"), blockNames(c.ServerBlockKeys))
		if err != nil {
			return c.Errf("xot: self-signed certificate: %v", err)
		}
		srv.Cert = cert
		pin, _ := xotls.LeafPin(cert)
		if created {
			log.Infof("generated a self-signed certificate for XoT: %s (SPKI pin %s)", path, pin)
		} else {
			log.Infof("XoT certificate %s (self-signed, SPKI pin %s)", path, pin)
		}
	}
	dcfg := dnsserver.GetConfig(c)
	if dcfg.TLSConfig != nil {
		return c.Errf("xot: the server block already has a TLS configuration")
	}
	dcfg.TLSConfig = srv.Config()
	dcfg.SetTLSConfigIdentity(identityFor(fingerprint(srv.Cert, cfg)))
	log.Infof("XoT on %s: TLS 1.3, ALPN %q, clients %s", strings.Join(tlsKeys(c.ServerBlockKeys), " "), xotls.ALPN, clientProfile(cfg.clients))
	dcfg.AddPlugin(func(next plugin.Handler) plugin.Handler { return &handler{next: next} })
	return nil
}

func clientProfile(a xotls.Auth) string {
	if !a.Strict() {
		return "not authenticated (any client; transfer rules decide)"
	}
	return "must present a certificate: " + a.Describe() + " (mutual TLS)"
}

// refused logs (within the refusal log budget) and counts a TLS client
// refused during the handshake: its address and why.
func refused(peer net.Addr, reason error) {
	kind := "certificate"
	if strings.Contains(reason.Error(), "ALPN") {
		kind = "alpn"
	}
	refusedTotal.WithLabelValues(kind).Inc()
	if loglimit.Refusals.Allow() {
		log.Warningf("refused TLS client %s: %v%s", peer, reason, loglimit.Refusals.Suppressed())
	}
}

func parse(c *caddy.Controller) (*config, error) {
	var cfg *config
	for c.Next() {
		if cfg != nil {
			return nil, c.Err("xot is configured once per server block")
		}
		cfg = &config{state: "state"}
		if len(c.RemainingArgs()) > 0 {
			return nil, c.ArgErr()
		}
		for c.NextBlock() {
			prop := c.Val()
			args := c.RemainingArgs()
			switch prop {
			case "cert":
				if len(args) != 2 {
					return nil, c.Errf("cert: want 'cert CERT_FILE KEY_FILE' (PEM)")
				}
				cfg.certFile, cfg.keyFile = rooted(c, args[0]), rooted(c, args[1])
			case "client-ca":
				if len(args) != 1 {
					return nil, c.Errf("client-ca: want one PEM file")
				}
				path := rooted(c, args[0])
				pool, err := xotls.LoadCAs(path)
				if err != nil {
					return nil, c.Errf("client-ca: %v", err)
				}
				cfg.clients.CAs = pool
				cfg.clientCAFile, _ = os.ReadFile(path)
			case "client-spki":
				if len(args) == 0 {
					return nil, c.Errf("client-spki: want one or more SPKI pins (base64 SHA-256; 'dnspki spki CERT' prints one)")
				}
				for _, a := range args {
					p, err := xotls.ParsePin(a)
					if err != nil {
						return nil, c.Errf("client-spki: %v", err)
					}
					cfg.clients.Pins = append(cfg.clients.Pins, p)
				}
			case "state":
				if len(args) != 1 {
					return nil, c.ArgErr()
				}
				cfg.state = args[0]
			default:
				return nil, c.Errf("unknown property %q", prop)
			}
		}
	}
	return cfg, nil
}

// rooted resolves a relative path against the root plugin's directory.
func rooted(c *caddy.Controller, p string) string {
	if root := dnsserver.GetConfig(c).Root; root != "" && !filepath.IsAbs(p) {
		return filepath.Join(root, p)
	}
	return p
}

func tlsKeys(keys []string) []string {
	var out []string
	for _, k := range keys {
		if strings.HasPrefix(k, transport.TLS+"://") {
			out = append(out, k)
		}
	}
	return out
}

func hasTLSKey(keys []string) bool { return len(tlsKeys(keys)) > 0 }

// blockNames are the zone names of the block's tls:// keys, for the
// self-signed certificate.
func blockNames(keys []string) []string {
	var out []string
	for _, k := range tlsKeys(keys) {
		host := strings.TrimPrefix(k, transport.TLS+"://")
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		host = strings.TrimSuffix(host, ".")
		if host != "" && dns.IsFqdn(dns.Fqdn(host)) && net.ParseIP(host) == nil {
			out = append(out, host)
		}
	}
	return out
}

// handler records the TLS state of requests that came over TLS.
type handler struct{ next plugin.Handler }

func (h *handler) Name() string { return pluginName }

func (h *handler) ServeDNS(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
	if cs, ok := w.(dns.ConnectionStater); ok {
		if st := cs.ConnectionState(); st != nil {
			ctx = xotls.WithState(ctx, st)
		}
	}
	return plugin.NextOrFailure(pluginName, h.next, ctx, w, r)
}
