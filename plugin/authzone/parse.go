package authzone

import (
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/plugin"

	"github.com/dnspki/dnspki/plugin/pkg/corefile"
	"github.com/dnspki/dnspki/plugin/pkg/size"
	"github.com/dnspki/dnspki/plugin/pkg/tsigauth"
	"github.com/dnspki/dnspki/plugin/pkg/tsigkey"
	"github.com/dnspki/dnspki/plugin/pkg/xfrpeer"
	"github.com/dnspki/dnspki/plugin/pkg/zonemodel"
)

// The Corefile parser of authzone: one directive per zone, one function per
// line of its block (properties), then the checks of the whole block.

// zoneParser reads the block of one authzone directive.
type zoneParser struct {
	c     *caddy.Controller
	block *tsigauth.Block // the server block's TSIG keys
	refs  []keyRef
}

// keyRef is a use of a TSIG key by name. References are resolved at the end
// of the block: a key may be defined after its first use.
type keyRef struct {
	name string
	line int
	set  func(tsigkey.Key)
}

// properties are the lines of a zone block (the catalog lines are parsed by
// parseCatalogLine). Each parses the line the controller is at into sp.
var properties = map[string]func(p *zoneParser, sp *zoneSpec) error{
	"key":          (*zoneParser).key,
	"key-file":     (*zoneParser).keyFile,
	"transfer":     (*zoneParser).transfer,
	"notify":       (*zoneParser).notify,
	"primary":      (*zoneParser).primary,
	"allow-notify": (*zoneParser).allowNotify,
	"file":         (*zoneParser).file,
	"views":        (*zoneParser).views,
	"zone-digest":  (*zoneParser).zoneDigest,
	"state":        (*zoneParser).state,
	"serial":       (*zoneParser).serial,
	"journal":      (*zoneParser).journal,
	"reload":       (*zoneParser).reload,
}

func parse(c *caddy.Controller, block *tsigauth.Block) ([]*zoneSpec, error) {
	var specs []*zoneSpec
	for c.Next() {
		sp, err := parseZone(c, block)
		if err != nil {
			return nil, err
		}
		specs = append(specs, sp)
	}
	return specs, nil
}

// parseZone reads one directive: its zone, the lines of its block, then
// checks the block as a whole.
func parseZone(c *caddy.Controller, block *tsigauth.Block) (*zoneSpec, error) {
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
	p := &zoneParser{c: c, block: block}
	for c.NextBlock() {
		if err := p.line(sp); err != nil {
			return nil, err
		}
	}
	if err := p.resolveKeys(sp); err != nil {
		return nil, err
	}
	if err := checkSources(c, sp); err != nil {
		return nil, err
	}
	if err := checkViews(c, sp); err != nil {
		return nil, err
	}
	return sp, nil
}

// line parses the line the controller is at. 'member PROPERTY ...' of a
// consumed catalog sets PROPERTY in the template of its member zones.
func (p *zoneParser) line(sp *zoneSpec) error {
	target, err := memberTarget(p.c, sp)
	if err != nil {
		return err
	}
	if parse, ok := properties[p.c.Val()]; ok {
		return parse(p, target)
	}
	if ok, err := parseCatalogLine(p.c, target); ok || err != nil {
		return err
	}
	return p.c.Errf("unknown property %q", p.c.Val())
}

// useKeys records that the current line uses the keys names; set is called
// with each once the block is read.
func (p *zoneParser) useKeys(names []string, set func(tsigkey.Key)) {
	for _, n := range names {
		p.refs = append(p.refs, keyRef{keyName(n), p.c.Line(), set})
	}
}

// resolveKeys resolves the key references of the block against the server
// block's keys.
func (p *zoneParser) resolveKeys(sp *zoneSpec) error {
	for _, r := range p.refs {
		k, ok := p.block.Ring.Get(r.name)
		if !ok {
			return corefile.Errorf(p.c.File(), r.line, "zone %s: TSIG key %s is not defined (add 'key %s ALGORITHM SECRET' or 'key-file PATH')", sp.origin, r.name, r.name)
		}
		r.set(k)
		if !slices.Contains(sp.keys, k.Name) {
			sp.keys = append(sp.keys, k.Name)
		}
	}
	return nil
}

// path resolves a relative path against the root plugin's directory.
func (p *zoneParser) path(s string) string {
	if !filepath.IsAbs(s) && cfgRoot(p.c) != "" {
		return filepath.Join(cfgRoot(p.c), s)
	}
	return s
}

// arg reads the one argument of the line.
func (p *zoneParser) arg() (string, error) {
	if !p.c.NextArg() {
		return "", p.c.ArgErr()
	}
	return p.c.Val(), nil
}

// key: key NAME ALGORITHM SECRET
func (p *zoneParser) key(sp *zoneSpec) error {
	c := p.c
	ka := c.RemainingArgs()
	if len(ka) != 3 {
		return c.Errf("key: want 'key NAME ALGORITHM SECRET' (for example: key xfr-key. hmac-sha256 c2VjcmV0...)")
	}
	k, err := tsigkey.New(ka[0], ka[1], ka[2])
	if err != nil {
		return c.Errf("%v", err)
	}
	if err := p.block.AddKey(k, fmt.Sprintf("authzone at %s:%d", c.File(), c.Line())); err != nil {
		return c.Errf("%v", err)
	}
	sp.keys = append(sp.keys, k.Name)
	return nil
}

// keyFile: key-file PATH (BIND's key syntax)
func (p *zoneParser) keyFile(sp *zoneSpec) error {
	c := p.c
	path, err := p.arg()
	if err != nil {
		return err
	}
	if c.NextArg() {
		return c.ArgErr()
	}
	path = p.path(path)
	keys, err := tsigkey.LoadFile(path)
	if err != nil {
		return c.Errf("key-file: %v", err)
	}
	for _, k := range keys {
		if err := p.block.AddKey(k, fmt.Sprintf("authzone key-file %s at %s:%d", path, c.File(), c.Line())); err != nil {
			return c.Errf("key-file %s: %v", path, err)
		}
		sp.keys = append(sp.keys, k.Name)
	}
	return nil
}

// transfer: transfer to ADDRESS|PREFIX|*... [key NAME...] [view VIEW] [signed] [tls]
func (p *zoneParser) transfer(sp *zoneSpec) error {
	c := p.c
	ta := c.RemainingArgs()
	if len(ta) < 2 || ta[0] != "to" {
		return c.Errf("transfer: want 'transfer to ADDRESS|PREFIX|*... [key NAME...] [view VIEW] [signed] [tls]'")
	}
	vals, opts, err := splitOptions(ta[1:], "key", "view", "signed", "tls")
	if err != nil {
		return c.Errf("transfer: %v", err)
	}
	e, err := p.aclEntry("transfer", "transfer to", vals, opts)
	if err != nil {
		return err
	}
	if vs, ok := opts["view"]; ok {
		if len(vs) != 1 {
			return c.Errf("transfer: 'view' takes one view name")
		}
		e.view = vs[0]
	}
	if e.signed, err = p.flag(opts, "transfer", "signed"); err != nil {
		return err
	}
	if e.tls, err = p.flag(opts, "transfer", "tls"); err != nil {
		return err
	}
	sp.transfers = append(sp.transfers, e)
	return nil
}

// allowNotify: allow-notify ADDRESS|PREFIX|*... [key NAME...]
func (p *zoneParser) allowNotify(sp *zoneSpec) error {
	vals, opts, err := splitOptions(p.c.RemainingArgs(), "key")
	if err != nil {
		return p.c.Errf("allow-notify: %v", err)
	}
	e, err := p.aclEntry("allow-notify", "allow-notify", vals, opts)
	if err != nil {
		return err
	}
	sp.allowNotify = append(sp.allowNotify, e)
	return nil
}

// aclEntry makes the ACL entry of a transfer or allow-notify line: its
// addresses (vals) and keys (opts["key"]). what names the line in errors,
// netsWhat its addresses.
func (p *zoneParser) aclEntry(what, netsWhat string, vals []string, opts map[string][]string) (*aclEntry, error) {
	nets, err := parseNets(vals)
	if err != nil || len(nets) == 0 {
		return nil, p.c.Errf("%s: want addresses or prefixes (or *): %v", netsWhat, err)
	}
	e := &aclEntry{nets: nets, line: p.c.Line()}
	if ks, ok := opts["key"]; ok {
		if len(ks) == 0 {
			return nil, p.c.Errf("%s: 'key' needs at least one key name", what)
		}
		for _, k := range ks {
			e.keys = append(e.keys, keyName(k))
		}
		p.useKeys(ks, func(tsigkey.Key) {})
	}
	return e, nil
}

// flag reads option name, which takes no arguments, of a what line.
func (p *zoneParser) flag(opts map[string][]string, what, name string) (bool, error) {
	a, ok := opts[name]
	if !ok {
		return false, nil
	}
	if len(a) != 0 {
		return false, p.c.Errf("%s: '%s' takes no arguments, got %q", what, name, strings.Join(a, " "))
	}
	return true, nil
}

// notify: notify ADDRESS[:PORT]... [key NAME] [view VIEW]
func (p *zoneParser) notify(sp *zoneSpec) error {
	group, opts, err := p.peers("notify", "view")
	if err != nil {
		return err
	}
	if vs, ok := opts["view"]; ok {
		if len(vs) != 1 {
			return p.c.Errf("notify: 'view' takes one view name")
		}
		for _, g := range group {
			g.View = vs[0]
		}
	}
	sp.notifies = append(sp.notifies, group...)
	return nil
}

// primary: primary ADDRESS[:PORT]... [key NAME] [tls ...]
func (p *zoneParser) primary(sp *zoneSpec) error {
	group, opts, err := p.peers("primary", tlsOptions...)
	if err != nil {
		return err
	}
	prof, err := parsePeerTLS(opts, p.path)
	if err != nil {
		return p.c.Errf("primary: %v", err)
	}
	for _, g := range group {
		g.TLS = prof
	}
	sp.primaries = append(sp.primaries, group...)
	return nil
}

// peers reads the peers of a notify or primary line (what) and its key;
// options are the line's other options, returned in opts.
func (p *zoneParser) peers(what string, options ...string) ([]*xfrpeer.Peer, map[string][]string, error) {
	c := p.c
	vals, opts, err := splitOptions(c.RemainingArgs(), append([]string{"key"}, options...)...)
	if err != nil {
		return nil, nil, c.Errf("%s: %v", what, err)
	}
	if len(vals) == 0 {
		return nil, nil, c.Errf("%s: want ADDRESS[:PORT]... [key NAME]", what)
	}
	var group []*xfrpeer.Peer
	for _, a := range vals {
		addr, ip, err := parseHostPort(a)
		if err != nil {
			return nil, nil, c.Errf("%s: %v", what, err)
		}
		group = append(group, &xfrpeer.Peer{Addr: addr, IP: ip, Line: c.Line()})
	}
	if ks, ok := opts["key"]; ok {
		if len(ks) != 1 {
			return nil, nil, c.Errf("%s: 'key' takes one key name", what)
		}
		p.useKeys(ks, func(k tsigkey.Key) {
			for _, g := range group {
				g.Key = &k
			}
		})
	}
	return group, opts, nil
}

// file: file PATH [view NAME...]
func (p *zoneParser) file(sp *zoneSpec) error {
	c := p.c
	fa := c.RemainingArgs()
	if len(fa) == 0 {
		return c.ArgErr()
	}
	f := fileSpec{path: fa[0], line: c.Line()}
	if len(fa) > 1 {
		if fa[1] != "view" || len(fa) < 3 {
			return c.Errf("file %s: expected 'view NAME...' after the path, got %q", fa[0], strings.Join(fa[1:], " "))
		}
		f.views = fa[2:]
	}
	f.path = p.path(f.path)
	sp.files = append(sp.files, f)
	return nil
}

// views: views NAME... (the last is the default view)
func (p *zoneParser) views(sp *zoneSpec) error {
	v := p.c.RemainingArgs()
	if len(v) == 0 {
		return p.c.ArgErr()
	}
	seen := map[string]bool{}
	for _, n := range v {
		if seen[n] {
			return p.c.Errf("view %q listed twice", n)
		}
		seen[n] = true
	}
	sp.cfg.Views = v
	return nil
}

// zoneDigest: zone-digest ALGORITHM
func (p *zoneParser) zoneDigest(sp *zoneSpec) error {
	alg, err := parseZoneDigest(p.c.RemainingArgs())
	if err != nil {
		return p.c.Errf("zone-digest: %v", err)
	}
	sp.cfg.Digest = alg
	return nil
}

// state: state DIR
func (p *zoneParser) state(sp *zoneSpec) error {
	dir, err := p.arg()
	if err != nil {
		return err
	}
	sp.cfg.StateDir = dir
	return nil
}

// serialPolicies are the arguments of 'serial'.
var serialPolicies = map[string]zonemodel.SerialPolicy{
	"increment": zonemodel.SerialIncrement,
	"unixtime":  zonemodel.SerialUnixTime,
}

// serial: serial increment|unixtime
func (p *zoneParser) serial(sp *zoneSpec) error {
	v, err := p.arg()
	if err != nil {
		return err
	}
	pol, ok := serialPolicies[v]
	if !ok {
		return p.c.Errf("serial policy %q: want increment or unixtime", v)
	}
	sp.cfg.Serial = pol
	return nil
}

// journal: journal ENTRIES [SIZE]
func (p *zoneParser) journal(sp *zoneSpec) error {
	c := p.c
	ja := c.RemainingArgs()
	if len(ja) == 0 || len(ja) > 2 {
		return c.ArgErr()
	}
	n, err := strconv.Atoi(ja[0])
	if err != nil || n < 1 {
		return c.Errf("journal entries %q: want a positive integer", ja[0])
	}
	sp.cfg.JournalMaxEntries = n
	if len(ja) == 2 {
		b, err := parseSize(ja[1])
		if err != nil {
			return c.Errf("journal size %q: %v", ja[1], err)
		}
		sp.cfg.JournalMaxBytes = b
	}
	return nil
}

// reload: reload DURATION (0 disables polling the zone files)
func (p *zoneParser) reload(sp *zoneSpec) error {
	v, err := p.arg()
	if err != nil {
		return err
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return p.c.Errf("reload interval %q: want a duration such as 5s (0 disables polling)", v)
	}
	sp.reload = d
	return nil
}

// checkSources checks a zone's sources once its block is read: the views of
// its files, its catalog lines, and that it has exactly one source of its
// SOA (a base file, a primary, or the catalog it produces).
func checkSources(c *caddy.Controller, sp *zoneSpec) error {
	base := 0
	for _, f := range sp.files {
		if len(f.views) == 0 {
			base++
		}
		for _, v := range f.views {
			if !slices.Contains(viewsOf(sp.cfg), v) {
				return c.Errf("file %s: view %q is not declared (views: %s)", f.path, v, strings.Join(viewsOf(sp.cfg), " "))
			}
		}
	}
	if err := checkCatalog(c, sp, base); err != nil {
		return err
	}
	switch {
	case sp.cat != nil && sp.cat.produce:
		// The catalog is the zone's base source.
	case len(sp.primaries) > 0 && base > 0:
		return c.Errf("zone %s: 'primary' and a base 'file' (without 'view') are exclusive: a zone has one source of its SOA", sp.origin)
	case len(sp.primaries) == 0 && base == 0:
		return c.Errf("zone %s: no 'file' (the base zone file, without 'view') and no 'primary' given", sp.origin)
	case base > 1:
		return c.Errf("zone %s: exactly one zone file without 'view' (the base, with the SOA) is needed; got %d", sp.origin, base)
	}
	if len(sp.allowNotify) > 0 && len(sp.primaries) == 0 {
		return c.Errf("zone %s: 'allow-notify' is for secondary zones (with 'primary')", sp.origin)
	}
	return nil
}

// checkViews checks that the views named on transfer and notify lines are
// views of the zone.
func checkViews(c *caddy.Controller, sp *zoneSpec) error {
	views := viewsOf(sp.cfg)
	for _, e := range sp.transfers {
		if e.view != "" && !slices.Contains(views, e.view) {
			return corefile.Errorf(c.File(), e.line, "transfer: view %q is not declared (views: %s)", e.view, strings.Join(views, " "))
		}
	}
	for _, p := range sp.notifies {
		if p.View != "" && !slices.Contains(views, p.View) {
			return corefile.Errorf(c.File(), p.Line, "notify: view %q is not declared (views: %s)", p.View, strings.Join(views, " "))
		}
	}
	return nil
}

// viewsOf lists the views a zone's configuration declares (DefaultView if
// none).
func viewsOf(cfg zonemodel.Config) []string {
	if len(cfg.Views) == 0 {
		return []string{zonemodel.DefaultView}
	}
	return cfg.Views
}

// cfgRoot is the root directory set by the root plugin, if any.
func cfgRoot(c *caddy.Controller) string {
	return dnsserver.GetConfig(c).Root
}

func parseSize(s string) (int, error) {
	n, err := size.Parse(s, 1)
	return int(n), err
}
