package acmechallenge

import (
	"time"

	"github.com/dnspki/dnspki/plugin/pkg/metric"

	"github.com/prometheus/client_golang/prometheus"
)

var (
	acceptedTotal  = metric.CounterVec("acme_updates_accepted_total", "Challenge changes accepted (stored and served), per zone, key or HTTP user, and interface (dns, http).", "zone", "key", "via")
	refusedTotal   = metric.CounterVec("acme_updates_refused_total", "Challenge changes refused (nothing applied), per zone, key or HTTP user, reason and interface.", "zone", "key", "reason", "via")
	updateDuration = metric.HistogramVec("acme_update_duration_seconds", "Time to check, store (fsync) and publish an accepted challenge change.", prometheus.ExponentialBuckets(0.0005, 2, 14), "zone", "via")
	liveRecords    = metric.GaugeVec("acme_records", "Live challenge records, per zone.", "zone")
	persistRecords = metric.GaugeVec("acme_persist_records", "dns-persist-01 validation records set over UPDATE, per zone.", "zone")
	authFailures   = metric.Counter("acme_http_auth_failures_total", "Failed logins to the HTTP API (wrong user or password).")
	authThrottled  = metric.CounterVec("acme_http_auth_throttled_total", "HTTP API requests answered 429 without checking the password after too many failed logins, by what was throttled (address, user).", "by")
	expired        = metric.CounterVec("acme_expired_total", "Stale challenge records removed by expiry, per zone.", "zone")
)

func accepted(zone, key, via string, d time.Duration) {
	acceptedTotal.WithLabelValues(zone, key, via).Inc()
	updateDuration.WithLabelValues(zone, via).Observe(d.Seconds())
}

func refused(zone, key, reason, via string) {
	refusedTotal.WithLabelValues(zone, key, reason, via).Inc()
}
