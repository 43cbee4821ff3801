package tlsa

import (
	"fmt"

	"github.com/coredns/coredns/plugin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

var (
	errorsTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace, Subsystem: "dnspki",
		Name: "tlsa_errors_total",
		Help: "Certificate files that could not be used (the last good records kept), and changes the zone refused, per certificate and reason.",
	}, []string{"cert", "reason"})
	recordGauge = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: plugin.Namespace, Subsystem: "dnspki",
		Name: "tlsa_record_published_timestamp_seconds",
		Help: "TLSA records published, per certificate, owner name, view, record data and role (current, next, pending, retiring); the value is the Unix time since when it is published without a gap.",
	}, []string{"cert", "name", "view", "record", "role"})
	recordsGauge = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: plugin.Namespace, Subsystem: "dnspki",
		Name: "tlsa_records",
		Help: "Number of TLSA records published, per certificate, owner name, view and role.",
	}, []string{"cert", "name", "view", "role"})
	lastChangeGauge = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: plugin.Namespace, Subsystem: "dnspki",
		Name: "tlsa_last_change_timestamp_seconds",
		Help: "Unix time of the last change of a certificate's published TLSA records.",
	}, []string{"cert"})
	expiryGauge = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: plugin.Namespace, Subsystem: "dnspki",
		Name: "tlsa_certificate_expiry_timestamp_seconds",
		Help: "notAfter (Unix time) of the certificate last read cleanly, per certificate.",
	}, []string{"cert"})
)

// observeState sets a certificate's gauges from its state.
func observeState(id string, st *entryState) {
	l := prometheus.Labels{"cert": id}
	recordGauge.DeletePartialMatch(l)
	recordsGauge.DeletePartialMatch(l)
	if st == nil {
		return
	}
	counts := map[[3]string]int{}
	for _, r := range st.Records {
		recordGauge.WithLabelValues(id, r.Name, r.View, fmt.Sprint(r.rdata()), r.Role).Set(float64(r.Since))
		counts[[3]string{r.Name, r.View, r.Role}]++
	}
	for k, n := range counts {
		recordsGauge.WithLabelValues(id, k[0], k[1], k[2]).Set(float64(n))
	}
	if st.Changed != 0 {
		lastChangeGauge.WithLabelValues(id).Set(float64(st.Changed))
	}
}

// forgetMetrics removes the gauges of a certificate no longer published.
func forgetMetrics(id string) {
	l := prometheus.Labels{"cert": id}
	recordGauge.DeletePartialMatch(l)
	recordsGauge.DeletePartialMatch(l)
	lastChangeGauge.DeletePartialMatch(l)
	expiryGauge.DeletePartialMatch(l)
}
