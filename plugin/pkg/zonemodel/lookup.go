package zonemodel

import (
	"github.com/miekg/dns"
)

// Entry is one RRset placed in a section of a response. Owner is set when the
// records are synthesized under another name than the set's own: a wildcard
// expansion (Set.Name is "*.…") or the CNAME synthesized from a DNAME.
type Entry struct {
	Set   *RRset
	Owner string
	// Synth holds records made for this answer only (a CNAME synthesized from a
	// DNAME, RFC 6672 §3.1); Set is nil then and they are never signed.
	Synth []dns.RR
}

// DenialKind says what a Denial proves.
type DenialKind uint8

// Kinds of denial of existence an answer carries.
const (
	// NXDomain: Name does not exist and no wildcard covers it. Closest is its
	// closest encloser.
	NXDomain DenialKind = iota + 1
	// NoData: Name exists (Node) but has no RRset of the asked type (nor a
	// CNAME). Node is an empty non-terminal when it has no sets.
	NoData
	// WildcardAnswer: the answer was synthesized from Node, a wildcard at
	// Closest; the proof needed is that Name itself does not exist.
	WildcardAnswer
	// WildcardNoData: Name does not exist, the wildcard Node covers it but has
	// no RRset of the asked type.
	WildcardNoData
	// Delegation: Node is a zone cut without DS (a referral, or a DS query at
	// the cut); the proof needed is that no DS exists at Name.
	Delegation
)

// Denial describes one proof of non-existence an answer needs when signed.
type Denial struct {
	Kind    DenialKind
	Name    string // lowercase name the proof is about
	QType   uint16
	Node    *Node  // the node whose types a NODATA proof lists (nil for NXDomain)
	Closest string // closest encloser, for NXDomain and wildcard proofs
}

// Response is an answer computed from one snapshot, before it is rendered to
// a message (unsigned by Render, or signed by the zone's signer).
type Response struct {
	Zone          *Snapshot
	Rcode         int
	Authoritative bool
	Answer        []Entry
	Authority     []Entry
	Additional    []Entry
	Denials       []Denial
	// NegSOA is set when the authority section carries the negative SOA.
	NegSOA bool
	// Referral is set when the response is a referral to a child zone.
	Referral bool
}

// Options of a lookup.
type Options struct {
	DO bool // the query had the DNSSEC OK bit
}

const maxChain = 12

// Lookup answers qname/qtype from the snapshot. qname must be at or below the
// origin (any case). The algorithm is RFC 1034 §4.3.2 with RFC 4592 wildcards,
// RFC 6672 DNAME, RFC 6604 rcodes for chains, RFC 8482 for ANY and RFC 9460 additional
// processing for SVCB/HTTPS.
func (s *Snapshot) Lookup(qname string, qtype uint16, o Options) *Response {
	r := &Response{Zone: s, Authoritative: true}
	l := lookup{s: s, r: r, o: o, qtype: qtype}
	l.resolve(lower(qname), 0)
	return r
}

type lookup struct {
	s       *Snapshot
	r       *Response
	o       Options
	qtype   uint16
	visited []string
}

func (l *lookup) resolve(name string, depth int) {
	s, r := l.s, l.r
	if depth > 0 {
		for _, v := range l.visited {
			if v == name {
				return // CNAME loop: answer what we have
			}
		}
	}
	l.visited = append(l.visited, name)
	if !InZone(name, s.Origin) {
		return
	}
	var kb [keyBuf]byte
	k := appendKey(kb[:0], name, s.Origin)

	if s.cuts > 0 || s.dnames > 0 {
		if l.above(name, k, depth) {
			return
		}
	}
	if n := s.tree.get(keyString(k)); n != nil {
		if n.cut && !(l.qtype == dns.TypeDS && depth == 0) {
			l.referral(n, depth)
			return
		}
		l.answerAt(n, name, "", "", depth)
		return
	}
	// Closest encloser and wildcard (RFC 4592 §3.3.1).
	cel := s.encloser(k)
	ce := name
	for e := range keyLabelEnds(k) {
		if e > cel {
			ce = Parent(ce)
		}
	}
	k = append(k[:cel], '*', 0)
	if wc := s.tree.get(keyString(k)); wc != nil {
		l.answerAt(wc, name, name, ce, depth)
		return
	}
	r.Rcode = dns.RcodeNameError
	l.negative()
	r.Denials = append(r.Denials, Denial{Kind: NXDomain, Name: name, QType: l.qtype, Closest: ce})
}

// above handles a zone cut or DNAME at an ancestor of name (key k; strictly
// above it). It reports whether it answered.
func (l *lookup) above(name string, k []byte, depth int) bool {
	s := l.s
	// Walk from the origin down towards name.
	for e := range keyLabelEnds(k) {
		if e == len(k) {
			break
		}
		n := s.tree.get(keyString(k[:e]))
		if n == nil {
			return false
		}
		if n.cut {
			l.referral(n, depth)
			return true
		}
		if s.dnames > 0 {
			if d := n.Get(dns.TypeDNAME); d != nil {
				l.dname(d, name, depth)
				return true
			}
		}
	}
	if s.dnames > 0 && name != s.Origin {
		// DNAME at the apex redirects every name below it.
		if d := s.apex.Get(dns.TypeDNAME); d != nil {
			l.dname(d, name, depth)
			return true
		}
	}
	return false
}

func (l *lookup) dname(d *RRset, name string, depth int) {
	r := l.r
	r.Answer = append(r.Answer, Entry{Set: d})
	dn := d.RRs[0].(*dns.DNAME)
	target := name[:len(name)-len(d.Name())] + lower(dn.Target)
	if _, ok := dns.IsDomainName(target); !ok || len(target) > 255 {
		r.Rcode = dns.RcodeYXDomain
		return
	}
	cn := &dns.CNAME{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeCNAME, Class: dns.ClassINET, Ttl: d.TTL()}, Target: target}
	r.Answer = append(r.Answer, Entry{Synth: []dns.RR{cn}})
	if l.qtype == dns.TypeCNAME && depth == 0 {
		return
	}
	l.follow(target, depth)
}

func (l *lookup) follow(target string, depth int) {
	if depth+1 >= maxChain || !InZone(target, l.s.Origin) {
		return
	}
	l.resolve(target, depth+1)
}

// answerAt answers at an existing node n for name. owner is the name to put on
// records synthesized from a wildcard node (empty otherwise); ce its closest
// encloser.
func (l *lookup) answerAt(n *Node, name, owner, ce string, depth int) {
	r, qtype := l.r, l.qtype
	wild := owner != ""
	if qtype == dns.TypeANY {
		// RFC 8482 §4.1: one RRset stands for the node (the first by type,
		// as Knot DNS does), over UDP and TCP alike.
		var set *RRset
		for _, s := range n.Sets {
			if s.Type != dns.TypeRRSIG && s.Type != dns.TypeNSEC {
				set = s
				break
			}
		}
		if set == nil {
			l.nodata(n, name, ce, wild)
			return
		}
		r.Answer = append(r.Answer, Entry{Set: set, Owner: owner})
		if wild {
			r.Denials = append(r.Denials, Denial{Kind: WildcardAnswer, Name: name, QType: qtype, Node: n, Closest: ce})
		}
		l.additional(set)
		return
	}
	if set := n.Get(qtype); set != nil {
		r.Answer = append(r.Answer, Entry{Set: set, Owner: owner})
		if wild {
			r.Denials = append(r.Denials, Denial{Kind: WildcardAnswer, Name: name, QType: qtype, Node: n, Closest: ce})
		}
		l.additional(set)
		return
	}
	if cn := n.Get(dns.TypeCNAME); cn != nil {
		r.Answer = append(r.Answer, Entry{Set: cn, Owner: owner})
		if wild {
			r.Denials = append(r.Denials, Denial{Kind: WildcardAnswer, Name: name, QType: qtype, Node: n, Closest: ce})
		}
		l.follow(lower(cn.RRs[0].(*dns.CNAME).Target), depth)
		return
	}
	l.nodata(n, name, ce, wild)
}

func (l *lookup) nodata(n *Node, name, ce string, wild bool) {
	l.negative()
	if wild {
		l.r.Denials = append(l.r.Denials, Denial{Kind: WildcardNoData, Name: name, QType: l.qtype, Node: n, Closest: ce})
		return
	}
	l.r.Denials = append(l.r.Denials, Denial{Kind: NoData, Name: name, QType: l.qtype, Node: n})
}

func (l *lookup) negative() {
	if l.r.NegSOA {
		return
	}
	l.r.NegSOA = true
}

// referral answers with the delegation at cut n (RFC 1034 §4.3.2 step 3b).
func (l *lookup) referral(n *Node, depth int) {
	r := l.r
	if depth == 0 {
		r.Authoritative = false
	}
	r.Referral = true
	ns := n.Get(dns.TypeNS)
	r.Authority = append(r.Authority, Entry{Set: ns})
	if l.o.DO {
		if ds := n.Get(dns.TypeDS); ds != nil {
			r.Authority = append(r.Authority, Entry{Set: ds})
		} else {
			r.Denials = append(r.Denials, Denial{Kind: Delegation, Name: n.Name, QType: l.qtype, Node: n})
		}
	}
	for _, rr := range ns.RRs {
		l.glue(lower(rr.(*dns.NS).Ns))
	}
}

// glue adds the address records of a name server in the zone (at or below a
// cut, or elsewhere in the zone) to the additional section.
func (l *lookup) glue(target string) {
	if !InZone(target, l.s.Origin) {
		return
	}
	n := l.s.Node(target)
	if n == nil {
		return
	}
	l.addAddresses(n)
}

func (l *lookup) addAddresses(n *Node) {
	for _, t := range [2]uint16{dns.TypeA, dns.TypeAAAA} {
		if set := n.Get(t); set != nil && !l.inAdditional(set) {
			l.r.Additional = append(l.r.Additional, Entry{Set: set})
		}
	}
}

func (l *lookup) inAdditional(set *RRset) bool {
	for _, e := range l.r.Additional {
		if e.Set == set {
			return true
		}
	}
	return false
}

// additional performs additional section processing (RFC 1035 §3.3, RFC 2782):
// addresses of the targets of NS, MX and SRV records that are in the zone and
// authoritative (not below a cut, where they would be glue of another zone).
func (l *lookup) additional(set *RRset) {
	switch set.Type {
	case dns.TypeNS, dns.TypeMX, dns.TypeSRV, dns.TypeSVCB, dns.TypeHTTPS:
	default:
		return
	}
	for _, rr := range set.RRs {
		var target string
		switch v := rr.(type) {
		case *dns.NS:
			target = v.Ns
		case *dns.MX:
			target = v.Mx
		case *dns.SRV:
			target = v.Target
		case *dns.SVCB:
			target = svcbTarget(v.Target, v.Hdr.Name)
		case *dns.HTTPS:
			target = svcbTarget(v.Target, v.Hdr.Name)
		}
		target = lower(target)
		if target == "" || !InZone(target, l.s.Origin) {
			continue
		}
		n := l.s.Node(target)
		if n == nil {
			continue
		}
		if set.Type != dns.TypeNS && l.s.cuts > 0 && l.s.Delegated(target) {
			continue
		}
		l.addAddresses(n)
	}
}

// svcbTarget is the name whose addresses a SVCB/HTTPS record adds to the
// additional section: its target. A "." target (the owner itself, RFC 9460
// §2.5) adds nothing, as with Knot DNS: the owner's addresses are one query
// away under the same name.
func svcbTarget(target, owner string) string {
	if target == "." {
		return ""
	}
	return target
}

// Render writes the response into m (unsigned): flags, rcode and the sections.
// m must already be a reply to the query (SetReply).
func (r *Response) Render(m *dns.Msg) {
	m.Authoritative = r.Authoritative
	m.Rcode = r.Rcode
	m.Answer = appendEntries(m.Answer, r.Answer)
	if r.NegSOA {
		m.Ns = append(m.Ns, r.Zone.negSOA)
	}
	m.Ns = appendEntries(m.Ns, r.Authority)
	m.Extra = appendEntries(m.Extra, r.Additional)
}

func appendEntries(dst []dns.RR, es []Entry) []dns.RR {
	for _, e := range es {
		dst = append(dst, e.RRs()...)
	}
	return dst
}

// RRs returns the records of the entry with their owner as answered.
func (e Entry) RRs() []dns.RR {
	if e.Set == nil {
		return e.Synth
	}
	if e.Owner == "" {
		return e.Set.RRs
	}
	out := make([]dns.RR, len(e.Set.RRs))
	for i, rr := range e.Set.RRs {
		c := dns.Copy(rr)
		c.Header().Name = e.Owner
		out[i] = c
	}
	return out
}

// encloser returns the length of the key of the closest encloser of a name
// that does not exist (key k): its longest ancestor that exists. The node
// just before k in canonical order is that ancestor or one of its
// descendants (a name's descendants follow it, and every ancestor of a name
// exists), so the ancestor is their longest common run of labels.
func (s *Snapshot) encloser(k []byte) int {
	fk, _ := s.tree.floor(keyString(k))
	n := 0
	for e := range keyLabelEnds(k) {
		if e > len(fk) || fk[:e] != string(k[:e]) {
			break
		}
		n = e
	}
	return n
}
