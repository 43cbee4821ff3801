package onlinesign

import (
	"strconv"

	"github.com/coredns/coredns/plugin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

var (
	signatures = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace, Subsystem: "dnspki",
		Name: "onlinesign_signatures_total", Help: "RRSIGs made, per zone and kind (rrset: zone data, denial: NSEC of a denial, chain: NSEC/NSEC3 chain of signed transfers).",
	}, []string{"zone", "kind"})
	cacheLookups = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace, Subsystem: "dnspki",
		Name: "onlinesign_cache_lookups_total", Help: "Signature cache lookups, per zone, kind (rrset, denial) and result (hit, miss).",
	}, []string{"zone", "kind", "result"})
	cacheEntries = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: plugin.Namespace, Subsystem: "dnspki",
		Name: "onlinesign_cache_entries", Help: "Signature cache entries, per zone and kind (rrset, denial).",
	}, []string{"zone", "kind"})
	cacheBytes = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: plugin.Namespace, Subsystem: "dnspki",
		Name: "onlinesign_cache_bytes", Help: "Memory of the signature cache entries (estimated), per zone and kind (rrset, denial).",
	}, []string{"zone", "kind"})
	signFailures = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace, Subsystem: "dnspki",
		Name: "onlinesign_failures_total", Help: "Answers that could not be signed (answered SERVFAIL), per zone.",
	}, []string{"zone"})
	keyInfo = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: plugin.Namespace, Subsystem: "dnspki",
		Name: "onlinesign_key", Help: "The zone's keys (1 per key) and what each does.",
	}, []string{"zone", "tag", "algorithm", "role", "published", "signs", "cds"})
	rolloverStep = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: plugin.Namespace, Subsystem: "dnspki",
		Name: "onlinesign_rollover_step", Help: "Step of each rollover in progress, per zone and kind (zsk, ksk, csk, keyset); absent when none runs.",
	}, []string{"zone", "kind"})
	rolloverWaitingDS = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: plugin.Namespace, Subsystem: "dnspki",
		Name: "onlinesign_rollover_waiting_ds", Help: "1 while a rollover waits for the new DS at the parent.",
	}, []string{"zone"})
	signedZones = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace, Subsystem: "dnspki",
		Name: "onlinesign_signed_zones_total", Help: "Signed zones asked for by signed transfers, per zone and result (cached, built, failed).",
	}, []string{"zone", "result"})
	signedZoneSeconds = promauto.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: plugin.Namespace, Subsystem: "dnspki",
		Name: "onlinesign_signed_zone_duration_seconds", Help: "Time to build a signed zone for a signed transfer, per zone.",
		Buckets: prometheus.ExponentialBuckets(0.001, 4, 10),
	}, []string{"zone"})
	signedZoneRefresh = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: plugin.Namespace, Subsystem: "dnspki",
		Name: "onlinesign_signed_zone_refresh_timestamp_seconds", Help: "When the last signed zone transferred needs fresh signatures (the view then gets a new serial), per zone and view.",
	}, []string{"zone", "view"})
	signedZoneBumps = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace, Subsystem: "dnspki",
		Name: "onlinesign_signed_zone_bumps_total", Help: "New serials given to a view so that signed-transfer secondaries fetch fresh signatures, per zone and view.",
	}, []string{"zone", "view"})
	rolloverErrors = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace, Subsystem: "dnspki",
		Name: "onlinesign_rollover_errors_total", Help: "Key state changes that failed (retried), per zone.",
	}, []string{"zone"})
)

func updateKeyMetrics(zone string, st *State) {
	keyInfo.DeletePartialMatch(prometheus.Labels{"zone": zone})
	for _, k := range st.Keys {
		signs := ""
		if k.SignsKeys {
			signs += "keys"
		}
		if k.SignsZone {
			if signs != "" {
				signs += "+"
			}
			signs += "zone"
		}
		keyInfo.WithLabelValues(zone, strconv.Itoa(int(k.Tag)), strconv.Itoa(int(k.Algorithm)), k.Role,
			strconv.FormatBool(k.Published), signs, strconv.FormatBool(k.CDS)).Set(1)
	}
	rolloverStep.DeletePartialMatch(prometheus.Labels{"zone": zone})
	waiting := 0.0
	for _, r := range st.Rolls {
		rolloverStep.WithLabelValues(zone, r.Kind).Set(float64(r.Step))
		if r.Due.IsZero() {
			waiting = 1
		}
	}
	rolloverWaitingDS.WithLabelValues(zone).Set(waiting)
}
