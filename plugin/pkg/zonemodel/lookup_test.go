package zonemodel

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// long50 is a 50-character label: a DNAME whose target is long enough that
// substituting it makes a name over 255 octets (YXDOMAIN, RFC 6672 §2.2).
var long50 = strings.Repeat("a", 50)

// lookupZone exercises every branch of Snapshot.Lookup.
var lookupZone = `$ORIGIN example.test.
$TTL 3600
@           IN SOA   ns1 hostmaster 1 3600 600 86400 300
@           IN NS    ns1
@           IN NS    ns2.elsewhere.example.
@           IN MX    10 mail
ns1         IN A     192.0.2.53
ns1         IN AAAA  2001:db8::53
mail        IN A     192.0.2.25
www         IN A     192.0.2.10
www         IN TXT   "web"
alias       IN CNAME www
chain1      IN CNAME chain2
chain2      IN CNAME www
loop1       IN CNAME loop2
loop2       IN CNAME loop1
dangling    IN CNAME nothere
ext         IN CNAME www.elsewhere.example.
b.ent       IN A     192.0.2.1
*.wild      IN A     192.0.2.80
host.wild   IN A     192.0.2.81
x.ent2.wild IN A     192.0.2.82
*.wc        IN CNAME www
sub         IN NS    ns.sub
sub         IN NS    ns1
sub         IN DS    12345 13 2 0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF
ns.sub      IN A     192.0.2.99
unsigned    IN NS    ns.unsigned
ns.unsigned IN A     192.0.2.98
below       IN MX    10 ns.sub
_sip._udp   IN SRV   0 0 5060 www
svc         IN HTTPS 1 www
svcself     IN HTTPS 1 .
dn          IN DNAME tgt.example.test.
host.tgt    IN A     192.0.2.7
long        IN DNAME ` + long50 + `.` + long50 + `.` + long50 + `.` + long50 + `.example.test.
`

// lookupSnapshot opens the zone through the public API (a base source, a
// state directory) and returns its snapshot.
func lookupSnapshot(t *testing.T) *Snapshot {
	t.Helper()
	z := New(Config{Origin: "example.test", StateDir: t.TempDir()})
	base, err := z.AddSource("file", SourceOptions{Base: true})
	if err != nil {
		t.Fatal(err)
	}
	zd, err := ParseZone(strings.NewReader(lookupZone), "example.test.", "lookup.zone")
	if err != nil {
		t.Fatal(err)
	}
	if err := base.SetInitial(nil, zd.RRs); err != nil {
		t.Fatal(err)
	}
	if err := z.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(z.Close)
	return z.View("").Snapshot()
}

// denial is a Denial as the table states it: Node by name ("" for none).
type denial struct {
	kind    DenialKind
	name    string
	closest string
	node    string
}

func (d denial) String() string {
	return fmt.Sprintf("{%s %s closest=%q node=%q}", kindName[d.kind], d.name, d.closest, d.node)
}

var kindName = map[DenialKind]string{NXDomain: "NXDomain", NoData: "NoData", WildcardAnswer: "WildcardAnswer", WildcardNoData: "WildcardNoData", Delegation: "Delegation"}

// present is "owner TYPE rdata" of a record.
func present(rr dns.RR) string {
	h := rr.Header()
	return strings.ToLower(h.Name) + " " + dns.TypeToString[h.Rrtype] + " " + strings.TrimPrefix(rr.String(), h.String())
}

func entries(es []Entry) []string {
	var out []string
	for _, e := range es {
		for _, rr := range e.RRs() {
			out = append(out, present(rr))
		}
	}
	return out
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

func denials(ds []Denial) []string {
	var out []string
	for _, d := range ds {
		node := ""
		if d.Node != nil {
			node = d.Node.Name
		}
		out = append(out, denial{d.Kind, d.Name, d.Closest, node}.String())
	}
	return out
}

func TestLookup(t *testing.T) {
	s := lookupSnapshot(t)
	const (
		apex = "example.test."
		ds   = "sub.example.test. DS 12345 13 2 0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF"
	)
	nsAddrs := []string{"ns1.example.test. A 192.0.2.53", "ns1.example.test. AAAA 2001:db8::53"}
	longTarget := long50 + "." + long50 + "." + long50 + "." + long50 + ".example.test."
	for _, c := range []struct {
		name       string
		qname      string
		qtype      uint16
		do         bool
		rcode      int
		aa         bool // authoritative
		referral   bool
		negSOA     bool
		answer     []string // in order
		authority  []string // any order
		additional []string // any order
		denials    []denial
	}{
		// Exact matches.
		{name: "exact", qname: "www.example.test.", qtype: dns.TypeA, aa: true,
			answer: []string{"www.example.test. A 192.0.2.10"}},
		{name: "exact, any case", qname: "WWW.Example.TEST.", qtype: dns.TypeTXT, aa: true,
			answer: []string{`www.example.test. TXT "web"`}},
		{name: "ANY: one RRset, the first by type (RFC 8482)", qname: "www.example.test.", qtype: dns.TypeANY, aa: true,
			answer: []string{"www.example.test. A 192.0.2.10"}},
		{name: "a literal wildcard name is an exact match", qname: "*.wild.example.test.", qtype: dns.TypeA, aa: true,
			answer: []string{"*.wild.example.test. A 192.0.2.80"}},

		// Additional section processing.
		{name: "NS at the apex: in-zone server addresses", qname: apex, qtype: dns.TypeNS, aa: true,
			answer:     []string{"example.test. NS ns1.example.test.", "example.test. NS ns2.elsewhere.example."},
			additional: nsAddrs},
		{name: "MX: the exchange's address", qname: apex, qtype: dns.TypeMX, aa: true,
			answer:     []string{"example.test. MX 10 mail.example.test."},
			additional: []string{"mail.example.test. A 192.0.2.25"}},
		{name: "MX below a cut: no additional (not authoritative data)", qname: "below.example.test.", qtype: dns.TypeMX, aa: true,
			answer: []string{"below.example.test. MX 10 ns.sub.example.test."}},
		{name: "SRV: the target's address", qname: "_sip._udp.example.test.", qtype: dns.TypeSRV, aa: true,
			answer:     []string{"_sip._udp.example.test. SRV 0 0 5060 www.example.test."},
			additional: []string{"www.example.test. A 192.0.2.10"}},
		{name: "HTTPS: the target's address", qname: "svc.example.test.", qtype: dns.TypeHTTPS, aa: true,
			answer:     []string{"svc.example.test. HTTPS 1 www.example.test."},
			additional: []string{"www.example.test. A 192.0.2.10"}},
		{name: "HTTPS with target '.': nothing added", qname: "svcself.example.test.", qtype: dns.TypeHTTPS, aa: true,
			answer: []string{"svcself.example.test. HTTPS 1 ."}},

		// CNAME.
		{name: "CNAME followed", qname: "alias.example.test.", qtype: dns.TypeA, aa: true,
			answer: []string{"alias.example.test. CNAME www.example.test.", "www.example.test. A 192.0.2.10"}},
		{name: "CNAME asked for: not followed", qname: "alias.example.test.", qtype: dns.TypeCNAME, aa: true,
			answer: []string{"alias.example.test. CNAME www.example.test."}},
		{name: "CNAME chain", qname: "chain1.example.test.", qtype: dns.TypeA, aa: true,
			answer: []string{"chain1.example.test. CNAME chain2.example.test.", "chain2.example.test. CNAME www.example.test.", "www.example.test. A 192.0.2.10"}},
		{name: "CNAME loop: each CNAME once", qname: "loop1.example.test.", qtype: dns.TypeA, aa: true,
			answer: []string{"loop1.example.test. CNAME loop2.example.test.", "loop2.example.test. CNAME loop1.example.test."}},
		{name: "CNAME to a name that does not exist: NXDOMAIN (RFC 6604)", qname: "dangling.example.test.", qtype: dns.TypeA, aa: true,
			rcode: dns.RcodeNameError, negSOA: true,
			answer:  []string{"dangling.example.test. CNAME nothere.example.test."},
			denials: []denial{{NXDomain, "nothere.example.test.", apex, ""}}},
		{name: "CNAME to a type the target lacks: NODATA at the target", qname: "alias.example.test.", qtype: dns.TypeAAAA, aa: true,
			negSOA:  true,
			answer:  []string{"alias.example.test. CNAME www.example.test."},
			denials: []denial{{NoData, "www.example.test.", "", "www.example.test."}}},
		{name: "CNAME out of the zone: not followed", qname: "ext.example.test.", qtype: dns.TypeA, aa: true,
			answer: []string{"ext.example.test. CNAME www.elsewhere.example."}},

		// NODATA, empty non-terminals, NXDOMAIN.
		{name: "NODATA", qname: "www.example.test.", qtype: dns.TypeAAAA, aa: true, negSOA: true,
			denials: []denial{{NoData, "www.example.test.", "", "www.example.test."}}},
		{name: "empty non-terminal: NODATA, not NXDOMAIN", qname: "ent.example.test.", qtype: dns.TypeA, aa: true, negSOA: true,
			denials: []denial{{NoData, "ent.example.test.", "", "ent.example.test."}}},
		{name: "NXDOMAIN, closest encloser the apex", qname: "nothere.example.test.", qtype: dns.TypeA, aa: true,
			rcode: dns.RcodeNameError, negSOA: true,
			denials: []denial{{NXDomain, "nothere.example.test.", apex, ""}}},
		{name: "NXDOMAIN below an existing name", qname: "a.b.www.example.test.", qtype: dns.TypeA, aa: true,
			rcode: dns.RcodeNameError, negSOA: true,
			denials: []denial{{NXDomain, "a.b.www.example.test.", "www.example.test.", ""}}},
		{name: "NXDOMAIN below an empty non-terminal", qname: "x.ent.example.test.", qtype: dns.TypeA, aa: true,
			rcode: dns.RcodeNameError, negSOA: true,
			denials: []denial{{NXDomain, "x.ent.example.test.", "ent.example.test.", ""}}},

		// Wildcards (RFC 4592).
		{name: "wildcard answer under the name of the query", qname: "x.wild.example.test.", qtype: dns.TypeA, aa: true,
			answer:  []string{"x.wild.example.test. A 192.0.2.80"},
			denials: []denial{{WildcardAnswer, "x.wild.example.test.", "wild.example.test.", "*.wild.example.test."}}},
		{name: "wildcard two labels down: the closest encloser is wild", qname: "a.b.wild.example.test.", qtype: dns.TypeA, aa: true,
			answer:  []string{"a.b.wild.example.test. A 192.0.2.80"},
			denials: []denial{{WildcardAnswer, "a.b.wild.example.test.", "wild.example.test.", "*.wild.example.test."}}},
		{name: "wildcard NODATA", qname: "x.wild.example.test.", qtype: dns.TypeTXT, aa: true, negSOA: true,
			denials: []denial{{WildcardNoData, "x.wild.example.test.", "wild.example.test.", "*.wild.example.test."}}},
		{name: "an existing name is not covered by the wildcard: NODATA", qname: "host.wild.example.test.", qtype: dns.TypeTXT, aa: true, negSOA: true,
			denials: []denial{{NoData, "host.wild.example.test.", "", "host.wild.example.test."}}},
		{name: "below an existing name the wildcard does not apply (§3.3.1)", qname: "x.host.wild.example.test.", qtype: dns.TypeA, aa: true,
			rcode: dns.RcodeNameError, negSOA: true,
			denials: []denial{{NXDomain, "x.host.wild.example.test.", "host.wild.example.test.", ""}}},
		{name: "an empty non-terminal blocks the wildcard (§2.2.2)", qname: "ent2.wild.example.test.", qtype: dns.TypeA, aa: true, negSOA: true,
			denials: []denial{{NoData, "ent2.wild.example.test.", "", "ent2.wild.example.test."}}},
		{name: "below an empty non-terminal under the wildcard: NXDOMAIN", qname: "y.ent2.wild.example.test.", qtype: dns.TypeA, aa: true,
			rcode: dns.RcodeNameError, negSOA: true,
			denials: []denial{{NXDomain, "y.ent2.wild.example.test.", "ent2.wild.example.test.", ""}}},
		{name: "wildcard CNAME: synthesized, then followed", qname: "foo.wc.example.test.", qtype: dns.TypeA, aa: true,
			answer:  []string{"foo.wc.example.test. CNAME www.example.test.", "www.example.test. A 192.0.2.10"},
			denials: []denial{{WildcardAnswer, "foo.wc.example.test.", "wc.example.test.", "*.wc.example.test."}}},

		// Delegations.
		{name: "referral with glue and DS (DO)", qname: "sub.example.test.", qtype: dns.TypeA, do: true, referral: true,
			authority:  []string{"sub.example.test. NS ns.sub.example.test.", "sub.example.test. NS ns1.example.test.", ds},
			additional: append([]string{"ns.sub.example.test. A 192.0.2.99"}, nsAddrs...)},
		{name: "referral without DO: no DS", qname: "sub.example.test.", qtype: dns.TypeA, referral: true,
			authority:  []string{"sub.example.test. NS ns.sub.example.test.", "sub.example.test. NS ns1.example.test."},
			additional: append([]string{"ns.sub.example.test. A 192.0.2.99"}, nsAddrs...)},
		{name: "a name below the cut: referral", qname: "deep.sub.example.test.", qtype: dns.TypeA, do: true, referral: true,
			authority:  []string{"sub.example.test. NS ns.sub.example.test.", "sub.example.test. NS ns1.example.test.", ds},
			additional: append([]string{"ns.sub.example.test. A 192.0.2.99"}, nsAddrs...)},
		{name: "glue is not an answer: referral", qname: "ns.sub.example.test.", qtype: dns.TypeA, referral: true,
			authority:  []string{"sub.example.test. NS ns.sub.example.test.", "sub.example.test. NS ns1.example.test."},
			additional: append([]string{"ns.sub.example.test. A 192.0.2.99"}, nsAddrs...)},
		{name: "DS at the cut: the parent's own, authoritative answer", qname: "sub.example.test.", qtype: dns.TypeDS, do: true, aa: true,
			answer: []string{ds}},
		{name: "referral without DS (DO): a Delegation denial", qname: "unsigned.example.test.", qtype: dns.TypeA, do: true, referral: true,
			authority:  []string{"unsigned.example.test. NS ns.unsigned.example.test."},
			additional: []string{"ns.unsigned.example.test. A 192.0.2.98"},
			denials:    []denial{{Delegation, "unsigned.example.test.", "", "unsigned.example.test."}}},
		{name: "DS asked at a cut without DS: NODATA from the parent side", qname: "unsigned.example.test.", qtype: dns.TypeDS, do: true, aa: true, negSOA: true,
			denials: []denial{{NoData, "unsigned.example.test.", "", "unsigned.example.test."}}},

		// DNAME (RFC 6672).
		{name: "DNAME: the DNAME, a synthesized CNAME, the target's answer", qname: "host.dn.example.test.", qtype: dns.TypeA, aa: true,
			answer: []string{"dn.example.test. DNAME tgt.example.test.", "host.dn.example.test. CNAME host.tgt.example.test.", "host.tgt.example.test. A 192.0.2.7"}},
		{name: "DNAME asked for CNAME: not followed", qname: "host.dn.example.test.", qtype: dns.TypeCNAME, aa: true,
			answer: []string{"dn.example.test. DNAME tgt.example.test.", "host.dn.example.test. CNAME host.tgt.example.test."}},
		{name: "DNAME to a name that does not exist: NXDOMAIN at the target", qname: "nope.dn.example.test.", qtype: dns.TypeA, aa: true,
			rcode: dns.RcodeNameError, negSOA: true,
			answer:  []string{"dn.example.test. DNAME tgt.example.test.", "nope.dn.example.test. CNAME nope.tgt.example.test."},
			denials: []denial{{NXDomain, "nope.tgt.example.test.", "tgt.example.test.", ""}}},
		{name: "the DNAME owner itself is not redirected", qname: "dn.example.test.", qtype: dns.TypeA, aa: true, negSOA: true,
			denials: []denial{{NoData, "dn.example.test.", "", "dn.example.test."}}},
		{name: "DNAME substitution too long: YXDOMAIN", qname: long50 + ".long.example.test.", qtype: dns.TypeA, aa: true,
			rcode:  dns.RcodeYXDomain,
			answer: []string{"long.example.test. DNAME " + longTarget}},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := s.Lookup(c.qname, c.qtype, Options{DO: c.do})
			if r.Rcode != c.rcode || r.Authoritative != c.aa || r.Referral != c.referral || r.NegSOA != c.negSOA {
				t.Errorf("rcode %s AA %v referral %v negative SOA %v; want %s %v %v %v",
					dns.RcodeToString[r.Rcode], r.Authoritative, r.Referral, r.NegSOA,
					dns.RcodeToString[c.rcode], c.aa, c.referral, c.negSOA)
			}
			if got := entries(r.Answer); !slices.Equal(got, c.answer) {
				t.Errorf("answer\n  %q\nwant\n  %q", got, c.answer)
			}
			if got, want := sorted(entries(r.Authority)), sorted(c.authority); !slices.Equal(got, want) {
				t.Errorf("authority\n  %q\nwant\n  %q", got, want)
			}
			if got, want := sorted(entries(r.Additional)), sorted(c.additional); !slices.Equal(got, want) {
				t.Errorf("additional\n  %q\nwant\n  %q", got, want)
			}
			var want []string
			for _, d := range c.denials {
				want = append(want, d.String())
			}
			if got := denials(r.Denials); !slices.Equal(got, want) {
				t.Errorf("denials\n  %v\nwant\n  %v", got, want)
			}
		})
	}
}

// TestLookupRender: Render puts the flags, the rcode, the sections and, for
// a negative answer, the SOA with the negative TTL (RFC 2308 §3: the
// minimum of the SOA's TTL and its MINIMUM field, 300 here) in the
// authority section.
func TestLookupRender(t *testing.T) {
	s := lookupSnapshot(t)
	m := new(dns.Msg)
	m.SetQuestion("nothere.example.test.", dns.TypeA)
	r := s.Lookup("nothere.example.test.", dns.TypeA, Options{})
	reply := new(dns.Msg)
	reply.SetReply(m)
	r.Render(reply)
	if !reply.Authoritative || reply.Rcode != dns.RcodeNameError || len(reply.Answer) != 0 || len(reply.Ns) != 1 {
		t.Fatalf("NXDOMAIN rendered as %v", reply)
	}
	soa, ok := reply.Ns[0].(*dns.SOA)
	if !ok || soa.Hdr.Ttl != 300 || soa.Serial != s.Serial {
		t.Fatalf("negative SOA %v, want TTL 300 and serial %d", reply.Ns[0], s.Serial)
	}

	// A wildcard answer carries the name asked, not the wildcard's.
	r = s.Lookup("q.wild.example.test.", dns.TypeA, Options{})
	reply = new(dns.Msg)
	reply.SetReply(m)
	r.Render(reply)
	if len(reply.Answer) != 1 || reply.Answer[0].Header().Name != "q.wild.example.test." || len(reply.Ns) != 0 {
		t.Fatalf("wildcard answer rendered as %v", reply)
	}
	// The wildcard's own record is left as it is in the snapshot.
	if got := s.Get("*.wild.example.test.", dns.TypeA).RRs[0].Header().Name; got != "*.wild.example.test." {
		t.Fatalf("rendering a wildcard answer renamed the stored record to %s", got)
	}
}
