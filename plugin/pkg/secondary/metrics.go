package secondary

import (
	"github.com/dnspki/dnspki/plugin/pkg/metric"
)

// The metrics of secondary zones (names unchanged since they lived in
// authzone: contrib/'s alerts use them).
var (
	xfrInTotal       = metric.CounterVec("xfr_in_total", "Refreshes of secondary zones, per zone, primary, kind (soa, axfr, ixfr, uptodate) and result (ok, error).", "zone", "peer", "kind", "result")
	xfrExpired       = metric.GaugeVec("xfr_secondary_expired", "1 while a secondary zone is expired (answers SERVFAIL), else 0.", "zone")
	xfrPrimarySerial = metric.GaugeVec("xfr_secondary_primary_serial", "The primary's SOA serial of the data a secondary zone holds.", "zone")
	xfrLastRefresh   = metric.GaugeVec("xfr_secondary_last_refresh_timestamp_seconds", "Unix time of a secondary zone's last successful refresh.", "zone")
)
