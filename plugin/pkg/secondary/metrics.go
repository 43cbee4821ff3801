package secondary

import (
	"github.com/coredns/coredns/plugin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// The metrics of secondary zones (names unchanged since they lived in
// authzone: contrib/'s alerts use them).
var (
	xfrInTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace, Subsystem: "dnspki",
		Name: "xfr_in_total",
		Help: "Refreshes of secondary zones, per zone, primary, kind (soa, axfr, ixfr, uptodate) and result (ok, error).",
	}, []string{"zone", "peer", "kind", "result"})
	xfrExpired = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: plugin.Namespace, Subsystem: "dnspki",
		Name: "xfr_secondary_expired", Help: "1 while a secondary zone is expired (answers SERVFAIL), else 0.",
	}, []string{"zone"})
	xfrPrimarySerial = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: plugin.Namespace, Subsystem: "dnspki",
		Name: "xfr_secondary_primary_serial", Help: "The primary's SOA serial of the data a secondary zone holds.",
	}, []string{"zone"})
	xfrLastRefresh = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: plugin.Namespace, Subsystem: "dnspki",
		Name: "xfr_secondary_last_refresh_timestamp_seconds", Help: "Unix time of a secondary zone's last successful refresh.",
	}, []string{"zone"})
)
