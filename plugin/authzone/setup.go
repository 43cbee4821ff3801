package authzone

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/plugin"
	clog "github.com/coredns/coredns/plugin/pkg/log"
	"github.com/coredns/coredns/plugin/transfer"

	"github.com/dnspki/dnspki/plugin/pkg/zonemodel"
)

const pluginName = "authzone"

var log = clog.NewWithPlugin(pluginName)

func init() { plugin.Register(pluginName, setup) }

type registryKey struct{}

// Registry returns the zone registry of the configuration being loaded by c:
// the zones authzone serves and the bindings other plugins asked for.
func Registry(c *caddy.Controller) *zonemodel.Registry {
	if r, ok := c.Get(registryKey{}).(*zonemodel.Registry); ok {
		return r
	}
	r := zonemodel.NewRegistry()
	c.Set(registryKey{}, r)
	return r
}

// Bind asks, from another plugin's setup, to take part in the zone origin
// (see zonemodel.Binding). Startup fails with a clear error if no authzone of
// this configuration serves origin.
func Bind(c *caddy.Controller, origin string, b zonemodel.Binding) {
	reg := Registry(c)
	reg.Bind(origin, b)
	origin = zonemodel.Fqdn(origin)
	file, line := c.File(), c.Line()
	c.OnStartup(func() error {
		if reg.Zone(origin) == nil {
			return fmt.Errorf("%s:%d - plugin/%s: zone %s is not served by any authzone of this configuration", file, line, b.Plugin, origin)
		}
		return nil
	})
}

// fileSpec is one zone file of a zone: the base file (all views) or a file
// overriding it in some views.
type fileSpec struct {
	path  string
	views []string
	line  int
}

type zoneSpec struct {
	origin string
	files  []fileSpec
	cfg    zonemodel.Config
	reload time.Duration
}

func setup(c *caddy.Controller) error {
	specs, err := parse(c)
	if err != nil {
		return err
	}
	reg := Registry(c)
	a := &AuthZone{zones: map[string]*zoneState{}}
	for _, sp := range specs {
		z := zonemodel.New(sp.cfg)
		if err := reg.Add(z); err != nil {
			return c.Errf("%v", err)
		}
		zs := &zoneState{zone: z, spec: sp, notifyCh: make(chan struct{}, 1), done: make(chan struct{})}
		a.zones[z.Origin] = zs
		a.origins = append(a.origins, z.Origin)
		// Load the files now: a broken zone file stops startup with its file
		// and line before anything listens.
		for _, f := range sp.files {
			zd, err := zonemodel.ReadZoneFile(f.path, z.Origin)
			if err != nil {
				return c.Errf("zone %s: %v", z.Origin, err)
			}
			for _, w := range zd.Warnings {
				log.Warningf("zone %s: %s", z.Origin, w)
			}
			name := sourceName(f)
			src, err := z.AddSource(name, zonemodel.SourceOptions{Views: f.views, Base: len(f.views) == 0, Override: len(f.views) > 0})
			if err != nil {
				return c.Errf("%v", err)
			}
			if err := src.SetInitial(nil, zd.RRs); err != nil {
				return c.Errf("%v", err)
			}
			zs.files = append(zs.files, &watchedFile{spec: f, src: src, sig: fileSig(f.path)})
		}
	}

	cfg := dnsserver.GetConfig(c)
	c.OnStartup(func() error {
		if t, ok := cfg.Handler("transfer").(*transfer.Transfer); ok {
			a.xfer = t
		}
		return nil
	})
	for _, zs := range a.zones {
		zs := zs
		c.OnStartup(func() error { return a.start(c, reg, zs) })
		c.OnShutdown(func() error { zs.stop(); return nil })
	}
	cfg.AddPlugin(func(next plugin.Handler) plugin.Handler {
		a.Next = next
		return a
	})
	return nil
}

func sourceName(f fileSpec) string {
	if len(f.views) == 0 {
		return "file"
	}
	return "file:" + strings.Join(f.views, ",")
}

func parse(c *caddy.Controller) ([]*zoneSpec, error) {
	var specs []*zoneSpec
	for c.Next() {
		args := c.RemainingArgs()
		origins := plugin.OriginsFromArgsOrServerBlock(args, c.ServerBlockKeys)
		if len(origins) != 1 {
			return nil, c.Errf("authzone serves one zone per directive; got %d (%s): repeat the directive for each zone", len(origins), strings.Join(origins, " "))
		}
		sp := &zoneSpec{
			origin: zonemodel.Fqdn(origins[0]),
			cfg:    zonemodel.Config{Origin: origins[0], StateDir: "state"},
			reload: 5 * time.Second,
		}
		sp.cfg.Logf = func(f string, a ...any) { log.Infof(f, a...) }
		for c.NextBlock() {
			switch c.Val() {
			case "file":
				fa := c.RemainingArgs()
				if len(fa) == 0 {
					return nil, c.ArgErr()
				}
				f := fileSpec{path: fa[0], line: c.Line()}
				if len(fa) > 1 {
					if fa[1] != "view" || len(fa) < 3 {
						return nil, c.Errf("file %s: expected 'view NAME...' after the path, got %q", fa[0], strings.Join(fa[1:], " "))
					}
					f.views = fa[2:]
				}
				if !filepath.IsAbs(f.path) && cfgRoot(c) != "" {
					f.path = filepath.Join(cfgRoot(c), f.path)
				}
				sp.files = append(sp.files, f)
			case "views":
				v := c.RemainingArgs()
				if len(v) == 0 {
					return nil, c.ArgErr()
				}
				seen := map[string]bool{}
				for _, n := range v {
					if seen[n] {
						return nil, c.Errf("view %q listed twice", n)
					}
					seen[n] = true
				}
				sp.cfg.Views = v
			case "state":
				if !c.NextArg() {
					return nil, c.ArgErr()
				}
				sp.cfg.StateDir = c.Val()
			case "serial":
				if !c.NextArg() {
					return nil, c.ArgErr()
				}
				switch c.Val() {
				case "increment":
					sp.cfg.Serial = zonemodel.SerialIncrement
				case "unixtime":
					sp.cfg.Serial = zonemodel.SerialUnixTime
				default:
					return nil, c.Errf("serial policy %q: want increment or unixtime", c.Val())
				}
			case "journal":
				ja := c.RemainingArgs()
				if len(ja) == 0 || len(ja) > 2 {
					return nil, c.ArgErr()
				}
				n, err := strconv.Atoi(ja[0])
				if err != nil || n < 1 {
					return nil, c.Errf("journal entries %q: want a positive integer", ja[0])
				}
				sp.cfg.JournalMaxEntries = n
				if len(ja) == 2 {
					b, err := parseSize(ja[1])
					if err != nil {
						return nil, c.Errf("journal size %q: %v", ja[1], err)
					}
					sp.cfg.JournalMaxBytes = b
				}
			case "reload":
				if !c.NextArg() {
					return nil, c.ArgErr()
				}
				d, err := time.ParseDuration(c.Val())
				if err != nil || d < 0 {
					return nil, c.Errf("reload interval %q: want a duration such as 5s (0 disables polling)", c.Val())
				}
				sp.reload = d
			default:
				return nil, c.Errf("unknown property %q", c.Val())
			}
		}
		if len(sp.files) == 0 {
			return nil, c.Errf("zone %s: no 'file' given", sp.origin)
		}
		base := 0
		for _, f := range sp.files {
			if len(f.views) == 0 {
				base++
			}
			for _, v := range f.views {
				if !contains(viewsOf(sp.cfg), v) {
					return nil, c.Errf("file %s: view %q is not declared (views: %s)", f.path, v, strings.Join(viewsOf(sp.cfg), " "))
				}
			}
		}
		if base != 1 {
			return nil, c.Errf("zone %s: exactly one zone file without 'view' (the base, with the SOA) is needed; got %d", sp.origin, base)
		}
		specs = append(specs, sp)
	}
	return specs, nil
}

func viewsOf(cfg zonemodel.Config) []string {
	if len(cfg.Views) == 0 {
		return []string{zonemodel.DefaultView}
	}
	return cfg.Views
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// cfgRoot is the root directory set by the root plugin, if any.
func cfgRoot(c *caddy.Controller) string {
	return dnsserver.GetConfig(c).Root
}

func parseSize(s string) (int, error) {
	mult := 1
	u := strings.ToUpper(s)
	for _, suf := range []struct {
		s string
		m int
	}{{"KB", 1 << 10}, {"MB", 1 << 20}, {"GB", 1 << 30}, {"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}} {
		if strings.HasSuffix(u, suf.s) {
			mult = suf.m
			u = strings.TrimSuffix(u, suf.s)
			break
		}
	}
	n, err := strconv.Atoi(u)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("want a size such as 64MB")
	}
	return n * mult, nil
}
