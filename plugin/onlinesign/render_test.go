package onlinesign

import (
	"context"
	"crypto"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/dnspki/dnspki/plugin/pkg/zonemodel"
)

const testZone = `$ORIGIN example.test.
$TTL 3600
@ IN SOA ns1 hostmaster 100 3600 600 86400 300
  IN NS ns1
  IN MX 10 mail
ns1 IN A 192.0.2.53
mail IN A 192.0.2.25
www IN A 192.0.2.10
    IN TXT "web"
    IN CAA 0 issue "ca.example"
alias IN CNAME www
*.wild IN A 192.0.2.80
       IN TXT "wildcard"
a.b.ent IN A 192.0.2.90
sub IN NS ns.sub
ns.sub IN A 192.0.2.99
secure IN NS ns.secure
       IN DS 12345 13 2 0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF
ns.secure IN A 192.0.2.98
`

// testSigner opens a zone with the test content, signed by a manager with
// fresh keys of the scheme in a temporary key directory.
func testSigner(t testing.TB, scheme string, alg uint8, opts ...func(*zonemodel.Config)) (*zonemodel.Zone, *manager) {
	t.Helper()
	return signerWithZone(t, testZone, func(c *zoneConfig) { c.policy.Scheme, c.policy.Algorithm = scheme, alg }, opts...)
}

// signerWithZone is an opened zone of text (example.test.) signed by a
// manager with fresh keys in a temporary key directory; policy (nil: the
// defaults) adjusts the signer's configuration.
func signerWithZone(t testing.TB, text string, policy func(*zoneConfig), opts ...func(*zonemodel.Config)) (*zonemodel.Zone, *manager) {
	t.Helper()
	dir := t.TempDir()
	cfg := defaultConfig()
	cfg.origin = "example.test."
	cfg.keyDir = dir + "/keys"
	if policy != nil {
		policy(&cfg)
	}
	m, err := acquireManager(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.release)
	zc := zonemodel.Config{Origin: "example.test.", StateDir: dir}
	for _, o := range opts {
		o(&zc)
	}
	z := zonemodel.New(zc)
	base, err := z.AddSource("file", zonemodel.SourceOptions{Base: true})
	if err != nil {
		t.Fatal(err)
	}
	zd, err := zonemodel.ParseZone(strings.NewReader(text), "example.test.", "test.zone")
	if err != nil {
		t.Fatal(err)
	}
	if err := base.SetInitial(nil, zd.RRs); err != nil {
		t.Fatal(err)
	}
	if err := m.attach(z); err != nil {
		t.Fatal(err)
	}
	if err := z.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(z.Close)
	return z, m
}

// ask renders a signed answer to name/qtype.
func ask(t testing.TB, z *zonemodel.Zone, name string, qtype uint16, co bool) *dns.Msg {
	t.Helper()
	req := new(dns.Msg)
	req.SetQuestion(name, qtype)
	req.SetEdns0(1232, true)
	if co {
		req.IsEdns0().SetCo()
	}
	v := z.View("")
	resp := v.Snapshot().Lookup(strings.ToLower(name), qtype, zonemodel.Options{DO: true})
	m := new(dns.Msg)
	m.SetReply(req)
	if err := z.Signer().Render(context.Background(), v, req, resp, m); err != nil {
		t.Fatalf("%s/%s: %v", name, dns.TypeToString[qtype], err)
	}
	return m
}

// verifySection checks that every RRset of a section (but those listed in
// unsigned) has a valid RRSIG by one of the zone's DNSKEYs, and returns the
// NSEC records in it.
func verifySection(t testing.TB, z *zonemodel.Zone, rrs []dns.RR, unsigned ...uint16) []*dns.NSEC {
	t.Helper()
	keys := map[uint16]*dns.DNSKEY{}
	if set := z.View("").Snapshot().Get("example.test.", dns.TypeDNSKEY); set != nil {
		for _, rr := range set.RRs {
			k := rr.(*dns.DNSKEY)
			keys[k.KeyTag()] = k
		}
	}
	type key struct {
		name string
		t    uint16
	}
	sets := map[key][]dns.RR{}
	var order []key
	var sigs []*dns.RRSIG
	var nsecs []*dns.NSEC
	for _, rr := range rrs {
		if s, ok := rr.(*dns.RRSIG); ok {
			sigs = append(sigs, s)
			continue
		}
		if n, ok := rr.(*dns.NSEC); ok {
			nsecs = append(nsecs, n)
		}
		k := key{strings.ToLower(rr.Header().Name), rr.Header().Rrtype}
		if _, ok := sets[k]; !ok {
			order = append(order, k)
		}
		sets[k] = append(sets[k], rr)
	}
	now := time.Now()
	for _, k := range order {
		var ok bool
		for _, s := range sigs {
			if strings.ToLower(s.Hdr.Name) != k.name || s.TypeCovered != k.t {
				continue
			}
			dk := keys[s.KeyTag]
			if dk == nil {
				t.Errorf("RRSIG %s/%s by unknown key %d", k.name, dns.TypeToString[k.t], s.KeyTag)
				continue
			}
			if s.Hdr.Ttl != sets[k][0].Header().Ttl {
				t.Errorf("RRSIG TTL %d != RRset TTL %d at %s/%s", s.Hdr.Ttl, sets[k][0].Header().Ttl, k.name, dns.TypeToString[k.t])
			}
			if err := s.Verify(dk, sets[k]); err != nil {
				t.Errorf("RRSIG %s/%s does not verify: %v", k.name, dns.TypeToString[k.t], err)
				continue
			}
			if !s.ValidityPeriod(now) {
				t.Errorf("RRSIG %s/%s not valid now (%d..%d)", k.name, dns.TypeToString[k.t], s.Inception, s.Expiration)
			}
			ok = true
		}
		if !ok && !slices.Contains(unsigned, k.t) {
			t.Errorf("%s/%s has no valid signature", k.name, dns.TypeToString[k.t])
		}
		if ok && slices.Contains(unsigned, k.t) {
			t.Errorf("%s/%s must not be signed", k.name, dns.TypeToString[k.t])
		}
	}
	return nsecs
}

func types(ts ...uint16) string {
	var s []string
	for _, t := range ts {
		s = append(s, dns.TypeToString[t])
	}
	return strings.Join(s, " ")
}

func TestPositiveAnswersAreSigned(t *testing.T) {
	for _, tc := range []struct {
		scheme string
		alg    uint8
	}{{SchemeCSK, dns.ECDSAP256SHA256}, {SchemeSplit, dns.ED25519}, {SchemeCSK, dns.ECDSAP384SHA384}, {SchemeCSK, dns.RSASHA256}} {
		t.Run(tc.scheme+"-"+dns.AlgorithmToString[tc.alg], func(t *testing.T) {
			z, _ := testSigner(t, tc.scheme, tc.alg)
			for _, q := range []struct {
				name  string
				qtype uint16
			}{
				{"www.example.test.", dns.TypeA}, {"www.example.test.", dns.TypeCAA}, {"example.test.", dns.TypeMX},
				{"example.test.", dns.TypeDNSKEY}, {"example.test.", dns.TypeCDS}, {"example.test.", dns.TypeCDNSKEY},
				{"example.test.", dns.TypeSOA}, {"alias.example.test.", dns.TypeA}, {"secure.example.test.", dns.TypeDS},
			} {
				m := ask(t, z, q.name, q.qtype, false)
				if m.Rcode != dns.RcodeSuccess || len(m.Answer) == 0 {
					t.Fatalf("%s/%s: rcode %d, %d answers", q.name, dns.TypeToString[q.qtype], m.Rcode, len(m.Answer))
				}
				verifySection(t, z, m.Answer)
				verifySection(t, z, m.Extra)
			}
			// Denials (signed on the fast path) verify with every algorithm.
			for _, q := range []string{"nothere.example.test.", "www.example.test.", "b.ent.example.test.", "x.wild.example.test."} {
				m := ask(t, z, q, dns.TypeSRV, false)
				if n := verifySection(t, z, m.Ns); len(n) != 1 {
					t.Errorf("%s: %d NSEC", q, len(n))
				}
				verifySection(t, z, ask(t, z, q, dns.TypeA, false).Ns)
			}
			// DNSKEY is signed by the KSK/CSK only, the rest by the ZSK/CSK.
			m := ask(t, z, "example.test.", dns.TypeDNSKEY, false)
			a := ask(t, z, "www.example.test.", dns.TypeA, false)
			keyTag := func(m *dns.Msg) uint16 {
				for _, rr := range m.Answer {
					if s, ok := rr.(*dns.RRSIG); ok {
						return s.KeyTag
					}
				}
				return 0
			}
			if (keyTag(m) == keyTag(a)) != (tc.scheme == SchemeCSK) {
				t.Errorf("scheme %s: DNSKEY signed by %d, www A by %d", tc.scheme, keyTag(m), keyTag(a))
			}
		})
	}
}

func TestCompactDenial(t *testing.T) {
	z, _ := testSigner(t, SchemeCSK, dns.ECDSAP256SHA256)

	// NXDOMAIN: NOERROR, NSEC qname \000.qname RRSIG NSEC NXNAME.
	m := ask(t, z, "nothere.example.test.", dns.TypeA, false)
	if m.Rcode != dns.RcodeSuccess || len(m.Answer) != 0 {
		t.Fatalf("NXDOMAIN: rcode %s, answer %v", dns.RcodeToString[m.Rcode], m.Answer)
	}
	nsecs := verifySection(t, z, m.Ns)
	if len(nsecs) != 1 || nsecs[0].Hdr.Name != "nothere.example.test." || nsecs[0].NextDomain != "\\000.nothere.example.test." ||
		types(nsecs[0].TypeBitMap...) != "RRSIG NSEC NXNAME" {
		t.Fatalf("NXDOMAIN proof: %v", nsecs)
	}
	if nsecs[0].Hdr.Ttl != 300 {
		t.Errorf("NSEC TTL %d, want the negative TTL 300", nsecs[0].Hdr.Ttl)
	}
	// With the Compact Answers OK flag, the rcode is NXDOMAIN.
	if m := ask(t, z, "nothere.example.test.", dns.TypeA, true); m.Rcode != dns.RcodeNameError {
		t.Errorf("CO set: rcode %s, want NXDOMAIN", dns.RcodeToString[m.Rcode])
	}

	// NODATA: the exact types at the name, never the qtype.
	m = ask(t, z, "www.example.test.", dns.TypeMX, false)
	nsecs = verifySection(t, z, m.Ns)
	if len(nsecs) != 1 || types(nsecs[0].TypeBitMap...) != "A TXT RRSIG NSEC CAA" {
		t.Fatalf("NODATA proof: %v", nsecs)
	}
	// At the apex DNSKEY, CDS and CDNSKEY come from the model's dnssec source.
	m = ask(t, z, "example.test.", dns.TypeTXT, false)
	nsecs = verifySection(t, z, m.Ns)
	if len(nsecs) != 1 || types(nsecs[0].TypeBitMap...) != "NS SOA MX RRSIG NSEC DNSKEY CDS CDNSKEY" {
		t.Fatalf("apex NODATA proof: %v", nsecs)
	}
	// Empty non-terminal.
	m = ask(t, z, "b.ent.example.test.", dns.TypeA, false)
	nsecs = verifySection(t, z, m.Ns)
	if len(nsecs) != 1 || types(nsecs[0].TypeBitMap...) != "RRSIG NSEC" || m.Rcode != dns.RcodeSuccess {
		t.Fatalf("ENT proof: %v", nsecs)
	}
	// Insecure delegation: referral with the NSEC at the cut (NS RRSIG NSEC),
	// NS and glue unsigned.
	m = ask(t, z, "www.sub.example.test.", dns.TypeA, false)
	if m.Authoritative {
		t.Error("a referral is not authoritative")
	}
	nsecs = verifySection(t, z, m.Ns, dns.TypeNS)
	if len(nsecs) != 1 || nsecs[0].Hdr.Name != "sub.example.test." || types(nsecs[0].TypeBitMap...) != "NS RRSIG NSEC" {
		t.Fatalf("insecure delegation proof: %v", nsecs)
	}
	verifySection(t, z, m.Extra, dns.TypeA)
	// DS query at the insecure cut: the same proof.
	m = ask(t, z, "sub.example.test.", dns.TypeDS, false)
	nsecs = verifySection(t, z, m.Ns)
	if len(nsecs) != 1 || types(nsecs[0].TypeBitMap...) != "NS RRSIG NSEC" {
		t.Fatalf("DS NODATA at cut: %v", nsecs)
	}
	// Secure delegation: DS signed, no NSEC.
	m = ask(t, z, "www.secure.example.test.", dns.TypeA, false)
	nsecs = verifySection(t, z, m.Ns, dns.TypeNS)
	if len(nsecs) != 0 {
		t.Fatalf("secure delegation has NSEC: %v", nsecs)
	}
	// Explicit RRSIG query: the signatures of every RRset at the name.
	m = ask(t, z, "www.example.test.", dns.TypeRRSIG, false)
	if len(m.Answer) != 3 || m.Rcode != dns.RcodeSuccess {
		t.Fatalf("RRSIG query: %v", m.Answer)
	}
	// Explicit NSEC query: the NSEC is the answer.
	m = ask(t, z, "www.example.test.", dns.TypeNSEC, false)
	nsecs = verifySection(t, z, m.Answer)
	if len(nsecs) != 1 || m.Rcode != dns.RcodeSuccess || len(m.Ns) != 0 {
		t.Fatalf("NSEC query: %v", m)
	}
}

func TestWildcards(t *testing.T) {
	z, _ := testSigner(t, SchemeCSK, dns.ECDSAP256SHA256)
	for _, name := range []string{"foo.wild.example.test.", "a.b.wild.example.test.", "zzzz.wild.example.test.", "0.wild.example.test.", "-.wild.example.test."} {
		m := ask(t, z, name, dns.TypeA, false)
		if len(m.Answer) != 2 {
			t.Fatalf("%s: %v", name, m.Answer)
		}
		sig := m.Answer[1].(*dns.RRSIG)
		if sig.Labels != 3 || sig.Hdr.Name != name {
			t.Errorf("%s: RRSIG labels %d owner %s, want 3 and the query name", name, sig.Labels, sig.Hdr.Name)
		}
		// The signature verifies (over the wildcard owner, as validators
		// reconstruct it from the label count).
		verifySection(t, z, m.Answer)
		nsecs := verifySection(t, z, m.Ns)
		if len(nsecs) != 1 {
			t.Fatalf("%s: want one covering NSEC, got %v", name, nsecs)
		}
		n := nsecs[0]
		nc := strings.Join(dns.SplitDomainName(name)[len(dns.SplitDomainName(name))-4:], ".") + "."
		if !(zonemodel.CanonicalLess(n.Hdr.Name, nc) && zonemodel.CanonicalLess(nc, n.NextDomain)) {
			t.Errorf("%s: NSEC %s -> %s does not cover the next closer name %s", name, n.Hdr.Name, n.NextDomain, nc)
		}
		// The covering NSEC shares exactly the closest encloser with qname.
		for _, x := range []string{n.Hdr.Name, n.NextDomain} {
			if dns.CompareDomainName(x, name) != 3 {
				t.Errorf("%s: NSEC name %s shares %d labels with the query, want 3 (the closest encloser)", name, x, dns.CompareDomainName(x, name))
			}
		}
		// And the wildcard node itself is not covered.
		if zonemodel.CanonicalLess(n.Hdr.Name, "*.wild.example.test.") && zonemodel.CanonicalLess("*.wild.example.test.", n.NextDomain) {
			t.Errorf("%s: NSEC covers the wildcard", name)
		}
	}
	// Wildcard NODATA: a NODATA at the name with the wildcard's types.
	m := ask(t, z, "foo.wild.example.test.", dns.TypeMX, false)
	nsecs := verifySection(t, z, m.Ns)
	if len(nsecs) != 1 || nsecs[0].Hdr.Name != "foo.wild.example.test." || types(nsecs[0].TypeBitMap...) != "A TXT RRSIG NSEC" {
		t.Fatalf("wildcard NODATA: %v", nsecs)
	}
}

func TestSignatureCache(t *testing.T) {
	z, m := testSigner(t, SchemeCSK, dns.ECDSAP256SHA256)
	a := ask(t, z, "www.example.test.", dns.TypeA, false)
	b := ask(t, z, "www.example.test.", dns.TypeA, false)
	if a.Answer[1] != b.Answer[1] {
		t.Error("the second answer was signed again")
	}
	n1 := ask(t, z, "nothere.example.test.", dns.TypeA, false)
	n2 := ask(t, z, "nothere.example.test.", dns.TypeA, false)
	if n1.Ns[len(n1.Ns)-1] != n2.Ns[len(n2.Ns)-1] {
		t.Error("the denial was signed again")
	}
	// A key change makes every cached signature stale.
	old := m.signer.ks.Load()
	nks := *old
	m.signer.setKeys(&nks)
	c := ask(t, z, "www.example.test.", dns.TypeA, false)
	if c.Answer[1] == a.Answer[1] {
		t.Error("a cached signature survived a key change")
	}
	// A changed RRset gets new signatures: the old ones died with it.
	src := z.Source("file")
	if err := src.Update(nil, func(tx *zonemodel.Tx) error {
		rr, _ := dns.NewRR("www.example.test. 3600 IN A 192.0.2.11")
		tx.Add(rr)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	d := ask(t, z, "www.example.test.", dns.TypeA, false)
	if len(d.Answer) != 3 {
		t.Fatalf("after the change: %v", d.Answer)
	}
	verifySection(t, z, d.Answer)
}

func TestCacheBounds(t *testing.T) {
	z, m := testSigner(t, SchemeCSK, dns.ECDSAP256SHA256)
	m.signer.configure(zoneConfig{origin: m.origin, sig: m.cfg.sig, cacheSet: 3, cacheDen: 32})
	for _, n := range []string{"www", "mail", "ns1", "alias", "a.b.ent"} {
		ask(t, z, n+".example.test.", dns.TypeA, false)
	}
	if n := m.signer.ring.len(); n > 3 {
		t.Errorf("%d RRset cache slots, bound 3", n)
	}
	cached := 0
	z.View("").Snapshot().Each(func(s *zonemodel.RRset) bool {
		if s.Aux() != nil {
			cached++
		}
		return true
	})
	if cached > 3 {
		t.Errorf("%d RRsets carry signatures, bound 3", cached)
	}
	for i := range 200 {
		ask(t, z, "nx"+string(rune('a'+i%26))+strings.Repeat("x", i/26)+".example.test.", dns.TypeA, false)
	}
	if n := m.signer.den.len(); n > 32 {
		t.Errorf("%d denial cache entries, bound 32", n)
	}
}

func TestFailClosed(t *testing.T) {
	z, m := testSigner(t, SchemeCSK, dns.ECDSAP256SHA256)
	m.signer.setKeys(&keySet{signer: "example.test."})
	req := new(dns.Msg)
	req.SetQuestion("www.example.test.", dns.TypeA)
	req.SetEdns0(1232, true)
	v := z.View("")
	resp := v.Snapshot().Lookup("www.example.test.", dns.TypeA, zonemodel.Options{DO: true})
	if err := z.Signer().Render(context.Background(), v, req, resp, new(dns.Msg)); err == nil {
		t.Fatal("rendering without keys must fail (the caller answers SERVFAIL)")
	}
}

// failingKey is a private key that cannot sign (an HSM gone, a key file
// that no longer matches): every signature fails.
type failingKey struct{ crypto.Signer }

func (failingKey) Sign(io.Reader, []byte, crypto.SignerOpts) ([]byte, error) {
	return nil, errors.New("key unusable")
}

// With keys that cannot sign, every kind of answer fails to render (the
// caller, authzone, then answers SERVFAIL: plugin/authzone
// TestSigningFailureIsServfail), whether or not signatures were cached
// before, and each failure is counted.
func TestFailClosedUnusableKey(t *testing.T) {
	z, m := testSigner(t, SchemeSplit, dns.ECDSAP256SHA256)
	queries := []struct {
		name  string
		qtype uint16
	}{
		{"www.example.test.", dns.TypeA},
		{"www.example.test.", dns.TypeMX},
		{"nope.example.test.", dns.TypeA},
		{"x.wild.example.test.", dns.TypeA},
		{"ent.example.test.", dns.TypeA},
		{"alias.example.test.", dns.TypeA},
		{"example.test.", dns.TypeDNSKEY},
		{"example.test.", dns.TypeSOA},
		{"www.example.test.", dns.TypeRRSIG},
		{"secure.example.test.", dns.TypeDS},
		{"sub.example.test.", dns.TypeDS},
	}
	for _, q := range queries {
		ask(t, z, q.name, q.qtype, false) // cache the good signatures
	}
	ks := m.signer.ks.Load()
	broken := func(keys []*signingKey) []*signingKey {
		var out []*signingKey
		for _, k := range keys {
			c := *k.key
			c.Signer = failingKey{k.key.Signer}
			out = append(out, &signingKey{key: &c, tag: k.tag, alg: k.alg})
		}
		return out
	}
	m.signer.setKeys(&keySet{id: ks.id + "-broken", signer: ks.signer, zone: broken(ks.zone), keys: broken(ks.keys)})
	before := counterValue(t, m.signer.failures)
	for _, q := range queries {
		for _, co := range []bool{false, true} {
			req := new(dns.Msg)
			req.SetQuestion(q.name, q.qtype)
			req.SetEdns0(1232, true)
			if co {
				req.IsEdns0().SetCo()
			}
			v := z.View("")
			resp := v.Snapshot().Lookup(q.name, q.qtype, zonemodel.Options{DO: true})
			if err := z.Signer().Render(context.Background(), v, req, resp, new(dns.Msg)); err == nil {
				t.Errorf("%s/%s (CO %v): rendered with keys that cannot sign", q.name, dns.TypeToString[q.qtype], co)
			}
		}
	}
	if n := counterValue(t, m.signer.failures) - before; n < float64(len(queries)) {
		t.Errorf("failures counted %v, want at least %d", n, len(queries))
	}
}

func TestCoverNames(t *testing.T) {
	for _, tc := range []struct{ q, ce string }{
		{"b.wild.example.test.", "wild.example.test."},
		{"x.y.b.wild.example.test.", "wild.example.test."},
		{"\\000.wild.example.test.", "wild.example.test."},
		{"a\\000.wild.example.test.", "wild.example.test."},
		{"\\[.wild.example.test.", "wild.example.test."},
		{"\\@.wild.example.test.", "wild.example.test."},
		{"\\255\\255.wild.example.test.", "wild.example.test."},
	} {
		owner, next, err := cover(nil, tc.q, tc.ce)
		if err != nil {
			t.Fatalf("%s: %v", tc.q, err)
		}
		nc := tc.q
		for dns.CountLabel(nc) > dns.CountLabel(tc.ce)+1 {
			nc = zonemodel.Parent(nc)
		}
		if !zonemodel.CanonicalLess(owner, nc) || !zonemodel.CanonicalLess(nc, next) {
			t.Errorf("%s: %s -> %s does not cover %s", tc.q, owner, next, nc)
		}
		if _, ok := dns.IsDomainName(owner); !ok {
			t.Errorf("%s: owner %q is not a name", tc.q, owner)
		}
		for _, x := range []string{owner, next} {
			if wireLen(x) > 255 {
				t.Errorf("%s: %s longer than 255 octets", tc.q, x)
			}
		}
	}
	long := strings.Repeat("a", 63) + "." + strings.Repeat("b", 63) + "." + strings.Repeat("c", 63) + ".example.test."
	if s, err := successor(long); err != nil || !zonemodel.CanonicalLess(long, s) || wireLen(s) > 255 {
		t.Errorf("successor of a long name: %s %v", s, err)
	}
}
