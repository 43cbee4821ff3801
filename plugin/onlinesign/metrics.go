package onlinesign

import (
	"strconv"

	"github.com/dnspki/dnspki/plugin/pkg/metric"

	"github.com/prometheus/client_golang/prometheus"
)

var (
	signatures        = metric.CounterVec("onlinesign_signatures_total", "RRSIGs made, per zone and kind (rrset: zone data, denial: NSEC of a denial, chain: NSEC/NSEC3 chain of signed transfers).", "zone", "kind")
	cacheLookups      = metric.CounterVec("onlinesign_cache_lookups_total", "Signature cache lookups, per zone, kind (rrset, denial) and result (hit, miss).", "zone", "kind", "result")
	cacheEntries      = metric.GaugeVec("onlinesign_cache_entries", "Signature cache entries, per zone and kind (rrset, denial).", "zone", "kind")
	cacheBytes        = metric.GaugeVec("onlinesign_cache_bytes", "Memory of the signature cache entries (estimated), per zone and kind (rrset, denial).", "zone", "kind")
	signFailures      = metric.CounterVec("onlinesign_failures_total", "Answers that could not be signed (answered SERVFAIL), per zone.", "zone")
	keyInfo           = metric.GaugeVec("onlinesign_key", "The zone's keys (1 per key) and what each does.", "zone", "tag", "algorithm", "role", "published", "signs", "cds")
	rolloverStep      = metric.GaugeVec("onlinesign_rollover_step", "Step of each rollover in progress, per zone and kind (zsk, ksk, csk, keyset); absent when none runs.", "zone", "kind")
	rolloverWaitingDS = metric.GaugeVec("onlinesign_rollover_waiting_ds", "1 while a rollover waits for the new DS at the parent.", "zone")
	signedZones       = metric.CounterVec("onlinesign_signed_zones_total", "Signed zones asked for by signed transfers, per zone and result (cached, built, failed).", "zone", "result")
	signedZoneSeconds = metric.HistogramVec("onlinesign_signed_zone_duration_seconds", "Time to build a signed zone for a signed transfer, per zone.", prometheus.ExponentialBuckets(0.001, 4, 10), "zone")
	signedZoneRefresh = metric.GaugeVec("onlinesign_signed_zone_refresh_timestamp_seconds", "When the last signed zone transferred needs fresh signatures (the view then gets a new serial), per zone and view.", "zone", "view")
	signedZoneBumps   = metric.CounterVec("onlinesign_signed_zone_bumps_total", "New serials given to a view so that signed-transfer secondaries fetch fresh signatures, per zone and view.", "zone", "view")
	rolloverErrors    = metric.CounterVec("onlinesign_rollover_errors_total", "Key state changes that failed (retried), per zone.", "zone")
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
