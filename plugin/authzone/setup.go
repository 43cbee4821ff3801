package authzone

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/plugin"
	clog "github.com/coredns/coredns/plugin/pkg/log"
	"github.com/coredns/coredns/plugin/transfer"
	"github.com/coredns/coredns/plugin/tsig"

	"github.com/dnspki/dnspki/plugin/pkg/size"
	"github.com/dnspki/dnspki/plugin/pkg/tsigauth"
	"github.com/dnspki/dnspki/plugin/pkg/tsigkey"
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

	// Transfers: who may transfer the zone, whom to notify; as a secondary,
	// the primaries and who else may notify.
	transfers   []*aclEntry
	notifies    []*peer
	primaries   []*peer
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
			return fmt.Errorf("%s:%d - plugin/%s: %v", file, line, pluginName, err)
		}
		if err := checkTsigPlugin(a, cfg.Handler("tsig")); err != nil {
			return fmt.Errorf("%s:%d - plugin/%s: %v", file, line, pluginName, err)
		}
		if err := checkTLSListener(keys, cfg.TLSConfig != nil); err != nil {
			return fmt.Errorf("%s:%d - plugin/%s: %v", file, line, pluginName, err)
		}
		if t, ok := cfg.Handler("transfer").(*transfer.Transfer); ok {
			for _, zs := range a.zones {
				if zs.spec.hasXfrConfig() {
					return fmt.Errorf("%s:%d - plugin/%s: zone %s has transfer/notify lines and the server block also has the transfer plugin, which would answer transfers without authzone's ACLs: remove the transfer plugin", file, line, pluginName, zs.zone.Origin)
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
		src, err := z.AddSource(primarySource, zonemodel.SourceOptions{Base: true, Dynamic: true})
		if err != nil {
			return nil, err
		}
		zs.sec = newSecondary(z, src, sp.primaries, sp.allowNotify)
	}
	for _, p := range sp.notifies {
		v := z.View(p.view)
		if p.view == "" {
			views := z.Views()
			v = views[len(views)-1]
		}
		zs.notifiers = append(zs.notifiers, newNotifier(v, p))
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

func parse(c *caddy.Controller, block *tsigauth.Block) ([]*zoneSpec, error) {
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
		// Key references are resolved at the end of the block: a key may be
		// defined after its first use.
		type keyRef struct {
			name string
			line int
			set  func(tsigkey.Key)
		}
		var refs []keyRef
		useKeys := func(names []string, line int, set func(tsigkey.Key)) {
			for _, n := range names {
				refs = append(refs, keyRef{keyName(n), line, set})
			}
		}
		for c.NextBlock() {
			// 'member PROPERTY ...' of a consumed catalog sets PROPERTY in
			// the template of its member zones.
			sp, err := memberTarget(c, sp)
			if err != nil {
				return nil, err
			}
			switch c.Val() {
			case "key":
				ka := c.RemainingArgs()
				if len(ka) != 3 {
					return nil, c.Errf("key: want 'key NAME ALGORITHM SECRET' (for example: key xfr-key. hmac-sha256 c2VjcmV0...)")
				}
				k, err := tsigkey.New(ka[0], ka[1], ka[2])
				if err != nil {
					return nil, c.Errf("%v", err)
				}
				if err := block.AddKey(k, fmt.Sprintf("authzone at %s:%d", c.File(), c.Line())); err != nil {
					return nil, c.Errf("%v", err)
				}
				sp.keys = append(sp.keys, k.Name)
			case "key-file":
				if !c.NextArg() {
					return nil, c.ArgErr()
				}
				path := c.Val()
				if c.NextArg() {
					return nil, c.ArgErr()
				}
				if !filepath.IsAbs(path) && cfgRoot(c) != "" {
					path = filepath.Join(cfgRoot(c), path)
				}
				keys, err := tsigkey.LoadFile(path)
				if err != nil {
					return nil, c.Errf("key-file: %v", err)
				}
				for _, k := range keys {
					if err := block.AddKey(k, fmt.Sprintf("authzone key-file %s at %s:%d", path, c.File(), c.Line())); err != nil {
						return nil, c.Errf("key-file %s: %v", path, err)
					}
					sp.keys = append(sp.keys, k.Name)
				}
			case "transfer":
				ta := c.RemainingArgs()
				if len(ta) < 2 || ta[0] != "to" {
					return nil, c.Errf("transfer: want 'transfer to ADDRESS|PREFIX|*... [key NAME...] [view VIEW] [signed] [tls]'")
				}
				vals, opts, err := splitOptions(ta[1:], "key", "view", "signed", "tls")
				if err != nil {
					return nil, c.Errf("transfer: %v", err)
				}
				nets, err := parseNets(vals)
				if err != nil || len(nets) == 0 {
					return nil, c.Errf("transfer to: want addresses or prefixes (or *): %v", err)
				}
				e := &aclEntry{nets: nets, line: c.Line()}
				if ks, ok := opts["key"]; ok {
					if len(ks) == 0 {
						return nil, c.Errf("transfer: 'key' needs at least one key name")
					}
					for _, k := range ks {
						e.keys = append(e.keys, keyName(k))
					}
					useKeys(ks, c.Line(), func(tsigkey.Key) {})
				}
				if vs, ok := opts["view"]; ok {
					if len(vs) != 1 {
						return nil, c.Errf("transfer: 'view' takes one view name")
					}
					e.view = vs[0]
				}
				if sg, ok := opts["signed"]; ok {
					if len(sg) != 0 {
						return nil, c.Errf("transfer: 'signed' takes no arguments, got %q", strings.Join(sg, " "))
					}
					e.signed = true
				}
				if a, ok := opts["tls"]; ok {
					if len(a) != 0 {
						return nil, c.Errf("transfer: 'tls' takes no arguments, got %q", strings.Join(a, " "))
					}
					e.tls = true
				}
				sp.transfers = append(sp.transfers, e)
			case "notify", "primary":
				what := c.Val()
				na := c.RemainingArgs()
				options := []string{"key"}
				if what == "notify" {
					options = append(options, "view")
				} else {
					options = append(options, tlsOptions...)
				}
				vals, opts, err := splitOptions(na, options...)
				if err != nil {
					return nil, c.Errf("%s: %v", what, err)
				}
				if len(vals) == 0 {
					return nil, c.Errf("%s: want ADDRESS[:PORT]... [key NAME]", what)
				}
				var group []*peer
				for _, a := range vals {
					addr, ip, err := parseHostPort(a)
					if err != nil {
						return nil, c.Errf("%s: %v", what, err)
					}
					group = append(group, &peer{addr: addr, ip: ip, line: c.Line()})
				}
				if ks, ok := opts["key"]; ok {
					if len(ks) != 1 {
						return nil, c.Errf("%s: 'key' takes one key name", what)
					}
					useKeys(ks, c.Line(), func(k tsigkey.Key) {
						for _, p := range group {
							p.key = &k
						}
					})
				}
				if vs, ok := opts["view"]; ok {
					if len(vs) != 1 {
						return nil, c.Errf("notify: 'view' takes one view name")
					}
					for _, p := range group {
						p.view = vs[0]
					}
				}
				if what == "primary" {
					prof, err := parsePeerTLS(opts, func(p string) string {
						if !filepath.IsAbs(p) && cfgRoot(c) != "" {
							return filepath.Join(cfgRoot(c), p)
						}
						return p
					})
					if err != nil {
						return nil, c.Errf("primary: %v", err)
					}
					for _, p := range group {
						p.tls = prof
					}
				}
				if what == "notify" {
					sp.notifies = append(sp.notifies, group...)
				} else {
					sp.primaries = append(sp.primaries, group...)
				}
			case "allow-notify":
				vals, opts, err := splitOptions(c.RemainingArgs(), "key")
				if err != nil {
					return nil, c.Errf("allow-notify: %v", err)
				}
				nets, err := parseNets(vals)
				if err != nil || len(nets) == 0 {
					return nil, c.Errf("allow-notify: want addresses or prefixes (or *): %v", err)
				}
				e := &aclEntry{nets: nets, line: c.Line()}
				if ks, ok := opts["key"]; ok {
					if len(ks) == 0 {
						return nil, c.Errf("allow-notify: 'key' needs at least one key name")
					}
					for _, k := range ks {
						e.keys = append(e.keys, keyName(k))
					}
					useKeys(ks, c.Line(), func(tsigkey.Key) {})
				}
				sp.allowNotify = append(sp.allowNotify, e)
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
			case "zone-digest":
				alg, err := parseZoneDigest(c.RemainingArgs())
				if err != nil {
					return nil, c.Errf("zone-digest: %v", err)
				}
				sp.cfg.Digest = alg
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
				if ok, err := parseCatalogLine(c, sp); ok || err != nil {
					if err != nil {
						return nil, err
					}
					continue
				}
				return nil, c.Errf("unknown property %q", c.Val())
			}
		}
		for _, r := range refs {
			k, ok := block.Ring.Get(r.name)
			if !ok {
				return nil, fmt.Errorf("%s:%d - Error during parsing: zone %s: TSIG key %s is not defined (add 'key %s ALGORITHM SECRET' or 'key-file PATH')", c.File(), r.line, sp.origin, r.name, r.name)
			}
			r.set(k)
			if !contains(sp.keys, k.Name) {
				sp.keys = append(sp.keys, k.Name)
			}
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
		if err := checkCatalog(c, sp, base); err != nil {
			return nil, err
		}
		switch {
		case sp.cat != nil && sp.cat.produce:
			// The catalog is the zone's base source.
		case len(sp.primaries) > 0 && base > 0:
			return nil, c.Errf("zone %s: 'primary' and a base 'file' (without 'view') are exclusive: a zone has one source of its SOA", sp.origin)
		case len(sp.primaries) == 0 && base == 0:
			return nil, c.Errf("zone %s: no 'file' (the base zone file, without 'view') and no 'primary' given", sp.origin)
		case base > 1:
			return nil, c.Errf("zone %s: exactly one zone file without 'view' (the base, with the SOA) is needed; got %d", sp.origin, base)
		}
		if len(sp.allowNotify) > 0 && len(sp.primaries) == 0 {
			return nil, c.Errf("zone %s: 'allow-notify' is for secondary zones (with 'primary')", sp.origin)
		}
		for _, e := range sp.transfers {
			if e.view != "" && !contains(viewsOf(sp.cfg), e.view) {
				return nil, fmt.Errorf("%s:%d - Error during parsing: transfer: view %q is not declared (views: %s)", c.File(), e.line, e.view, strings.Join(viewsOf(sp.cfg), " "))
			}
		}
		for _, p := range sp.notifies {
			if p.view != "" && !contains(viewsOf(sp.cfg), p.view) {
				return nil, fmt.Errorf("%s:%d - Error during parsing: notify: view %q is not declared (views: %s)", c.File(), p.line, p.view, strings.Join(viewsOf(sp.cfg), " "))
			}
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
	n, err := size.Parse(s, 1)
	return int(n), err
}
