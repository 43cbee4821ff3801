package secondary

import (
	"errors"
	"strings"

	"github.com/dnspki/dnspki/plugin/pkg/metric"
	"github.com/dnspki/dnspki/plugin/pkg/zonemodel"

	"github.com/miekg/dns"

	"github.com/dnspki/dnspki/plugin/pkg/zonemd"
)

// Zone digests (RFC 8976): a zone with 'zone-digest' gets a ZONEMD the
// model computes (plugin/pkg/zonemodel, digest.go); a secondary verifies
// the ZONEMD of every transfer that carries one.

var zonemdIn = metric.CounterVec("zonemd_verify_total", "ZONEMD verifications of transferred zones, per zone, primary and result (verified, mismatch, absent, unsupported). A mismatch refuses the transfer: the zone held before keeps serving.", "zone", "peer", "result")

// verifyDigest checks a transferred zone (the primary's records as they
// stand after the transfer res, in tx) against its ZONEMD. A zone without
// one, or with only schemes and algorithms dnspki does not support, passes.
// The zone's records are gathered only when its apex has a ZONEMD: an IXFR
// of a large zone without one costs nothing here.
func verifyDigest(origin, peer string, tx *zonemodel.Tx, res *Result) error {
	var err error
	if hasApexDigest(origin, tx, res) {
		err = zonemd.Verify(origin, tx.All(""))
	} else {
		err = zonemd.ErrNoZONEMD
	}
	var m *zonemd.Mismatch
	switch {
	case err == nil:
		zonemdIn.WithLabelValues(origin, peer, "verified").Inc()
		log.Debugf("zone %s: ZONEMD from %s verified", origin, peer)
		return nil
	case errors.Is(err, zonemd.ErrNoZONEMD):
		zonemdIn.WithLabelValues(origin, peer, "absent").Inc()
		return nil
	case errors.Is(err, zonemd.ErrUnsupported):
		zonemdIn.WithLabelValues(origin, peer, "unsupported").Inc()
		log.Infof("zone %s: transfer from %s: %v; not verified", origin, peer, err)
		return nil
	case errors.As(err, &m):
		zonemdIn.WithLabelValues(origin, peer, "mismatch").Inc()
		log.Errorf("zone %s: transfer from %s refused: %v; keeping the zone held before", origin, peer, err)
		return err
	}
	return err
}

// hasApexDigest reports whether the zone as the transfer leaves it has a
// ZONEMD at its apex: for an AXFR, among the records transferred (not
// through tx, which would index the whole zone staged in bulk); for an
// IXFR, in tx.
func hasApexDigest(origin string, tx *zonemodel.Tx, res *Result) bool {
	if res.Kind != "axfr" {
		return len(tx.Records("", origin, dns.TypeZONEMD)) > 0
	}
	for _, rr := range res.All {
		if h := rr.Header(); h.Rrtype == dns.TypeZONEMD && strings.EqualFold(h.Name, origin) {
			return true
		}
	}
	return false
}
