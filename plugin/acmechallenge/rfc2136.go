package acmechallenge

import (
	"fmt"
	"sort"

	"github.com/miekg/dns"

	"github.com/dnspki/dnspki/plugin/pkg/grants"
	"github.com/dnspki/dnspki/plugin/pkg/zonemodel"
)

// This file is RFC 2136 (DNS UPDATE) §3.2 and §3.4: checking the
// prerequisite and update sections of a request and turning the update
// section into changes. The zone section (§3.1) is checked by the handler.

// rdataEmpty reports whether an RR of a received message had no RDATA.
// Messages are unpacked from the wire, so Rdlength is what the client sent.
func rdataEmpty(rr dns.RR) bool { return rr.Header().Rdlength == 0 }

// isMeta reports whether t is a meta or query type that never names data
// (RFC 6895 §3.1: OPT, TSIG, TKEY, IXFR, AXFR, MAILA, MAILB, ANY, ...).
func isMeta(t uint16) bool {
	return t == dns.TypeOPT || (t >= 128 && t <= 255) || t == dns.TypeNone
}

// prescan checks the update section (RFC 2136 §3.4.1) and returns its
// changes. A *Refusal carries FORMERR or NOTZONE.
func prescan(origin string, updates []dns.RR) ([]op, *Refusal) {
	ops := make([]op, 0, len(updates))
	for _, rr := range updates {
		h := rr.Header()
		name := zonemodel.Fqdn(h.Name)
		if !zonemodel.InZone(name, origin) {
			return nil, &Refusal{Rcode: dns.RcodeNotZone, Reason: "notzone", Msg: fmt.Sprintf("%s is outside zone %s", h.Name, origin)}
		}
		t := h.Rrtype
		switch h.Class {
		case dns.ClassINET:
			if isMeta(t) {
				return nil, formErr("update adds a record of meta type %s at %s", dns.TypeToString[t], h.Name)
			}
			if rdataEmpty(rr) {
				return nil, formErr("update adds %s/%s without data", h.Name, dns.TypeToString[t])
			}
			ops = append(ops, op{Change: grants.Change{Op: grants.Add, Name: name, Type: t, RR: rr}})
		case dns.ClassANY:
			if h.Ttl != 0 || !rdataEmpty(rr) || (isMeta(t) && t != dns.TypeANY) {
				return nil, formErr("malformed delete (class ANY) of %s/%s: TTL and RDATA must be empty", h.Name, dns.TypeToString[t])
			}
			if t == dns.TypeANY {
				ops = append(ops, op{Change: grants.Change{Op: grants.DeleteName, Name: name}})
			} else {
				ops = append(ops, op{Change: grants.Change{Op: grants.DeleteRRset, Name: name, Type: t}})
			}
		case dns.ClassNONE:
			if h.Ttl != 0 || isMeta(t) {
				return nil, formErr("malformed delete (class NONE) of %s/%s: TTL must be 0, no meta type", h.Name, dns.TypeToString[t])
			}
			if rdataEmpty(rr) {
				return nil, formErr("delete (class NONE) of %s/%s without data", h.Name, dns.TypeToString[t])
			}
			ops = append(ops, op{Change: grants.Change{Op: grants.Delete, Name: name, Type: t, RR: rr}})
		default:
			return nil, formErr("update record %s/%s has class %s", h.Name, dns.TypeToString[t], dns.ClassToString[h.Class])
		}
	}
	return ops, nil
}

func formErr(format string, a ...any) *Refusal {
	return &Refusal{Rcode: dns.RcodeFormatError, Reason: "formerr", Msg: fmt.Sprintf(format, a...)}
}

// checkPrereqFormat checks the prerequisite section's form (RFC 2136 §3.2.1
// to §3.2.3: TTL 0, names in the zone, classes and RDATA as the kind needs).
func checkPrereqFormat(origin string, prereqs []dns.RR) *Refusal {
	for _, rr := range prereqs {
		h := rr.Header()
		if h.Ttl != 0 {
			return formErr("prerequisite %s/%s has TTL %d (must be 0)", h.Name, dns.TypeToString[h.Rrtype], h.Ttl)
		}
		if !zonemodel.InZone(zonemodel.Fqdn(h.Name), origin) {
			return &Refusal{Rcode: dns.RcodeNotZone, Reason: "notzone", Msg: fmt.Sprintf("prerequisite %s is outside zone %s", h.Name, origin)}
		}
		switch h.Class {
		case dns.ClassANY, dns.ClassNONE:
			if !rdataEmpty(rr) {
				return formErr("prerequisite %s/%s of class %s has data", h.Name, dns.TypeToString[h.Rrtype], dns.ClassToString[h.Class])
			}
		case dns.ClassINET:
			if isMeta(h.Rrtype) || rdataEmpty(rr) {
				return formErr("value-dependent prerequisite %s/%s is malformed", h.Name, dns.TypeToString[h.Rrtype])
			}
		default:
			return formErr("prerequisite %s/%s has class %s", h.Name, dns.TypeToString[h.Rrtype], dns.ClassToString[h.Class])
		}
	}
	return nil
}

// prereqsGranted refuses prerequisites about names the identity may not
// change (any type). RFC 2136 lets a prerequisite name anything in the zone,
// but its answer (NXDOMAIN, YXDOMAIN, NXRRSET, YXRRSET) tells whether a name
// or an RRset exists: an existence oracle for every name of the view,
// internal ones included, to anyone holding any key. Clients ask about
// their own names only, so only those are allowed; any other is REFUSED
// like a change that is not granted, whether the name exists or not.
func prereqsGranted(p *grants.Policy, identity string, prereqs []dns.RR) *Refusal {
	for _, rr := range prereqs {
		if len(p.Types(identity, rr.Header().Name)) == 0 {
			return refuse("not_granted", "%s may not change %s, so it may not ask about it in a prerequisite", identity, grants.Canonical(rr.Header().Name))
		}
	}
	return nil
}

// checkPrereqs evaluates the prerequisites (RFC 2136 §3.2) against a served
// snapshot. It returns nil when all hold, else the rcode of the first that
// does not (NXDOMAIN, YXDOMAIN, NXRRSET, YXRRSET).
func checkPrereqs(s *zonemodel.Snapshot, prereqs []dns.RR) *Refusal {
	exists := func(name string) bool {
		n := s.Node(name)
		return n != nil && !n.Empty()
	}
	rrset := func(name string, t uint16) []dns.RR {
		if set := s.Get(name, t); set != nil {
			return set.RRs
		}
		return nil
	}
	type key struct {
		name string
		t    uint16
	}
	valued := map[key][]dns.RR{}
	var order []key
	for _, rr := range prereqs {
		h := rr.Header()
		name := zonemodel.Fqdn(h.Name)
		t := h.Rrtype
		what := fmt.Sprintf("%s/%s", name, dns.TypeToString[t])
		switch h.Class {
		case dns.ClassANY:
			if t == dns.TypeANY {
				if !exists(name) {
					return prereqFail(dns.RcodeNameError, "prerequisite: name %s is not in use", name)
				}
			} else if len(rrset(name, t)) == 0 {
				return prereqFail(dns.RcodeNXRrset, "prerequisite: RRset %s does not exist", what)
			}
		case dns.ClassNONE:
			if t == dns.TypeANY {
				if exists(name) {
					return prereqFail(dns.RcodeYXDomain, "prerequisite: name %s is in use", name)
				}
			} else if len(rrset(name, t)) > 0 {
				return prereqFail(dns.RcodeYXRrset, "prerequisite: RRset %s exists", what)
			}
		case dns.ClassINET:
			k := key{name, t}
			if _, ok := valued[k]; !ok {
				order = append(order, k)
			}
			valued[k] = append(valued[k], rr)
		}
	}
	sort.SliceStable(order, func(i, j int) bool { return order[i].name < order[j].name })
	for _, k := range order {
		if !sameRdata(rrset(k.name, k.t), valued[k]) {
			return prereqFail(dns.RcodeNXRrset, "prerequisite: RRset %s/%s does not have exactly the given records", k.name, dns.TypeToString[k.t])
		}
	}
	return nil
}

func prereqFail(rcode int, format string, a ...any) *Refusal {
	return &Refusal{Rcode: rcode, Reason: "prerequisite", Msg: fmt.Sprintf(format, a...)}
}

// sameRdata reports whether two sets hold the same records, ignoring TTL,
// class and duplicates.
func sameRdata(zoneSet, want []dns.RR) bool {
	if len(zoneSet) == 0 {
		return false
	}
	has := func(set []dns.RR, rr dns.RR) bool {
		for _, x := range set {
			if dns.IsDuplicate(x, rr) {
				return true
			}
		}
		return false
	}
	for _, rr := range want {
		c := dns.Copy(rr)
		c.Header().Class = dns.ClassINET
		if !has(zoneSet, c) {
			return false
		}
	}
	for _, rr := range zoneSet {
		found := false
		for _, w := range want {
			c := dns.Copy(w)
			c.Header().Class = dns.ClassINET
			if dns.IsDuplicate(rr, c) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}
