package horizon

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/plugin"
	"github.com/miekg/dns"

	"github.com/dnspki/dnspki/plugin/authzone"
	"github.com/dnspki/dnspki/plugin/pkg/corefile"
	"github.com/dnspki/dnspki/plugin/pkg/tsigauth"
	"github.com/dnspki/dnspki/plugin/pkg/zonemodel"
)

const pluginName = "horizon"

func init() { plugin.Register(pluginName, setup) }

func setup(c *caddy.Controller) error {
	h, err := parse(c)
	if err != nil {
		return err
	}
	// The server block's TSIG trust: its gate verifies the keys that
	// select views; they must be keys of this block's dnspki plugins
	// (checked at startup, when every plugin has defined its keys).
	block := tsigauth.ForBlock(c)
	cfg := dnsserver.GetConfig(c)
	// bind (earlier in the plugin order) has set the listen addresses.
	if err := checkListeners(h, cfg.Transport, cfg.ListenHosts); err != nil {
		return c.Err(err.Error())
	}
	names := make([]string, len(h.Views))
	for i, v := range h.Views {
		names[i] = v.Name
	}
	// Every zone of this configuration that declares views must declare
	// these (a zone without views serves its one view to everyone).
	reg := authzone.Registry(c)
	file, line := c.File(), c.Line()
	c.OnStartup(func() error {
		h.traced = cfg.Handler("trace") != nil
		if err := checkKeys(h, block); err != nil {
			return corefile.Errorf(file, line, "%v", err)
		}
		if err := checkNeighbours(cfg.Handler); err != nil {
			return corefile.Errorf(file, line, "%v", err)
		}
		for _, z := range reg.Zones() {
			zv := z.ViewNames()
			if len(zv) == 1 && zv[0] == zonemodel.DefaultView {
				continue
			}
			for _, n := range zv {
				if !slices.Contains(names, n) {
					return corefile.Errorf(file, line, "zone %s has view %q that horizon never selects (horizon views: %s)", z.Origin, n, strings.Join(names, " "))
				}
			}
			for _, n := range names {
				if !slices.Contains(zv, n) {
					return corefile.Errorf(file, line, "horizon view %q is not a view of zone %s (its views: %s); queries of that view would get the zone's default view", n, z.Origin, strings.Join(zv, " "))
				}
			}
		}
		return nil
	})
	cfg.AddPlugin(func(next plugin.Handler) plugin.Handler {
		h.Next = next
		return h
	})
	return nil
}

// checkKeys refuses a key selector naming a key that no dnspki plugin of
// the server block defines: keys are valid in the block that defines them
// (a secret given to the stock tsig plugin, or to another block, never
// selects a view here).
func checkKeys(h *Horizon, b *tsigauth.Block) error {
	for _, v := range h.Views {
		for _, k := range v.Keys {
			if _, ok := b.Ring.Get(k); !ok {
				return fmt.Errorf("view %s selects by key %s, which no dnspki plugin of this server block defines: define it in this block (authzone 'key NAME ALGORITHM SECRET' or 'key-file', or acmechallenge 'key')", v.Name, k)
			}
		}
	}
	return nil
}

// viewUnaware lists the stock plugins of the build that would serve one
// view's data to another view's clients if they shared a server block with
// horizon, and what to do instead. (Every other stock plugin in the build
// keeps no answers and reads no zone data: see README.md.)
var viewUnaware = []struct{ name, why string }{
	{"cache", "caches answers by name and type, not by view, so an answer cached for one view is served to the clients of every other view; dnspki answers from in-memory snapshots already, remove cache from this server block"},
	{"transfer", "serves AXFR/IXFR of the default view to every address its ACL allows, whatever view horizon chose; remove it and use authzone's own 'transfer to ... [key K] [view V]' lines"},
}

// checkNeighbours refuses a server block in which a view-unaware plugin
// sits beside horizon (handler looks a plugin up by name).
func checkNeighbours(handler func(string) plugin.Handler) error {
	for _, p := range viewUnaware {
		if handler(p.name) != nil {
			return fmt.Errorf("the %s plugin cannot share a server block with horizon: it %s", p.name, p.why)
		}
	}
	return nil
}

// checkListeners refuses destination selectors on a wildcard listener of a
// datagram transport: a UDP socket bound to 0.0.0.0 or :: reports that
// address as every query's local address (the real destination is only in
// the packet's control data, which the DNS library keeps to itself), while a
// TCP connection reports the real one. UDP and TCP queries to the same
// address would then get different views. Connection-based transports (TLS,
// HTTPS, gRPC) know their local address.
func checkListeners(h *Horizon, transport string, hosts []string) error {
	if !h.needDst {
		return nil
	}
	switch transport {
	case "tls", "https", "grpc":
		return nil
	}
	var view string
	for _, v := range h.Views {
		if len(v.Destinations) > 0 {
			view = v.Name
			break
		}
	}
	for _, host := range hosts {
		a, err := netip.ParseAddr(host)
		if host == "" || (err == nil && a.IsUnspecified()) {
			return fmt.Errorf("view %s selects by destination, but the server block listens on the wildcard address (no bind, or bind 0.0.0.0 or ::), where the destination of UDP queries is unknown: bind the server to its addresses (e.g. bind 192.0.2.53 203.0.113.53)", view)
		}
	}
	return nil
}

func parse(c *caddy.Controller) (*Horizon, error) {
	h := &Horizon{}
	seen := map[string]bool{}
	for c.Next() {
		if len(h.Views) > 0 {
			return nil, c.Err("horizon is configured once per server block")
		}
		if args := c.RemainingArgs(); len(args) > 0 {
			return nil, c.ArgErr()
		}
		for c.NextBlock() {
			v, err := parseView(c, h, seen)
			if err != nil {
				return nil, err
			}
			v.counter = queries.WithLabelValues(v.Name)
			h.Views = append(h.Views, v)
		}
	}
	if len(h.Views) == 0 {
		return nil, c.Err("horizon needs at least one view")
	}
	for _, v := range h.Views {
		h.needSrc = h.needSrc || len(v.Sources) > 0
		h.needDst = h.needDst || len(v.Destinations) > 0
	}
	return h, nil
}

// parseView reads `view NAME [{ selectors }]`, which must come before the
// default view (seen: the names so far).
func parseView(c *caddy.Controller, h *Horizon, seen map[string]bool) (*View, error) {
	if c.Val() != "view" {
		return nil, c.Errf("unknown property %q (want: view NAME { ... })", c.Val())
	}
	if !c.NextArg() {
		return nil, c.Errf("view needs a name")
	}
	v := &View{Name: c.Val()}
	if seen[v.Name] {
		return nil, c.Errf("view %q defined twice", v.Name)
	}
	seen[v.Name] = true
	if len(h.Views) > 0 {
		if last := h.Views[len(h.Views)-1]; last.isDefault() {
			return nil, c.Errf("view %q comes after the default view %q (a view without selectors matches everything); put the default last", v.Name, last.Name)
		}
	}
	if !c.NextArg() {
		return v, nil
	}
	if c.Val() != "{" {
		return nil, c.Errf("view %s: unexpected %q (want '{' or the end of the line)", v.Name, c.Val())
	}
	// The view's own block, read by hand: caddy's NextBlock does not nest
	// optional blocks.
	for {
		if !c.Next() {
			return nil, c.EOFErr()
		}
		if c.Val() == "}" {
			return v, nil
		}
		if err := parseSelector(c, v); err != nil {
			return nil, err
		}
	}
}

// parseSelector reads one selector line of a view: source, destination or
// key.
func parseSelector(c *caddy.Controller, v *View) error {
	kind := c.Val()
	vals := c.RemainingArgs()
	if len(vals) == 0 {
		return c.ArgErr()
	}
	switch kind {
	case "source", "destination":
		for _, s := range vals {
			p, err := parsePrefix(s)
			if err != nil {
				return c.Errf("view %s: %s %q: %v", v.Name, kind, s, err)
			}
			if kind == "source" {
				v.Sources = append(v.Sources, p)
			} else {
				v.Destinations = append(v.Destinations, p)
			}
		}
	case "key":
		for _, k := range vals {
			if _, ok := dns.IsDomainName(k); !ok {
				return c.Errf("view %s: key %q is not a key name", v.Name, k)
			}
			v.Keys = append(v.Keys, strings.ToLower(dns.Fqdn(k)))
		}
	case "ecs", "subnet":
		return c.Errf("view %s: views are never selected by EDNS Client Subnet (a client could claim any network)", v.Name)
	default:
		return c.Errf("view %s: unknown selector %q (want source, destination or key)", v.Name, kind)
	}
	return nil
}

func (v *View) isDefault() bool {
	return len(v.Sources) == 0 && len(v.Destinations) == 0 && len(v.Keys) == 0
}

func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return p, err
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}
