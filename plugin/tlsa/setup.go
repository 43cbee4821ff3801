package tlsa

import (
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/plugin"
	"github.com/miekg/dns"

	"github.com/dnspki/dnspki/plugin/authzone"
	"github.com/dnspki/dnspki/plugin/pkg/corefile"
	"github.com/dnspki/dnspki/plugin/pkg/zonemodel"
)

func init() { plugin.Register(pluginName, setup) }

type managersKey struct{}

// configManagers are the managers of one configuration, by zone origin, and
// which zone has which certificate id.
type configManagers struct {
	zones map[string]*Manager
	ids   map[string]string
}

func managersOf(c *caddy.Controller) *configManagers {
	if cm, ok := c.Get(managersKey{}).(*configManagers); ok {
		return cm
	}
	cm := &configManagers{zones: map[string]*Manager{}, ids: map[string]string{}}
	c.Set(managersKey{}, cm)
	return cm
}

// ForZone returns the manager of a zone in the configuration being loaded
// by c, creating it (bound to the zone's authzone) if needed. Other plugins
// (an ACME client) use it at setup to publish the TLSA records of the
// certificates they manage: Add at setup, Stage, Ready and WaitReady at run
// time.
func ForZone(c *caddy.Controller, origin string) *Manager {
	cm := managersOf(c)
	origin = zonemodel.Fqdn(origin)
	if m := cm.zones[origin]; m != nil {
		return m
	}
	m := newManager(origin)
	cm.zones[origin] = m
	authzone.Bind(c, origin, zonemodel.Binding{
		Plugin:  pluginName,
		Attach:  m.attach,
		Started: m.start,
	})
	c.OnShutdown(func() error { m.stop(); return nil })
	return m
}

// AddCert configures a certificate in the configuration being loaded (an id
// is unique across the configuration's zones).
func AddCert(c *caddy.Controller, origin string, cfg CertConfig) error {
	cm := managersOf(c)
	origin = zonemodel.Fqdn(origin)
	if z, dup := cm.ids[cfg.ID]; dup {
		return fmt.Errorf("certificate id %q is already used in zone %s (ids are unique in a configuration)", cfg.ID, z)
	}
	if err := ForZone(c, origin).Add(cfg); err != nil {
		return err
	}
	cm.ids[cfg.ID] = origin
	return nil
}

func setup(c *caddy.Controller) error {
	blocks, err := parse(c)
	if err != nil {
		return err
	}
	for _, b := range blocks {
		// A second tlsa block for the same zone adds to the first.
		m := ForZone(c, b.origin)
		if b.reread >= 0 {
			m.reread = b.reread
		}
		if b.http != "" {
			if m.httpAddr != "" && m.httpAddr != b.http {
				return c.Errf("zone %s: two readiness endpoints (%s, %s)", b.origin, m.httpAddr, b.http)
			}
			m.httpAddr = b.http
		}
		for _, cc := range b.certs {
			if err := AddCert(c, b.origin, cc.cfg); err != nil {
				return corefile.Errorf(c.File(), cc.line, "%v", err)
			}
		}
	}
	return nil
}

type certLine struct {
	cfg  CertConfig
	line int
}

type block struct {
	origin string
	certs  []certLine
	reread time.Duration
	http   string
}

func parse(c *caddy.Controller) ([]*block, error) {
	var out []*block
	for c.Next() {
		args := c.RemainingArgs()
		origins := plugin.OriginsFromArgsOrServerBlock(args, c.ServerBlockKeys)
		if len(origins) != 1 {
			return nil, c.Errf("tlsa publishes into one zone per directive; got %d (%s)", len(origins), strings.Join(origins, " "))
		}
		b := &block{origin: zonemodel.Fqdn(origins[0]), reread: -1}
		var ttl uint32
		var hold time.Duration
		for c.NextBlock() {
			switch corefile.Option(c, pluginName) {
			case "cert":
				cl, err := parseCert(c, b.origin)
				if err != nil {
					return nil, err
				}
				b.certs = append(b.certs, cl)
			case "ttl":
				t, err := parseTTL(c)
				if err != nil {
					return nil, err
				}
				ttl = t
			case "hold-down":
				h, err := parseDuration(c, "hold-down")
				if err != nil {
					return nil, err
				}
				hold = h
			case "reread":
				d, err := parseDuration(c, "re-read interval")
				if err != nil {
					return nil, err
				}
				b.reread = d
			case "http":
				a := c.RemainingArgs()
				switch len(a) {
				case 0:
					b.http = DefaultHTTPAddr
				case 1:
					b.http = a[0]
				default:
					return nil, c.ArgErr()
				}
				if err := checkLoopback(b.http); err != nil {
					return nil, c.Errf("http: %v", err)
				}
			default:
				return nil, c.Errf("unknown property %q", c.Val())
			}
		}
		if len(b.certs) == 0 {
			return nil, c.Errf("zone %s: no 'cert' given", b.origin)
		}
		for i := range b.certs {
			cfg := &b.certs[i].cfg
			if cfg.TTL == 0 {
				cfg.TTL = ttl
			}
			if cfg.HoldDown == 0 {
				cfg.HoldDown = hold
			}
			if err := cfg.Validate(b.origin); err != nil {
				return nil, corefile.Errorf(c.File(), b.certs[i].line, "%v", err)
			}
		}
		out = append(out, b)
	}
	return out, nil
}

// parseCert reads `cert ID PATH { ... }`.
func parseCert(c *caddy.Controller, origin string) (certLine, error) {
	cl := certLine{line: c.Line()}
	a := c.RemainingArgs()
	if len(a) != 2 {
		return cl, c.Errf("cert ID PATH: want an id and the certificate file or folder, got %q", strings.Join(a, " "))
	}
	cfg := &cl.cfg
	cfg.ID, cfg.Path = a[0], fixPath(c, a[1])
	if !c.NextArg() {
		return cl, c.Errf("cert %s: a block with at least 'service' or 'name' must follow", cfg.ID)
	}
	if c.Val() != "{" {
		return cl, c.Errf("cert %s: unexpected %q", cfg.ID, c.Val())
	}
	for c.Next() {
		if c.Val() == "}" {
			return cl, nil
		}
		prop := corefile.Option(c, pluginName)
		args := c.RemainingArgs()
		if ok, err := RecordOption(c, prop, args, func(n string) string { return absName(n, origin) }, cfg); ok {
			if err != nil {
				return cl, err
			}
			continue
		}
		switch prop {
		case "key":
			if len(args) != 1 {
				return cl, c.ArgErr()
			}
			cfg.Key = args[0]
			if cfg.Key != "none" {
				cfg.Key = fixPath(c, cfg.Key)
			}
		case "next":
			if len(args) == 0 {
				return cl, c.ArgErr()
			}
			cfg.Next = []string{}
			for _, n := range args {
				if n == "none" {
					continue
				}
				cfg.Next = append(cfg.Next, fixPath(c, n))
			}
		case "layout":
			if len(args) != 1 {
				return cl, c.ArgErr()
			}
			if err := checkLayout(args[0]); err != nil {
				return cl, c.Errf("%v", err)
			}
			cfg.Layout = args[0]
		default:
			return cl, c.Errf("cert %s: unknown property %q", cfg.ID, c.Val())
		}
	}
	return cl, c.Errf("cert %s: block not closed", cfg.ID)
}

// absName makes a host name absolute: NAME. is absolute, @ is the zone, a
// name that ends in the zone's name is taken as absolute, anything else is
// relative to the zone.
func absName(n, origin string) string {
	if n == "@" {
		return origin
	}
	if dns.IsFqdn(n) {
		return strings.ToLower(n)
	}
	l := strings.ToLower(n)
	o := strings.TrimSuffix(origin, ".")
	if l == o || strings.HasSuffix(l, "."+o) {
		return l + "."
	}
	return l + "." + origin
}

func fixPath(c *caddy.Controller, p string) string {
	if root := dnsserver.GetConfig(c).Root; root != "" && !filepath.IsAbs(p) {
		return filepath.Join(root, p)
	}
	return p
}

func parseTTL(c *caddy.Controller) (uint32, error) {
	t, err := ttlOf(c.RemainingArgs())
	if err != nil {
		return 0, c.Errf("ttl: %v", err)
	}
	return t, nil
}

func parseDuration(c *caddy.Controller, what string) (time.Duration, error) {
	a := c.RemainingArgs()
	if len(a) != 1 {
		return 0, c.ArgErr()
	}
	d, err := time.ParseDuration(a[0])
	if err != nil || d < 0 {
		return 0, c.Errf("%s %q: want a duration such as 30s or 2h", what, a[0])
	}
	return d, nil
}
