package onlinesign

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/dnspki/dnspki/plugin/pkg/zonemodel"
)

type setKey struct {
	name string
	t    uint16
}

// checkSignedZone verifies a signed zone as a secondary would hold it: the
// SOA first with the snapshot's serial, every authoritative RRset signed by
// the zone's keys with the RRset TTL as the original TTL, NS at cuts and
// glue unsigned, nothing signed twice by one key. It returns the RRsets by
// name and type (RRSIGs apart).
func checkSignedZone(t *testing.T, z *zonemodel.Zone, rrs []dns.RR, unsigned map[setKey]bool) map[setKey][]dns.RR {
	t.Helper()
	snap := z.View("").Snapshot()
	soa, ok := rrs[0].(*dns.SOA)
	if !ok || soa.Serial != snap.Serial {
		t.Fatalf("first record %v, want the SOA with serial %d", rrs[0], snap.Serial)
	}
	sets := map[setKey][]dns.RR{}
	sigs := map[setKey][]*dns.RRSIG{}
	for _, rr := range rrs {
		h := rr.Header()
		if s, ok := rr.(*dns.RRSIG); ok {
			k := setKey{h.Name, s.TypeCovered}
			sigs[k] = append(sigs[k], s)
			continue
		}
		k := setKey{h.Name, h.Rrtype}
		sets[k] = append(sets[k], rr)
	}
	keys := map[uint16]*dns.DNSKEY{}
	for _, rr := range sets[setKey{"example.test.", dns.TypeDNSKEY}] {
		keys[rr.(*dns.DNSKEY).KeyTag()] = rr.(*dns.DNSKEY)
	}
	if len(keys) == 0 {
		t.Fatal("no DNSKEY in the signed zone")
	}
	now := time.Now()
	for k, set := range sets {
		ss := sigs[k]
		if unsigned[k] {
			if len(ss) > 0 {
				t.Errorf("%s/%s is not authoritative but signed", k.name, dns.TypeToString[k.t])
			}
			continue
		}
		if len(ss) == 0 {
			t.Errorf("%s/%s has no RRSIG", k.name, dns.TypeToString[k.t])
		}
		seen := map[uint16]bool{}
		for _, s := range ss {
			dk := keys[s.KeyTag]
			if dk == nil {
				t.Errorf("%s/%s signed by unknown key %d", k.name, dns.TypeToString[k.t], s.KeyTag)
				continue
			}
			if seen[s.KeyTag] {
				t.Errorf("%s/%s signed twice by key %d", k.name, dns.TypeToString[k.t], s.KeyTag)
			}
			seen[s.KeyTag] = true
			if s.OrigTtl != set[0].Header().Ttl || s.Hdr.Ttl != set[0].Header().Ttl {
				t.Errorf("%s/%s: RRSIG TTL %d original TTL %d, want the RRset TTL %d", k.name, dns.TypeToString[k.t], s.Hdr.Ttl, s.OrigTtl, set[0].Header().Ttl)
			}
			if err := s.Verify(dk, set); err != nil {
				t.Errorf("%s/%s: RRSIG does not verify: %v", k.name, dns.TypeToString[k.t], err)
			}
			if !s.ValidityPeriod(now) {
				t.Errorf("%s/%s: RRSIG not valid now", k.name, dns.TypeToString[k.t])
			}
		}
	}
	for k := range sigs {
		if sets[k] == nil {
			t.Errorf("RRSIG over %s/%s, which is not in the zone", k.name, dns.TypeToString[k.t])
		}
	}
	return sets
}

// testUnsigned are the non-authoritative RRsets of the test zone.
var testUnsigned = map[setKey]bool{
	{"sub.example.test.", dns.TypeNS}:      true,
	{"ns.sub.example.test.", dns.TypeA}:    true,
	{"secure.example.test.", dns.TypeNS}:   true,
	{"ns.secure.example.test.", dns.TypeA}: true,
}

func getSigned(t *testing.T, z *zonemodel.Zone, m *manager) []dns.RR {
	t.Helper()
	v := z.View("")
	rrs, err := m.signer.SignedZone(context.Background(), v, v.Snapshot())
	if err != nil {
		t.Fatal(err)
	}
	if os.Getenv("DNSPKI_DUMP_SIGNED") != "" {
		var b strings.Builder
		for _, rr := range rrs {
			b.WriteString(rr.String() + "\n")
		}
		os.WriteFile(os.Getenv("DNSPKI_DUMP_SIGNED"), []byte(b.String()), 0o644)
	}
	return rrs
}

func TestSignedZoneNSECChain(t *testing.T) {
	for _, scheme := range []string{SchemeCSK, SchemeSplit} {
		t.Run(scheme, func(t *testing.T) {
			z, m := testSigner(t, scheme, dns.ECDSAP256SHA256)
			rrs := getSigned(t, z, m)
			sets := checkSignedZone(t, z, rrs, testUnsigned)

			// The chain: every name with authoritative data and every cut,
			// in canonical order, closing at the apex; no empty
			// non-terminal, nothing below a cut.
			want := []struct {
				name  string
				types []uint16
			}{
				{"example.test.", []uint16{dns.TypeNS, dns.TypeSOA, dns.TypeMX, dns.TypeRRSIG, dns.TypeNSEC, dns.TypeDNSKEY, dns.TypeCDS, dns.TypeCDNSKEY}},
				{"alias.example.test.", []uint16{dns.TypeCNAME, dns.TypeRRSIG, dns.TypeNSEC}},
				{"a.b.ent.example.test.", []uint16{dns.TypeA, dns.TypeRRSIG, dns.TypeNSEC}},
				{"mail.example.test.", []uint16{dns.TypeA, dns.TypeRRSIG, dns.TypeNSEC}},
				{"ns1.example.test.", []uint16{dns.TypeA, dns.TypeRRSIG, dns.TypeNSEC}},
				{"secure.example.test.", []uint16{dns.TypeNS, dns.TypeDS, dns.TypeRRSIG, dns.TypeNSEC}},
				{"sub.example.test.", []uint16{dns.TypeNS, dns.TypeRRSIG, dns.TypeNSEC}},
				{"*.wild.example.test.", []uint16{dns.TypeA, dns.TypeTXT, dns.TypeRRSIG, dns.TypeNSEC}},
				{"www.example.test.", []uint16{dns.TypeA, dns.TypeTXT, dns.TypeRRSIG, dns.TypeNSEC, dns.TypeCAA}},
			}
			var got []*dns.NSEC
			for _, rr := range rrs {
				if n, ok := rr.(*dns.NSEC); ok {
					got = append(got, n)
				}
			}
			if len(got) != len(want) {
				t.Fatalf("%d NSEC records, want %d: %v", len(got), len(want), got)
			}
			for i, w := range want {
				n := sets[setKey{w.name, dns.TypeNSEC}]
				if len(n) != 1 {
					t.Fatalf("no NSEC at %s", w.name)
				}
				nsec := n[0].(*dns.NSEC)
				next := want[(i+1)%len(want)].name
				if nsec.NextDomain != next {
					t.Errorf("NSEC %s -> %s, want -> %s", w.name, nsec.NextDomain, next)
				}
				wt := slices.Clone(w.types)
				slices.Sort(wt)
				if !slices.Equal(nsec.TypeBitMap, wt) {
					t.Errorf("NSEC %s bitmap %s, want %s", w.name, types(nsec.TypeBitMap...), types(wt...))
				}
				if nsec.Hdr.Ttl != 300 {
					t.Errorf("NSEC %s TTL %d, want 300 (min of SOA TTL and MINIMUM, RFC 9077)", w.name, nsec.Hdr.Ttl)
				}
			}
			// DNSKEY, CDS and CDNSKEY signed by the KSK/CSK only.
			if scheme == SchemeSplit {
				var ksk uint16
				for _, rr := range sets[setKey{"example.test.", dns.TypeDNSKEY}] {
					if rr.(*dns.DNSKEY).Flags&dns.SEP != 0 {
						ksk = rr.(*dns.DNSKEY).KeyTag()
					}
				}
				for _, rr := range rrs {
					if s, ok := rr.(*dns.RRSIG); ok {
						isKey := s.TypeCovered == dns.TypeDNSKEY || s.TypeCovered == dns.TypeCDS || s.TypeCovered == dns.TypeCDNSKEY
						if isKey != (s.KeyTag == ksk) {
							t.Errorf("RRSIG over %s/%s by key %d (KSK %d)", s.Hdr.Name, dns.TypeToString[s.TypeCovered], s.KeyTag, ksk)
						}
					}
				}
			}
		})
	}
}

func TestSignedZoneNSEC3Chain(t *testing.T) {
	z, m := testSigner(t, SchemeCSK, dns.ECDSAP256SHA256)
	c := *m.signer.cfg.Load()
	c.chain = chainNSEC3
	m.signer.cfg.Store(&c)
	rrs := getSigned(t, z, m)
	sets := checkSignedZone(t, z, rrs, testUnsigned)
	if p := sets[setKey{"example.test.", dns.TypeNSEC3PARAM}]; len(p) != 1 || p[0].(*dns.NSEC3PARAM).Iterations != 0 || p[0].(*dns.NSEC3PARAM).SaltLength != 0 {
		t.Fatalf("NSEC3PARAM %v, want one with no iterations and no salt (RFC 9276)", p)
	}
	want := map[string][]uint16{
		"example.test.":         {dns.TypeNS, dns.TypeSOA, dns.TypeMX, dns.TypeRRSIG, dns.TypeDNSKEY, dns.TypeNSEC3PARAM, dns.TypeCDS, dns.TypeCDNSKEY},
		"alias.example.test.":   {dns.TypeCNAME, dns.TypeRRSIG},
		"ent.example.test.":     nil, // empty non-terminals have NSEC3 records
		"b.ent.example.test.":   nil,
		"a.b.ent.example.test.": {dns.TypeA, dns.TypeRRSIG},
		"mail.example.test.":    {dns.TypeA, dns.TypeRRSIG},
		"ns1.example.test.":     {dns.TypeA, dns.TypeRRSIG},
		"secure.example.test.":  {dns.TypeNS, dns.TypeDS, dns.TypeRRSIG},
		"sub.example.test.":     {dns.TypeNS}, // insecure delegation: NS only
		"wild.example.test.":    nil,
		"*.wild.example.test.":  {dns.TypeA, dns.TypeTXT, dns.TypeRRSIG},
		"www.example.test.":     {dns.TypeA, dns.TypeTXT, dns.TypeRRSIG, dns.TypeCAA},
	}
	var hashes []string
	byHash := map[string]*dns.NSEC3{}
	for _, rr := range rrs {
		if n, ok := rr.(*dns.NSEC3); ok {
			h := strings.ToUpper(strings.SplitN(n.Hdr.Name, ".", 2)[0])
			hashes = append(hashes, h)
			byHash[h] = n
			if n.Hdr.Ttl != 300 || n.Iterations != 0 || n.SaltLength != 0 || n.Flags != 0 {
				t.Errorf("NSEC3 %s: TTL %d iterations %d salt %q flags %d", n.Hdr.Name, n.Hdr.Ttl, n.Iterations, n.Salt, n.Flags)
			}
		}
	}
	if len(hashes) != len(want) {
		t.Fatalf("%d NSEC3 records, want %d", len(hashes), len(want))
	}
	sorted := slices.Clone(hashes)
	slices.Sort(sorted)
	for i, h := range sorted {
		if next := sorted[(i+1)%len(sorted)]; byHash[h].NextDomain != next {
			t.Errorf("NSEC3 %s -> %s, want -> %s", h, byHash[h].NextDomain, next)
		}
	}
	for name, wt := range want {
		n := byHash[dns.HashName(name, dns.SHA1, 0, "")]
		if n == nil {
			t.Errorf("no NSEC3 for %s", name)
			continue
		}
		wt = slices.Clone(wt)
		slices.Sort(wt)
		if !slices.Equal(n.TypeBitMap, wt) && !(len(wt) == 0 && len(n.TypeBitMap) == 0) {
			t.Errorf("NSEC3 of %s: bitmap %s, want %s", name, types(n.TypeBitMap...), types(wt...))
		}
	}
}

// TestSignedZoneCache: the same snapshot gives the same signed zone without
// signing; a change re-signs only what changed (and the chain around it).
func TestSignedZoneCache(t *testing.T) {
	z, m := testSigner(t, SchemeCSK, dns.ECDSAP256SHA256)
	first := getSigned(t, z, m)
	made := func() float64 { return counterValue(t, m.signer.sigSet) + counterValue(t, m.signer.sigChain) }
	before := made()
	again := getSigned(t, z, m)
	if &again[0] != &first[0] || made() != before {
		t.Fatal("the same snapshot was signed again")
	}
	if err := z.Source("file").Update(nil, func(tx *zonemodel.Tx) error {
		tx.Add(mustRR(t, "new.example.test. 60 IN TXT \"fresh\""))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	before = made()
	rrs := getSigned(t, z, m)
	checkSignedZone(t, z, rrs, testUnsigned)
	// New: SOA (serial), the TXT, the NSEC of new and of its predecessor;
	// the online signer's background worker may sign the SOA and the TXT
	// at the same time.
	if n := made() - before; n > 6 {
		t.Fatalf("%v signatures made after a one-record change, want at most 6", n)
	}
	var found bool
	for _, rr := range rrs {
		if n, ok := rr.(*dns.NSEC); ok && n.Hdr.Name == "mail.example.test." {
			found = n.NextDomain == "new.example.test." || found
		}
	}
	if !found {
		t.Fatal("the chain does not lead to the new name")
	}
}

func mustRR(t testing.TB, s string) dns.RR {
	t.Helper()
	rr, err := dns.NewRR(s)
	if err != nil {
		t.Fatal(err)
	}
	return rr
}

// TestSignedZoneRefreshBumpsSerial: when the signatures of the zone the
// secondaries hold come to their refresh time, or other keys sign, the view
// gets a new serial (once), unless a newer serial is pending anyway.
func TestSignedZoneRefreshBumpsSerial(t *testing.T) {
	z, m := testSigner(t, SchemeCSK, dns.ECDSAP256SHA256)
	v := z.View("")
	getSigned(t, z, m)
	m.chainMu.Lock()
	mk := m.marks["default"]
	m.chainMu.Unlock()
	if mk == nil || !mk.known || mk.serial != v.Snapshot().Serial {
		t.Fatalf("mark %+v", mk)
	}
	c := m.signer.cfg.Load()
	if min := time.Now().Add(chainHorizon(c)).Unix(); mk.Refresh < min {
		t.Fatalf("signed zone fresh until %d, want at least %d (now + horizon)", mk.Refresh, min)
	}
	if m.src.Meta(chainMetaPrefix+"default") == nil {
		t.Fatal("mark not stored")
	}
	serial := v.Snapshot().Serial
	if next := m.checkChains(time.Now()); next.Unix() != mk.Refresh {
		t.Fatalf("next check at %v, want the refresh time %d", next, mk.Refresh)
	}
	if v.Snapshot().Serial != serial {
		t.Fatal("bumped before the refresh time")
	}
	m.checkChains(time.Unix(mk.Refresh, 0))
	if got := v.Snapshot().Serial; got != serial+1 {
		t.Fatalf("serial %d at the refresh time, want %d", got, serial+1)
	}
	if m.src.Meta(chainMetaPrefix+"default") != nil {
		t.Fatal("the stored mark must go with the bump")
	}
	m.checkChains(time.Unix(mk.Refresh+10, 0))
	if got := v.Snapshot().Serial; got != serial+1 {
		t.Fatalf("bumped twice: serial %d", got)
	}

	// The next signed zone is a new mark; a change of the signing keys
	// bumps at once.
	getSigned(t, z, m)
	serial = v.Snapshot().Serial
	ks := *m.signer.ks.Load()
	ks.id += " new"
	m.signer.setKeys(&ks)
	m.checkChains(time.Now())
	if got := v.Snapshot().Serial; got != serial+1 {
		t.Fatalf("serial %d after a key change, want %d", got, serial+1)
	}

	// A newer serial already pending: no bump.
	getSigned(t, z, m)
	if err := z.Source("file").Update(nil, func(tx *zonemodel.Tx) error {
		tx.Add(mustRR(t, "other.example.test. 60 IN TXT \"x\""))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	serial = v.Snapshot().Serial
	m.chainMu.Lock()
	mk = m.marks["default"]
	m.chainMu.Unlock()
	m.checkChains(time.Unix(mk.Refresh, 0))
	if got := v.Snapshot().Serial; got != serial {
		t.Fatalf("serial %d, want %d: a newer serial was pending", got, serial)
	}

	// A mark read at start (serial unknown) bumps when due.
	getSigned(t, z, m)
	m.chainMu.Lock()
	m.marks = nil
	m.chainMu.Unlock()
	m.loadMarks(m.src)
	m.chainMu.Lock()
	mk = m.marks["default"]
	m.chainMu.Unlock()
	if mk == nil || mk.known {
		t.Fatalf("stored mark %+v", mk)
	}
	serial = v.Snapshot().Serial
	m.checkChains(time.Unix(mk.Refresh-1, 0))
	if v.Snapshot().Serial != serial {
		t.Fatal("bumped early")
	}
	m.checkChains(time.Unix(mk.Refresh, 0))
	if got := v.Snapshot().Serial; got != serial+1 {
		t.Fatalf("serial %d, want %d", got, serial+1)
	}
}

func counterValue(t testing.TB, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}
