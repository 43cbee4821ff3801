package authzone

import (
	"fmt"
	"slices"
	"strings"

	"github.com/coredns/caddy"
	"github.com/miekg/dns"

	"github.com/dnspki/dnspki/plugin/pkg/corefile"
	"github.com/dnspki/dnspki/plugin/pkg/zonemodel"
)

// The Corefile lines of catalog zones (RFC 9432):
//
//	catalog produce [ZONE...]   this zone is a catalog dnspki writes: of the
//	                            listed zones, or of every other zone of the
//	                            configuration (catalogs excluded)
//	group ZONE GROUP...         group properties of a member (producer)
//	coo ZONE CATALOG            change of ownership of a member (producer)
//	catalog consume             this secondary zone is a catalog: dnspki
//	                            serves every member it lists
//	member [group GROUP] PROPERTY ARGS...
//	                            a line of every member zone's configuration
//	                            (consumer): primary, transfer, notify,
//	                            allow-notify, journal, serial; with group,
//	                            of the members with that group property

type catalogSpec struct {
	produce bool
	members []string            // producer: explicit members (nil: every other zone)
	groups  map[string][]string // producer: member -> groups
	coo     map[string]string   // producer: member -> new catalog
	consume bool
	member  *zoneSpec // consumer: the template of member zones
	// consumer: the templates of members with a group property (a member
	// gets the template of its first group that has one, else member's).
	groupTemplates map[string]*zoneSpec
	line           int
}

func (sp *zoneSpec) catalogSpec() *catalogSpec {
	if sp.cat == nil {
		sp.cat = &catalogSpec{groups: map[string][]string{}, coo: map[string]string{}}
	}
	return sp.cat
}

// memberProperties are the lines a member template may have.
var memberProperties = []string{"primary", "transfer", "notify", "allow-notify", "journal", "serial"}

// memberTarget: on a 'member PROPERTY ...' line, moves the controller to
// PROPERTY and returns the template spec it configures; on any other line
// returns sp.
func memberTarget(c *caddy.Controller, sp *zoneSpec) (*zoneSpec, error) {
	if c.Val() != "member" {
		return sp, nil
	}
	if !c.NextArg() {
		return nil, c.Errf("member: want 'member [group GROUP] PROPERTY ARGS...' (one of: %s)", strings.Join(memberProperties, ", "))
	}
	cs := sp.catalogSpec()
	group := ""
	if c.Val() == "group" {
		if !c.NextArg() {
			return nil, c.Errf("member group: want 'member group GROUP PROPERTY ARGS...'")
		}
		group = c.Val()
		if !c.NextArg() {
			return nil, c.Errf("member group %s: want a PROPERTY after the group", group)
		}
	}
	if !slices.Contains(memberProperties, c.Val()) {
		return nil, c.Errf("member %s: a member zone's template takes %s", c.Val(), strings.Join(memberProperties, ", "))
	}
	fresh := func() *zoneSpec { return &zoneSpec{cfg: sp.cfg, reload: sp.reload} }
	if group == "" {
		if cs.member == nil {
			cs.member = fresh()
		}
		return cs.member, nil
	}
	if cs.groupTemplates == nil {
		cs.groupTemplates = map[string]*zoneSpec{}
	}
	if cs.groupTemplates[group] == nil {
		cs.groupTemplates[group] = fresh()
	}
	return cs.groupTemplates[group], nil
}

// parseCatalogLine parses the catalog lines of a zone block; ok is false for
// a line that is not one of them.
func parseCatalogLine(c *caddy.Controller, sp *zoneSpec) (ok bool, err error) {
	switch c.Val() {
	case "catalog":
		args := c.RemainingArgs()
		cs := sp.catalogSpec()
		if cs.produce || cs.consume {
			return true, c.Errf("catalog: given twice")
		}
		cs.line = c.Line()
		switch {
		case len(args) >= 1 && args[0] == "produce":
			cs.produce = true
			for _, z := range args[1:] {
				if _, ok := dns.IsDomainName(z); !ok {
					return true, c.Errf("catalog produce: %q is not a zone name", z)
				}
				cs.members = append(cs.members, zonemodel.Fqdn(z))
			}
		case len(args) == 1 && args[0] == "consume":
			cs.consume = true
		default:
			return true, c.Errf("catalog: want 'catalog produce [ZONE...]' or 'catalog consume'")
		}
	case "group":
		args := c.RemainingArgs()
		if len(args) < 2 {
			return true, c.Errf("group: want 'group ZONE GROUP...'")
		}
		cs := sp.catalogSpec()
		z := zonemodel.Fqdn(args[0])
		for _, g := range args[1:] {
			if len(g) > 255 {
				return true, c.Errf("group %s: a group name is at most 255 octets", args[0])
			}
			if !slices.Contains(cs.groups[z], g) {
				cs.groups[z] = append(cs.groups[z], g)
			}
		}
	case "coo":
		args := c.RemainingArgs()
		if len(args) != 2 {
			return true, c.Errf("coo: want 'coo ZONE CATALOG' (the catalog the member moves to)")
		}
		if _, ok := dns.IsDomainName(args[1]); !ok {
			return true, c.Errf("coo: %q is not a zone name", args[1])
		}
		sp.catalogSpec().coo[zonemodel.Fqdn(args[0])] = zonemodel.Fqdn(args[1])
	default:
		return false, nil
	}
	return true, nil
}

// checkCatalog checks a zone block's catalog lines once the block is read
// (base: the number of base zone files).
func checkCatalog(c *caddy.Controller, sp *zoneSpec, base int) error {
	cs := sp.cat
	if cs == nil {
		return nil
	}
	errf := func(f string, a ...any) error {
		return corefile.Errorf(c.File(), cs.line, "zone %s: %s", sp.origin, fmt.Sprintf(f, a...))
	}
	switch {
	case !cs.produce && !cs.consume:
		return errf("'group', 'coo' and 'member' lines need 'catalog produce' or 'catalog consume'")
	case cs.produce && (len(sp.primaries) > 0 || base > 0):
		return errf("'catalog produce': dnspki writes this zone; it has no 'file' or 'primary'")
	case cs.produce && (cs.member != nil || cs.groupTemplates != nil):
		return errf("'member' lines are for 'catalog consume'")
	case cs.consume && len(sp.primaries) == 0:
		return errf("'catalog consume' follows a catalog from a primary: add 'primary ADDRESS [key NAME]'")
	case cs.consume && (len(cs.groups) > 0 || len(cs.coo) > 0):
		return errf("'group' and 'coo' are properties a producer writes ('catalog produce')")
	case len(sp.cfg.Views) > 0:
		return errf("a catalog zone has one view")
	}
	for _, t := range append([]*zoneSpec{cs.member}, mapsValues(cs.groupTemplates)...) {
		if t == nil {
			continue
		}
		for _, e := range t.transfers {
			if e.view != "" {
				return errf("member transfer: a member zone has one view; remove 'view %s'", e.view)
			}
		}
		for _, p := range t.notifies {
			if p.View != "" {
				return errf("member notify: a member zone has one view; remove 'view %s'", p.View)
			}
		}
	}
	for z := range cs.groups {
		if cs.members != nil && !slices.Contains(cs.members, z) {
			return errf("group %s: not a member of this catalog (catalog produce %s)", z, strings.Join(cs.members, " "))
		}
	}
	for z := range cs.coo {
		if cs.members != nil && !slices.Contains(cs.members, z) {
			return errf("coo %s: not a member of this catalog (catalog produce %s)", z, strings.Join(cs.members, " "))
		}
	}
	return nil
}

func mapsValues(m map[string]*zoneSpec) []*zoneSpec {
	out := make([]*zoneSpec, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}
