package acmechallenge

import (
	"time"

	"github.com/coredns/coredns/plugin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

var (
	acceptedTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace, Subsystem: "dnspki",
		Name: "acme_updates_accepted_total", Help: "Challenge changes accepted (stored and served), per zone, key or HTTP user, and interface (dns, http).",
	}, []string{"zone", "key", "via"})
	refusedTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace, Subsystem: "dnspki",
		Name: "acme_updates_refused_total", Help: "Challenge changes refused (nothing applied), per zone, key or HTTP user, reason and interface.",
	}, []string{"zone", "key", "reason", "via"})
	updateDuration = promauto.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: plugin.Namespace, Subsystem: "dnspki",
		Name: "acme_update_duration_seconds", Help: "Time to check, store (fsync) and publish an accepted challenge change.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
	}, []string{"zone", "via"})
	liveRecords = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: plugin.Namespace, Subsystem: "dnspki",
		Name: "acme_records", Help: "Live challenge records, per zone.",
	}, []string{"zone"})
	persistRecords = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: plugin.Namespace, Subsystem: "dnspki",
		Name: "acme_persist_records", Help: "dns-persist-01 validation records set over UPDATE, per zone.",
	}, []string{"zone"})
	authFailures = promauto.NewCounter(prometheus.CounterOpts{
		Namespace: plugin.Namespace, Subsystem: "dnspki",
		Name: "acme_http_auth_failures_total", Help: "Failed logins to the HTTP API (wrong user or password).",
	})
	authThrottled = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace, Subsystem: "dnspki",
		Name: "acme_http_auth_throttled_total", Help: "HTTP API requests answered 429 without checking the password after too many failed logins, by what was throttled (address, user).",
	}, []string{"by"})
	expired = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace, Subsystem: "dnspki",
		Name: "acme_expired_total", Help: "Stale challenge records removed by expiry, per zone.",
	}, []string{"zone"})
)

func accepted(zone, key, via string, d time.Duration) {
	acceptedTotal.WithLabelValues(zone, key, via).Inc()
	updateDuration.WithLabelValues(zone, via).Observe(d.Seconds())
}

func refused(zone, key, reason, via string) {
	refusedTotal.WithLabelValues(zone, key, reason, via).Inc()
}
