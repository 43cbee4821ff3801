package authzone

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/miekg/dns"

	"github.com/dnspki/dnspki/plugin/pkg/zonemodel"
)

// The format of a catalog zone (RFC 9432, schema version 2): what a
// producer writes and what a consumer accepts. Both directions live here so
// that the rule for each record is written once.

// catalogVersion is the only catalog schema version dnspki produces and
// consumes (RFC 9432 §4.2.1).
const catalogVersion = "2"

// catalogMember is one member zone of a catalog with its properties.
type catalogMember struct {
	Zone   string   // the member's origin, lowercase, fully qualified
	ID     string   // its unique ID (the label under zones.<catalog>)
	Groups []string // group properties (RFC 9432 §4.4.2)
	Coo    string   // change of ownership: the catalog it may move to (§4.4.1), "" if none
}

// catalogMemberID is the unique ID dnspki gives a member zone: the first 8
// octets of SHA-256 over the member's name in canonical wire form (lowercase),
// in hex. It depends on nothing but the name, so every producer and every
// restart or reload gives a zone the same ID, and two names never share one in
// practice (64 bits).
func catalogMemberID(zone string) string {
	buf := make([]byte, 256)
	n, err := dns.PackDomainName(strings.ToLower(dns.Fqdn(zone)), buf, 0, nil, false)
	if err != nil {
		// Not a valid name: hash the text (such a zone never gets this far).
		n, buf = len(zone), []byte(zone)
	}
	sum := sha256.Sum256(buf[:n])
	return hex.EncodeToString(sum[:8])
}

// catalogSOA is the SOA of a catalog zone: the RFC 9432 §4.1 example's
// invalid names; serial 1 (the model owns the served serial), TTL 0.
func catalogSOA(origin string) dns.RR {
	return &dns.SOA{Hdr: dns.RR_Header{Name: origin, Rrtype: dns.TypeSOA, Class: dns.ClassINET},
		Ns: "invalid.", Mbox: "invalid.", Serial: 1, Refresh: 3600, Retry: 600, Expire: 2147483646, Minttl: 0}
}

// catalogRecords renders a catalog zone listing members (sorted by zone).
func catalogRecords(origin string, members []catalogMember) []dns.RR {
	origin = zonemodel.Fqdn(origin)
	hdr := func(name string, t uint16) dns.RR_Header {
		return dns.RR_Header{Name: name, Rrtype: t, Class: dns.ClassINET, Ttl: 0}
	}
	rrs := []dns.RR{
		catalogSOA(origin),
		&dns.NS{Hdr: hdr(origin, dns.TypeNS), Ns: "invalid."},
		&dns.TXT{Hdr: hdr("version."+origin, dns.TypeTXT), Txt: []string{catalogVersion}},
	}
	for _, m := range members {
		node := m.ID + ".zones." + origin
		rrs = append(rrs, &dns.PTR{Hdr: hdr(node, dns.TypePTR), Ptr: m.Zone})
		for _, g := range m.Groups {
			rrs = append(rrs, &dns.TXT{Hdr: hdr("group."+node, dns.TypeTXT), Txt: []string{g}})
		}
		if m.Coo != "" {
			rrs = append(rrs, &dns.PTR{Hdr: hdr("coo."+node, dns.TypePTR), Ptr: m.Coo})
		}
	}
	return rrs
}

// parsedCatalog is what a consumer takes from a catalog zone.
type parsedCatalog struct {
	Members []catalogMember // the members it accepts, sorted by zone
	Refused []string        // each member (or property) it ignores, and why
}

// parseCatalog reads the records of a catalog zone (an AXFR, a snapshot):
// untrusted input. A catalog without the version property, or with a
// version other than "2", is not processed at all (RFC 9432 §4.2.1, §5: the
// caller keeps the members it has). Otherwise each member is judged on its
// own and a bad one is refused without touching the others:
//   - a member node with more than one PTR, or a PTR that is not a valid
//     zone name (or names the catalog itself or a name inside it);
//   - a member zone listed under more than one unique ID (§4.1): the ID held
//     (held(zone), the ID a consumer already serves it under) is kept if
//     it is among them, else the member is refused until the catalog lists
//     it once;
//   - a bad property (a coo with more than one PTR, a group that is not
//     one string) is ignored, the member is kept.
func parseCatalog(origin string, rrs []dns.RR, held func(zone string) string) (*parsedCatalog, error) {
	origin = zonemodel.Fqdn(origin)
	version, nodes := catalogNodes(origin, rrs)
	switch {
	case len(version) == 0:
		return nil, fmt.Errorf("catalog %s: no version property (TXT at version.%s): not processed", origin, origin)
	case len(version) > 1:
		return nil, fmt.Errorf("catalog %s: %d version TXT records: not processed", origin, len(version))
	case version[0] != catalogVersion:
		return nil, fmt.Errorf("catalog %s: unsupported schema version %q (want %q): not processed", origin, version[0], catalogVersion)
	}
	out := &parsedCatalog{}
	refuse := func(f string, a ...any) { out.Refused = append(out.Refused, fmt.Sprintf(f, a...)) }
	byZone := catalogMembersByZone(origin, nodes, refuse)
	zones := make([]string, 0, len(byZone))
	for z := range byZone {
		zones = append(zones, z)
	}
	sort.Strings(zones)
	for _, z := range zones {
		if m, ok := oneCatalogMember(z, byZone[z], held, refuse); ok {
			out.Members = append(out.Members, m)
		}
	}
	return out, nil
}

// catalogNode is what a catalog lists under one member ID.
type catalogNode struct {
	ptrs   []string
	groups []string
	coo    []string
	badGrp int // group properties that are not one string
}

// catalogNodes collects the version property and, per member ID, the
// records of a catalog origin; other records are not ours to interpret.
func catalogNodes(origin string, rrs []dns.RR) (version []string, nodes map[string]*catalogNode) {
	zonesSuffix := "zones." + origin
	nodes = map[string]*catalogNode{}
	get := func(id string) *catalogNode {
		n := nodes[id]
		if n == nil {
			n = &catalogNode{}
			nodes[id] = n
		}
		return n
	}
	for _, rr := range rrs {
		h := rr.Header()
		if h.Class != dns.ClassINET {
			continue
		}
		name := strings.ToLower(h.Name)
		if name == "version."+origin {
			if t, ok := rr.(*dns.TXT); ok {
				version = append(version, strings.Join(t.Txt, "\x00"))
			}
			continue
		}
		if !strings.HasSuffix(name, "."+zonesSuffix) {
			continue // other properties (RFC 9432 §4.3): not ours to interpret
		}
		labels := dns.SplitDomainName(strings.TrimSuffix(name, "."+zonesSuffix))
		switch {
		case len(labels) == 1:
			if p, ok := rr.(*dns.PTR); ok {
				n := get(labels[0])
				n.ptrs = append(n.ptrs, p.Ptr)
			}
		case len(labels) == 2 && labels[0] == "group":
			if t, ok := rr.(*dns.TXT); ok {
				n := get(labels[1])
				if len(t.Txt) == 1 && t.Txt[0] != "" {
					n.groups = append(n.groups, t.Txt[0])
				} else {
					n.badGrp++
				}
			}
		case len(labels) == 2 && labels[0] == "coo":
			if p, ok := rr.(*dns.PTR); ok {
				n := get(labels[1])
				n.coo = append(n.coo, p.Ptr)
			}
		}
	}
	return version, nodes
}

// catalogMembersByZone judges each member ID of a catalog origin on its own
// (in ID order) and groups the members it keeps by zone; refuse is told
// what it ignores.
func catalogMembersByZone(origin string, nodes map[string]*catalogNode, refuse func(string, ...any)) map[string][]catalogMember {
	byZone := map[string][]catalogMember{}
	ids := make([]string, 0, len(nodes))
	for id := range nodes {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		n := nodes[id]
		switch len(n.ptrs) {
		case 0:
			refuse("member ID %s: properties but no PTR: ignored", id)
			continue
		case 1:
		default:
			refuse("member ID %s: %d PTR records (one member per ID): ignored", id, len(n.ptrs))
			continue
		}
		zone := strings.ToLower(n.ptrs[0])
		if _, ok := dns.IsDomainName(zone); !ok || zone == "." || zonemodel.InZone(zone, origin) {
			refuse("member ID %s: %q is not a zone this catalog can list: ignored", id, n.ptrs[0])
			continue
		}
		m := catalogMember{Zone: zone, ID: id, Groups: n.groups}
		slices.Sort(m.Groups)
		if n.badGrp > 0 {
			refuse("member %s (ID %s): %d group properties that are not one string: ignored", zone, id, n.badGrp)
		}
		switch len(n.coo) {
		case 0:
		case 1:
			m.Coo = strings.ToLower(n.coo[0])
		default:
			refuse("member %s (ID %s): %d coo properties: coo ignored", zone, id, len(n.coo))
		}
		byZone[zone] = append(byZone[zone], m)
	}
	return byZone
}

// oneCatalogMember picks the member to keep of zone z listed as ms (§4.1):
// the only one; of several, the one under the ID held (held(z), the ID the
// consumer serves it under), else none until the catalog lists it once.
func oneCatalogMember(z string, ms []catalogMember, held func(zone string) string, refuse func(string, ...any)) (catalogMember, bool) {
	if len(ms) == 1 {
		return ms[0], true
	}
	var idl []string
	keep := -1
	h := ""
	if held != nil {
		h = held(z)
	}
	for i, m := range ms {
		idl = append(idl, m.ID)
		if m.ID == h {
			keep = i
		}
	}
	if keep >= 0 {
		refuse("member %s listed under %d IDs (%s): keeping ID %s, the one it is served under", z, len(ms), strings.Join(idl, " "), h)
		return ms[keep], true
	}
	refuse("member %s listed under %d IDs (%s): ignored until the catalog lists it once", z, len(ms), strings.Join(idl, " "))
	return catalogMember{}, false
}
