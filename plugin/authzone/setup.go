package authzone

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/plugin"
	clog "github.com/coredns/coredns/plugin/pkg/log"
	"github.com/coredns/coredns/plugin/transfer"
	"github.com/coredns/coredns/plugin/tsig"

	"github.com/dnspki/dnspki/plugin/pkg/secondary"
	"github.com/dnspki/dnspki/plugin/pkg/tsigauth"
	"github.com/dnspki/dnspki/plugin/pkg/xfrpeer"
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
			return startupError(file, line, b.Plugin, "zone %s is not served by any authzone of this configuration", origin)
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

	// Transfers: who may transfer the zone, whom to notify; as a secondary,
	// the primaries and who else may notify.
	transfers   []*aclEntry
	notifies    []*xfrpeer.Peer
	primaries   []*xfrpeer.Peer
	allowNotify []*aclEntry
	keys        []string // every key the zone's lines define or use

	cat *catalogSpec // catalog zone (RFC 9432) produced or consumed; nil if none
}

// hasXfrConfig reports whether the zone uses authzone's transfer or notify
// lines (which the stock transfer plugin would bypass).
func (sp *zoneSpec) hasXfrConfig() bool { return len(sp.transfers) > 0 || len(sp.notifies) > 0 }

func setup(c *caddy.Controller) error {
	a, reg, err := build(c)
	if err != nil {
		return err
	}
	cfg := dnsserver.GetConfig(c)
	file, line := c.File(), c.Line()
	keys := c.ServerBlockKeys
	c.OnStartup(func() error {
		if err := checkStockView(a, cfg.ViewName, cfg.Handler("horizon") != nil); err != nil {
			return startupError(file, line, pluginName, "%v", err)
		}
		if err := checkTsigPlugin(a, cfg.Handler("tsig")); err != nil {
			return startupError(file, line, pluginName, "%v", err)
		}
		if err := checkTLSListener(keys, cfg.TLSConfig != nil); err != nil {
			return startupError(file, line, pluginName, "%v", err)
		}
		if t, ok := cfg.Handler("transfer").(*transfer.Transfer); ok {
			for _, zs := range a.zones {
				if zs.spec.hasXfrConfig() {
					return startupError(file, line, pluginName, "zone %s has transfer/notify lines and the server block also has the transfer plugin, which would answer transfers without authzone's ACLs: remove the transfer plugin", zs.zone.Origin)
				}
			}
			a.xfer = t
		}
		return nil
	})
	c.OnStartup(func() error { return a.startAll(reg) })
	for _, zs := range a.zones {
		zs := zs
		c.OnShutdown(func() error { zs.stop(); return nil })
	}
	cfg.AddPlugin(func(next plugin.Handler) plugin.Handler {
		a.Next = next
		return a
	})
	return nil
}

// startupError is an error found when the server starts (once every
// plugin's setup has run) in the directive of plugin at file:line.
func startupError(file string, line int, plugin, format string, args ...any) error {
	return fmt.Errorf("%s:%d - plugin/%s: %s", file, line, plugin, fmt.Sprintf(format, args...))
}

// checkStockView: in a server block with the stock view plugin (view
// named viewName) and no horizon, every zone that declares views must have a
// view of that name; it is the view the block serves. (A zone without views
// serves its one view; with horizon, horizon assigns the views.)
func checkStockView(a *AuthZone, viewName string, horizon bool) error {
	if viewName == "" || horizon {
		return nil
	}
	for _, origin := range a.origins {
		names := a.zones[origin].zone.ViewNames()
		if len(names) == 1 && names[0] == "default" {
			continue
		}
		if !slices.Contains(names, viewName) {
			return fmt.Errorf("the server block's view %q (view plugin) is not a view of zone %s (its views: %s): name the block's view like the zone view it serves", viewName, origin, strings.Join(names, " "))
		}
	}
	return nil
}

// checkTsigPlugin refuses a server block where CoreDNS's tsig plugin (h, the
// block's "tsig" handler or nil) covers a zone whose lines use TSIG keys
// (transfer and notify rules, primaries). That plugin comes first in the
// chain and removes the TSIG record of a request before passing it on, so a
// signed transfer request or NOTIFY would arrive here unsigned and be refused
// ("TSIG key required"), whatever key signed it.
func checkTsigPlugin(a *AuthZone, h plugin.Handler) error {
	t, ok := h.(*tsig.TSIGServer)
	if !ok {
		return nil
	}
	for _, origin := range a.origins {
		zs := a.zones[origin]
		if len(zs.spec.keys) == 0 {
			continue
		}
		if z := plugin.Zones(t.Zones).Matches(origin); z != "" {
			return fmt.Errorf("zone %s uses TSIG keys (%s) and is also covered by the tsig plugin (zone %s) of this server block, which removes the TSIG of a request before authzone can check it: define the keys in authzone only and limit the tsig plugin to other zones, or move those zones to another server block", origin, strings.Join(zs.spec.keys, " "), z)
		}
	}
	return nil
}

// build parses the directive, registers its TSIG keys with the server block
// and makes its zones (not open yet).
func build(c *caddy.Controller) (*AuthZone, *zonemodel.Registry, error) {
	// The server block's TSIG trust: keys are defined (and valid) per
	// server block, and its gate decides who signed each request.
	block := tsigauth.ForBlock(c)
	specs, err := parse(c, block)
	if err != nil {
		return nil, nil, err
	}
	reg := Registry(c)
	a := &AuthZone{zones: map[string]*zoneState{}, block: block, files: newFileWatcher()}
	c.OnShutdown(func() error { a.files.close(); return nil })
	for _, sp := range specs {
		zs, err := newZoneState(sp)
		if err != nil {
			return nil, nil, c.Errf("%v", err)
		}
		z := zs.zone
		if err := reg.Add(z); err != nil {
			return nil, nil, c.Errf("%v", err)
		}
		a.zones[z.Origin] = zs
		a.origins = append(a.origins, z.Origin)
		if err := a.buildCatalog(c, reg, zs); err != nil {
			return nil, nil, err
		}
		// Load the files now: a broken zone file stops startup with its file
		// and line before anything listens. A file unchanged since the
		// zone's store took its records is not parsed again.
		for _, f := range sp.files {
			name := sourceName(f)
			src, err := z.AddSource(name, zonemodel.SourceOptions{Views: f.views, Base: len(f.views) == 0, Override: len(f.views) > 0})
			if err != nil {
				return nil, nil, c.Errf("%v", err)
			}
			zd, err := src.SetInitialFile(nil, f.path, len(f.views) > 0)
			if err != nil {
				return nil, nil, c.Errf("zone %s: %v", z.Origin, err)
			}
			for _, w := range zd.Warnings {
				log.Warningf("zone %s: %s", z.Origin, w)
			}
			zs.files = append(zs.files, &watchedFile{spec: f, src: src, sig: fileSig(f.path)})
		}
	}
	return a, reg, nil
}

// newZoneState makes the model of a zone and what serves it besides its
// files: the primary source and refresh of a secondary, the NOTIFY senders.
func newZoneState(sp *zoneSpec) (*zoneState, error) {
	z := zonemodel.New(sp.cfg)
	zs := &zoneState{zone: z, spec: sp, notifyCh: make(chan struct{}, 1), done: make(chan struct{})}
	zs.ctx, zs.cancel = context.WithCancel(context.Background())
	if len(sp.primaries) > 0 {
		sec, err := secondary.New(z, sp.primaries, allowNotify(sp.allowNotify))
		if err != nil {
			return nil, err
		}
		zs.sec = sec
	}
	for _, p := range sp.notifies {
		// A notify line without 'view' notifies of the default view.
		zs.notifiers = append(zs.notifiers, newNotifier(z.View(p.View), p))
	}
	zs.registerTargets()
	return zs, nil
}

func sourceName(f fileSpec) string {
	if len(f.views) == 0 {
		return "file"
	}
	return "file:" + strings.Join(f.views, ",")
}
