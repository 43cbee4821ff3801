package onlinesign

import (
	"fmt"
	"time"

	"github.com/miekg/dns"

	"github.com/dnspki/dnspki/plugin/pkg/zonemd"
	"github.com/dnspki/dnspki/plugin/pkg/zonemodel"
)

// digestSigned gives a signed zone (for `signed` transfers) the ZONEMD of
// what it is: RFC 8976 digests every record a secondary receives, the
// signatures and the NSEC/NSEC3 chain included, so the model's digest of
// the unsigned view (zonemodel, digest.go) is computed again over the
// signed records, with the same serial and hash, and signed. A view
// without a model digest is returned as it is. rrs is not modified.
func (s *signer) digestSigned(rrs []dns.RR, snap *zonemodel.Snapshot, ks *keySet, now time.Time) ([]dns.RR, int64, error) {
	md := snap.Digest()
	if md == nil {
		return rrs, 1<<63 - 1, nil
	}
	sum, err := zonemd.Compute(snap.Origin, rrs, md.Hash)
	if err != nil {
		return nil, 0, fmt.Errorf("zone digest of the signed zone: %w", err)
	}
	nmd := zonemd.Record(snap.Origin, md.Hdr.Ttl, md.Serial, md.Hash, sum)
	keys := ks.forType(dns.TypeZONEMD)
	if len(keys) == 0 {
		return nil, 0, fmt.Errorf("no key signs ZONEMD")
	}
	inc, exp, refresh := s.validity(now)
	out := make([]dns.RR, 0, len(rrs))
	placed := false
	for _, rr := range rrs {
		h := rr.Header()
		apex := h.Name == snap.Origin
		sig, isSig := rr.(*dns.RRSIG)
		if apex && (h.Rrtype == dns.TypeZONEMD || (isSig && sig.TypeCovered == dns.TypeZONEMD)) {
			if placed {
				continue
			}
			placed = true
			out = append(out, nmd)
			for _, k := range keys {
				sig, err := sign(k, ks.signer, []dns.RR{nmd}, inc, exp, true)
				if err != nil {
					s.failures.Inc()
					return nil, 0, err
				}
				out = append(out, sig)
			}
			continue
		}
		out = append(out, rr)
	}
	return out, refresh, nil
}
