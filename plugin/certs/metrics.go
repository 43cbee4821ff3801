package certs

import (
	"sync"
	"time"

	"github.com/dnspki/dnspki/plugin/pkg/metric"

	"github.com/prometheus/client_golang/prometheus"
)

var (
	ordersTotal  = metric.CounterVec("certs_attempts_total", "Attempts to obtain or install a certificate, per certificate and result (success, ca_unreachable, rate_limited, refused, validation_failed, dns_propagation, write_failed, timeout, error).", "cert", "result")
	lastResult   = metric.GaugeVec("certs_last_result", "1 for the result of a certificate's last attempt, 0 for the other results.", "cert", "result")
	lastAttempt  = metric.GaugeVec("certs_last_attempt_timestamp_seconds", "Unix time of a certificate's last order.", "cert")
	nextRenewal  = metric.GaugeVec("certs_next_renewal_timestamp_seconds", "Unix time a certificate's renewal is scheduled for (ARI window or two thirds of the lifetime).", "cert")
	deploysTotal = metric.CounterVec("certs_deploys_total", "Runs of a certificate's deploy command, per result (ok, failed).", "cert", "result")
	expiryDesc   = metric.Desc("certs_expiry_seconds", "Seconds until the current certificate expires (negative once expired), per certificate.", "cert")
	notAfter     = metric.GaugeVec("certs_not_after_timestamp_seconds", "notAfter (Unix time) of the current certificate.", "cert")
)

// live is every certificate of the serving configurations (the newest per
// id), for the expiry collector.
var live = struct {
	sync.Mutex
	m map[string]*cert
}{m: map[string]*cert{}}

func register(c *cert) {
	live.Lock()
	live.m[c.cfg.id] = c
	live.Unlock()
}

func unregister(c *cert) {
	live.Lock()
	if live.m[c.cfg.id] == c {
		delete(live.m, c.cfg.id)
	}
	live.Unlock()
}

var (
	pastWindowDesc = metric.Desc("certs_past_ari_window",
		"Certificates whose ARI suggested renewal window is over and that are not replaced yet (the CA asks to replace them now, e.g. after a revocation).")
	windowStartDesc = metric.Desc("certs_ari_window_start_timestamp_seconds", "Start of the CA's suggested renewal window (ARI) of the certificate in use.", "cert")
	windowEndDesc   = metric.Desc("certs_ari_window_end_timestamp_seconds", "End of the CA's suggested renewal window (ARI) of the certificate in use.", "cert")
	heldDesc        = metric.Desc("certs_held", "1 while an obtained certificate waits until its TLSA records are ready (a new issuer), else 0.", "cert")
)

type expiryCollector struct{}

func (expiryCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- expiryDesc
	ch <- pastWindowDesc
	ch <- windowStartDesc
	ch <- windowEndDesc
	ch <- heldDesc
}

func (expiryCollector) Collect(ch chan<- prometheus.Metric) {
	now := time.Now()
	past := 0
	for _, c := range liveCerts() {
		id := c.cfg.id
		if cur := c.current(); cur != nil {
			ch <- prometheus.MustNewConstMetric(expiryDesc, prometheus.GaugeValue, cur.leaf().NotAfter.Sub(now).Seconds(), id)
		}
		st := c.lastStatus()
		if st.ARI != nil && !st.ARI.End.IsZero() {
			ch <- prometheus.MustNewConstMetric(windowStartDesc, prometheus.GaugeValue, float64(st.ARI.Start.Unix()), id)
			ch <- prometheus.MustNewConstMetric(windowEndDesc, prometheus.GaugeValue, float64(st.ARI.End.Unix()), id)
			if !now.Before(st.ARI.End) {
				past++
			}
		}
		held := 0.0
		if st.Held != nil {
			held = 1
		}
		ch <- prometheus.MustNewConstMetric(heldDesc, prometheus.GaugeValue, held, id)
	}
	ch <- prometheus.MustNewConstMetric(pastWindowDesc, prometheus.GaugeValue, float64(past))
}

func init() { prometheus.MustRegister(expiryCollector{}) }

func observeExpiry(c *cert) {
	if cur := c.current(); cur != nil {
		notAfter.WithLabelValues(c.cfg.id).Set(float64(cur.leaf().NotAfter.Unix()))
	}
}
