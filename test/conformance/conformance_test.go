// Package conformance serves one zone file with dnspki and with Knot DNS and
// compares their answers to a corpus of queries.
package conformance

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/dnspki/dnspki/test/harness"
)

const zone = "example.test."

// query is one corpus entry.
type query struct {
	name  string
	qtype uint16
	tcp   bool
	edns  bool
	do    bool
}

func (q query) String() string {
	s := fmt.Sprintf("%s/%s", q.name, dns.TypeToString[q.qtype])
	if q.tcp {
		s += " tcp"
	} else {
		s += " udp"
	}
	if !q.edns {
		s += " no-edns"
	}
	if q.do {
		s += " do"
	}
	return s
}

// corpus builds the queries: every owner name of the zone and a set of names
// that do not exist (below names, beside them, under wildcards, below
// delegations), each with many types; then EDNS off, TCP and mixed-case
// variants.
func corpus(t *testing.T, zoneFile string) []query {
	zd, err := os.ReadFile(zoneFile)
	if err != nil {
		t.Fatal(err)
	}
	zp := dns.NewZoneParser(strings.NewReader(string(zd)), zone, "")
	names := map[string]bool{}
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		names[strings.ToLower(rr.Header().Name)] = true
	}
	extra := []string{
		"nxdomain", "www.www", "x.www", "b.c.ent", "c.ent", "zz.b.c.ent", "nx.a.b.c.ent",
		"foo.wild", "a.b.wild", "FoO.WiLd", "exact.wild", "sub.exact.wild", "x.wc", "y.z.wc",
		"q.x.ent2", "x.ent2", "ent2", "host.sub", "deep.host.sub", "ns.sub", "x.sibling", "sibling",
		"x.signed", "signed", "www.dn", "a.b.dn", "nothere.dn", "dn", "target", "www.target",
		"mixed", "MIXED", "WwW", "_tcp.mail", "_tcp.www", "nothere", "a.nothere",
		"_acme-challenge.www", "_acme-challenge.nx",
	}
	for _, e := range extra {
		names[strings.ToLower(dns.Fqdn(e))+zone] = true
		if e != strings.ToLower(e) {
			names[dns.Fqdn(e)+zone] = true
		}
	}
	// Undo the double origin for names that were already absolute.
	list := make([]string, 0, len(names))
	for n := range names {
		if strings.HasSuffix(n, zone+zone) {
			n = strings.TrimSuffix(n, zone)
		}
		list = append(list, n)
	}
	sort.Strings(list)
	types := []uint16{dns.TypeA, dns.TypeAAAA, dns.TypeTXT, dns.TypeMX, dns.TypeNS, dns.TypeSOA,
		dns.TypeCNAME, dns.TypeCAA, dns.TypeSRV, dns.TypeDS, dns.TypeTLSA, dns.TypeHTTPS, dns.TypeSVCB, dns.TypeANY, dns.TypeDNAME}
	var qs []query
	for _, n := range list {
		for _, ty := range types {
			qs = append(qs, query{name: n, qtype: ty, edns: true})
		}
	}
	// Variants on a subset: TCP, no EDNS (512-octet limit: truncation), DO,
	// mixed case.
	subset := []string{"www", "big", "@", "alias", "chain1", "foo.wild", "sub", "host.sub", "x.wc", "nxdomain", "b.c.ent", "www.dn", "towild", "tosub", "signed"}
	for _, s := range subset {
		n := zone
		if s != "@" {
			n = s + "." + zone
		}
		for _, ty := range []uint16{dns.TypeA, dns.TypeTXT, dns.TypeNS, dns.TypeANY, dns.TypeMX, dns.TypeDS} {
			qs = append(qs,
				query{name: n, qtype: ty, tcp: true, edns: true},
				query{name: n, qtype: ty, edns: false},
				query{name: n, qtype: ty, tcp: true, edns: false},
				query{name: strings.ToUpper(n), qtype: ty, edns: true},
			)
		}
	}
	return qs
}

// result is a response normalized for comparison: order-insensitive sections,
// lowercase names, OPT removed.
type result struct {
	rcode      int
	aa, tc     bool
	answer     []string
	authority  []string
	additional []string
}

func normalize(m *dns.Msg) result {
	r := result{rcode: m.Rcode, aa: m.Authoritative, tc: m.Truncated}
	conv := func(rrs []dns.RR) []string {
		var out []string
		for _, rr := range rrs {
			if rr.Header().Rrtype == dns.TypeOPT {
				continue
			}
			out = append(out, strings.ToLower(strings.ReplaceAll(rr.String(), "\t", " ")))
		}
		sort.Strings(out)
		return out
	}
	r.answer, r.authority, r.additional = conv(m.Answer), conv(m.Ns), conv(m.Extra)
	return r
}

func (r result) String() string {
	return fmt.Sprintf("rcode=%s aa=%v tc=%v\n  answer: %s\n  authority: %s\n  additional: %s",
		dns.RcodeToString[r.rcode], r.aa, r.tc, strings.Join(r.answer, " | "), strings.Join(r.authority, " | "), strings.Join(r.additional, " | "))
}

func equal(a, b result) bool {
	return a.rcode == b.rcode && a.aa == b.aa && a.tc == b.tc &&
		strings.Join(a.answer, "\n") == strings.Join(b.answer, "\n") &&
		strings.Join(a.authority, "\n") == strings.Join(b.authority, "\n") &&
		strings.Join(a.additional, "\n") == strings.Join(b.additional, "\n")
}

func ask(addr string, q query) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(q.name, q.qtype)
	m.RecursionDesired = false
	if q.edns {
		m.SetEdns0(1232, q.do)
	}
	return harness.Exchange(addr, m, q.tcp)
}

func TestKnotConformance(t *testing.T) {
	bins := harness.Need(t, "knotd")
	dir := t.TempDir()
	zoneFile := filepath.Join(dir, "example.test.zone")
	b, err := os.ReadFile("testdata/example.test.zone")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(zoneFile, b, 0o644); err != nil {
		t.Fatal(err)
	}

	knotPort := harness.FreePort(t)
	knotDir := filepath.Join(dir, "knot")
	os.MkdirAll(knotDir, 0o755)
	knotConf := filepath.Join(knotDir, "knot.conf")
	os.WriteFile(knotConf, []byte(fmt.Sprintf(`server:
    rundir: "%[1]s"
    listen: 127.0.0.1@%[2]d
database:
    storage: "%[1]s"
log:
  - target: stderr
    any: info
template:
  - id: default
    storage: "%[1]s"
    zonefile-sync: -1
    zonefile-load: whole
    journal-content: none
    semantic-checks: on
zone:
  - domain: example.test
    file: "%[3]s"
`, knotDir, knotPort, zoneFile)), 0o644)
	knot := harness.Start(t, "knotd", []string{bins[0], "-c", knotConf}, harness.StartOpts{Dir: knotDir})

	port := harness.FreePort(t)
	srv := harness.StartDnspki(t, dir, fmt.Sprintf(`example.test:%d {
    bind 127.0.0.1
    authzone example.test {
        file %s
    }
}
`, port, zoneFile), port)

	knotAddr := harness.Addr(knotPort)
	harness.WaitDNS(t, knotAddr, zone, 20*time.Second, knot)
	harness.WaitDNS(t, srv.Addr, zone, 20*time.Second, srv.Proc)

	qs := corpus(t, zoneFile)
	if len(qs) < 300 {
		t.Fatalf("corpus has %d queries, want at least 300", len(qs))
	}
	var same, allowed int
	reasons := map[string]int{}
	for _, q := range qs {
		km, err := ask(knotAddr, q)
		if err != nil {
			t.Fatalf("%s: knot: %v", q, err)
		}
		dm, err := ask(srv.Addr, q)
		if err != nil {
			t.Fatalf("%s: dnspki: %v", q, err)
		}
		kr, dr := normalize(km), normalize(dm)
		if equal(kr, dr) {
			same++
			continue
		}
		if why := knownDifference(q, kr, dr); why != "" {
			allowed++
			reasons[why]++
			continue
		}
		t.Errorf("%s differs\nknot:   %s\ndnspki: %s", q, kr, dr)
	}
	t.Logf("%d queries: %d identical, %d known differences", len(qs), same, allowed)
	for why, n := range reasons {
		t.Logf("  %4d × %s", n, why)
	}
}

// knownDifference returns why a difference between Knot and dnspki is
// expected, or "" if it is a bug. Each entry cites the RFC that allows
// dnspki's answer.
func knownDifference(q query, knot, dnspki result) string {
	if knot.tc && dnspki.tc && !q.tcp && knot.rcode == dnspki.rcode && knot.aa == dnspki.aa {
		// Knot empties a truncated response; dnspki (CoreDNS's scrubbing)
		// keeps the records that fit. Both are allowed: "the partial RRSet
		// that would not completely fit may be left in the response"
		// (RFC 2181 §9); the client retries over TCP either way.
		return "truncated UDP response keeps what fits (RFC 2181 §9)"
	}
	return ""
}
