package rrl

import (
	"strings"

	"github.com/miekg/dns"
)

// Category is the kind of an answer; each has its own rate and its own
// buckets (in the spirit of BIND's and Knot's RRL).
type Category uint8

const (
	// Answer: NOERROR with records in the answer section; one bucket per
	// query name (the wildcard's name for a signed wildcard answer) and type.
	Answer Category = iota
	// NoData: NOERROR, nothing in the answer, not a referral; one bucket per
	// zone, so that asking many names or types does not multiply the rate.
	NoData
	// NXDomain: NXDOMAIN, or a compact denial (RFC 9824: NOERROR whose NSEC
	// lists NXNAME); one bucket per zone, so that random names (a
	// random-subdomain flood) share it.
	NXDomain
	// Referral: NOERROR, no answer, NS records in the authority section, not
	// authoritative; one bucket per delegation.
	Referral
	// Error: every other rcode (SERVFAIL, REFUSED, FORMERR, NOTIMP, ...);
	// one bucket per client network, whatever the name.
	Error
	nCategories
)

var categoryNames = [nCategories]string{Answer: "answer", NoData: "nodata", NXDomain: "nxdomain", Referral: "referral", Error: "error"}

func (c Category) String() string { return categoryNames[c] }

// classify returns the category of m, the answer to r, and the name and
// type its bucket is kept under ("" and 0 when the category has one bucket
// per network).
func classify(r, m *dns.Msg) (Category, string, uint16) {
	var qname string
	var qtype uint16
	if len(r.Question) > 0 {
		qname, qtype = r.Question[0].Name, r.Question[0].Qtype
	}
	switch m.Rcode {
	case dns.RcodeSuccess:
	case dns.RcodeNameError:
		return NXDomain, zoneOf(m, qname), 0
	default:
		return Error, "", 0
	}
	if len(m.Answer) > 0 {
		return Answer, wildcardOf(m, qname), qtype
	}
	if deleg := referralOf(m); deleg != "" {
		return Referral, deleg, 0
	}
	if compactNX(m) {
		return NXDomain, zoneOf(m, qname), 0
	}
	return NoData, zoneOf(m, qname), 0
}

// zoneOf is the owner of the SOA record in m's authority section (the
// zone that denies), else qname.
func zoneOf(m *dns.Msg, qname string) string {
	for _, rr := range m.Ns {
		if rr.Header().Rrtype == dns.TypeSOA {
			return rr.Header().Name
		}
	}
	return qname
}

// referralOf is the delegation's name when m is a referral.
func referralOf(m *dns.Msg) string {
	if m.Authoritative {
		return ""
	}
	for _, rr := range m.Ns {
		if rr.Header().Rrtype == dns.TypeNS {
			return rr.Header().Name
		}
	}
	return ""
}

// compactNX: RFC 9824 compact denial of a name that does not exist.
func compactNX(m *dns.Msg) bool {
	for _, rr := range m.Ns {
		if n, ok := rr.(*dns.NSEC); ok {
			for _, t := range n.TypeBitMap {
				if t == dns.TypeNXNAME {
					return true
				}
			}
		}
	}
	return false
}

// wildcardOf is the wildcard that produced the answer for qname, when its
// signature says so (an RRSIG whose label count is below the owner's: RFC
// 4035 §5.3.4), so that random names below one wildcard share a bucket;
// else qname. (An unsigned answer does not tell.)
func wildcardOf(m *dns.Msg, qname string) string {
	for _, rr := range m.Answer {
		sig, ok := rr.(*dns.RRSIG)
		if !ok || !strings.EqualFold(sig.Hdr.Name, qname) {
			continue
		}
		labels := dns.SplitDomainName(qname)
		if n := int(sig.Labels); n < len(labels) {
			return "*." + dns.Fqdn(strings.Join(labels[len(labels)-n:], "."))
		}
		return qname
	}
	return qname
}
