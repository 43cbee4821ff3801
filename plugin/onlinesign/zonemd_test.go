package onlinesign

import (
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/dnspki/dnspki/plugin/pkg/zonemd"
	"github.com/dnspki/dnspki/plugin/pkg/zonemodel"
)

// The zone digest is signed like any RRset: online (a ZONEMD query with DO
// gets it with a valid RRSIG), and in signed transfers, where it is the
// digest of the signed zone as transferred (signatures and chain
// included), verified independently, signed, serial equal to the SOA's.
func TestZoneDigestSigned(t *testing.T) {
	for _, chain := range []string{"nsec", "nsec3"} {
		t.Run(chain, func(t *testing.T) {
			z, m := testSigner(t, SchemeCSK, dns.ECDSAP256SHA256, func(c *zonemodel.Config) { c.Digest = zonemd.HashSHA384 })
			if chain == "nsec3" {
				cfg := *m.signer.cfg.Load()
				cfg.chain = chainNSEC3
				m.signer.cfg.Store(&cfg)
			}
			snap := z.View("").Snapshot()
			online := snap.Digest()
			if online == nil {
				t.Fatal("no ZONEMD in the model")
			}
			r := ask(t, z, "example.test.", dns.TypeZONEMD, false)
			if len(r.Answer) != 2 {
				t.Fatalf("ZONEMD answer: %v", r.Answer)
			}
			verifySection(t, z, r.Answer)

			rrs := getSigned(t, z, m)
			checkSignedZone(t, z, rrs, testUnsigned)
			if err := zonemd.Verify("example.test.", rrs); err != nil {
				t.Fatalf("signed zone: %v", err)
			}
			var md *dns.ZONEMD
			for _, rr := range rrs {
				if x, ok := rr.(*dns.ZONEMD); ok {
					md = x
				}
			}
			if md == nil || md.Serial != snap.Serial || strings.EqualFold(md.Digest, online.Digest) {
				t.Fatalf("signed zone's ZONEMD %v (the unsigned view's %v)", md, online)
			}
		})
	}
}
