// Package status is dnspki's read-only status page: zones and views with
// their serials, the secondaries' acknowledged serials, DNSSEC keys and
// rollovers, managed certificates, TLSA records and pending challenges, and
// a timeline (server-rendered SVG) of every scheduled event of the next 90
// days. It assembles what each plugin reports about itself (their Status
// functions) and re-derives no rule. `dnspki status` reads it.
package status

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"strings"
	"time"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/plugin"
	clog "github.com/coredns/coredns/plugin/pkg/log"
	"github.com/dnspki/dnspki/plugin/pkg/corefile"
	"github.com/dnspki/dnspki/plugin/pkg/localapi"
)

const pluginName = "status"

var log = clog.NewWithPlugin(pluginName)

func init() { plugin.Register(pluginName, setup) }

// DefaultAddr is where the page listens when the directive names no
// address, and where `dnspki status` reads it by default.
const DefaultAddr = "127.0.0.1:8054"

// DefaultHorizon is how far ahead the timeline looks.
const DefaultHorizon = 90 * 24 * time.Hour

// config is one status directive.
type config struct {
	addr     string
	where    string // FILE:LINE of the directive
	certFile string // tls: "" for plain HTTP (loopback only)
	keyFile  string
	allow    []netip.Prefix // nil: every client that reaches the listener
	horizon  time.Duration
}

func setup(c *caddy.Controller) error {
	cfg, err := parse(c)
	if err != nil {
		return plugin.Error(pluginName, err)
	}
	c.OnStartup(func() error { return start(cfg) })
	c.OnShutdown(func() error { stop(cfg.addr); return nil })
	return nil
}

// parse reads
//
//	status [ADDRESS] {
//	    tls CERT KEY
//	    allow PREFIX...
//	    horizon DURATION
//	}
func parse(c *caddy.Controller) (*config, error) {
	var cfg *config
	for c.Next() {
		if cfg != nil {
			return nil, c.Errf("status is configured once per server block (first at %s)", cfg.where)
		}
		cfg = &config{addr: DefaultAddr, horizon: DefaultHorizon, where: fmt.Sprintf("%s:%d", c.File(), c.Line())}
		args := c.RemainingArgs()
		switch len(args) {
		case 0:
		case 1:
			cfg.addr = args[0]
		default:
			return nil, c.Errf("status takes one address (HOST:PORT), got %d values", len(args))
		}
		line := c.Line()
		if err := checkAddr(cfg.addr); err != nil {
			return nil, c.Errf("%v", err)
		}
		for c.NextBlock() {
			switch v := c.Val(); v {
			case "tls":
				a := c.RemainingArgs()
				if len(a) != 2 {
					return nil, c.Errf("tls CERT KEY: the certificate chain and its private key (PEM files)")
				}
				cfg.certFile, cfg.keyFile = fixPath(c, a[0]), fixPath(c, a[1])
				if _, err := tls.LoadX509KeyPair(cfg.certFile, cfg.keyFile); err != nil {
					return nil, c.Errf("tls: %v", err)
				}
			case "allow":
				a := c.RemainingArgs()
				if len(a) == 0 {
					return nil, c.Errf("allow PREFIX...: the addresses or networks that may read the page")
				}
				for _, s := range a {
					p, err := parsePrefix(s)
					if err != nil {
						return nil, c.Errf("allow %q: %v", s, err)
					}
					cfg.allow = append(cfg.allow, p)
				}
			case "horizon":
				a := c.RemainingArgs()
				if len(a) != 1 {
					return nil, c.Errf("horizon DURATION: how far ahead the timeline looks (e.g. 90d)")
				}
				d, err := parseDays(a[0])
				if err != nil || d < time.Hour || d > 3*366*24*time.Hour {
					return nil, c.Errf("horizon %q: want a duration from 1h to 1096d, e.g. 90d", a[0])
				}
				cfg.horizon = d
			default:
				return nil, c.Errf("unknown option %q (want tls, allow or horizon)", v)
			}
		}
		if !loopback(cfg.addr) {
			if cfg.certFile == "" {
				return nil, corefile.Errorf(c.File(), line, "status on %s: not a loopback address, so the page needs 'tls CERT KEY' (it would cross the network in clear)", cfg.addr)
			}
			if len(cfg.allow) == 0 {
				return nil, corefile.Errorf(c.File(), line, "status on %s: not a loopback address, so the page needs 'allow PREFIX...' (the networks that may read it)", cfg.addr)
			}
		}
	}
	return cfg, nil
}

// checkAddr accepts HOST:PORT with an IP address or localhost as HOST.
func checkAddr(addr string) error {
	host, err := localapi.SplitAddr(addr)
	if err != nil {
		return err
	}
	if host == "localhost" {
		return nil
	}
	if _, err := netip.ParseAddr(host); err != nil {
		return fmt.Errorf("address %q: want an IP address (or localhost) and a port", addr)
	}
	return nil
}

// loopback reports whether a checked address listens on loopback only.
func loopback(addr string) bool {
	host, _, _ := net.SplitHostPort(addr)
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		return p.Masked(), nil
	}
	ip, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(ip.Unmap(), ip.Unmap().BitLen()), nil
}

// parseDays is time.ParseDuration with a "d" (days) unit too.
func parseDays(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		var days int
		if _, err := fmt.Sscanf(n, "%d", &days); err != nil || fmt.Sprint(days) != n {
			return 0, fmt.Errorf("bad day count %q", n)
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	return time.ParseDuration(s)
}

// fixPath joins a relative path to the server block's root (the root
// plugin), as the other plugins read their files.
func fixPath(c *caddy.Controller, p string) string {
	if root := dnsserver.GetConfig(c).Root; root != "" && !filepath.IsAbs(p) {
		return filepath.Join(root, p)
	}
	return p
}
