package authzone

import (
	"fmt"
	"slices"
	"sort"

	"github.com/coredns/caddy"

	"github.com/dnspki/dnspki/plugin/pkg/zonemodel"
)

// catalogSource is the base source of a catalog zone dnspki produces.
const catalogSource = "catalog"

type catalogsKey struct{}

// catalogZones is the set of catalog zones (produced or consumed) of the
// configuration being loaded by c: they are never members of a catalog.
func catalogZones(c *caddy.Controller) map[string]bool {
	if m, ok := c.Get(catalogsKey{}).(map[string]bool); ok {
		return m
	}
	m := map[string]bool{}
	c.Set(catalogsKey{}, m)
	return m
}

// buildCatalog sets up a zone's catalog lines: a produced catalog gets its
// base source, whose content is computed when every zone of the
// configuration is known (Attach, before the zone opens); a consumed one
// gets its consumer.
func (a *AuthZone) buildCatalog(c *caddy.Controller, reg *zonemodel.Registry, zs *zoneState) error {
	cs := zs.spec.cat
	if cs == nil {
		return nil
	}
	origin := zs.zone.Origin
	cats := catalogZones(c)
	cats[origin] = true
	if cs.consume {
		return a.buildConsumer(c, reg, zs)
	}
	// Static: the catalog is computed afresh from the Corefile at every
	// start and reload; the model journals the difference and notifies.
	src, err := zs.zone.AddSource(catalogSource, zonemodel.SourceOptions{Base: true})
	if err != nil {
		return c.Errf("%v", err)
	}
	file, line := c.File(), cs.line
	reg.Bind(origin, zonemodel.Binding{Plugin: pluginName, Attach: func(z *zonemodel.Zone) error {
		members, err := producedMembers(reg, cats, origin, cs)
		if err != nil {
			return startupError(file, line, pluginName, "zone %s: %v", origin, err)
		}
		log.Infof("catalog %s: %d member zones", origin, len(members))
		return src.SetInitial(nil, catalogRecords(origin, members))
	}})
	return nil
}

// producedMembers lists the members of a produced catalog: the zones its
// 'catalog produce' line names, or every zone of the configuration that is
// not a catalog, with their group and coo properties.
func producedMembers(reg *zonemodel.Registry, cats map[string]bool, origin string, cs *catalogSpec) ([]catalogMember, error) {
	var zones []string
	if cs.members != nil {
		for _, z := range cs.members {
			if reg.Zone(z) == nil {
				return nil, fmt.Errorf("catalog produce: %s is not served by any authzone of this configuration", z)
			}
			if cats[z] {
				return nil, fmt.Errorf("catalog produce: %s is a catalog zone, not a member", z)
			}
			zones = append(zones, z)
		}
	} else {
		for _, z := range reg.Zones() {
			if !cats[z.Origin] {
				zones = append(zones, z.Origin)
			}
		}
	}
	sort.Strings(zones)
	zones = slices.Compact(zones)
	for z := range cs.groups {
		if !slices.Contains(zones, z) {
			return nil, fmt.Errorf("group %s: not a member of catalog %s", z, origin)
		}
	}
	for z := range cs.coo {
		if !slices.Contains(zones, z) {
			return nil, fmt.Errorf("coo %s: not a member of catalog %s", z, origin)
		}
	}
	out := make([]catalogMember, 0, len(zones))
	for _, z := range zones {
		out = append(out, catalogMember{Zone: z, ID: catalogMemberID(z), Groups: cs.groups[z], Coo: cs.coo[z]})
	}
	return out, nil
}
