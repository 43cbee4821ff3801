package tlsa

import (
	"fmt"

	"github.com/dnspki/dnspki/plugin/pkg/metric"

	"github.com/prometheus/client_golang/prometheus"
)

var (
	errorsTotal     = metric.CounterVec("tlsa_errors_total", "Certificate files that could not be used (the last good records kept), and changes the zone refused, per certificate and reason.", "cert", "reason")
	recordGauge     = metric.GaugeVec("tlsa_record_published_timestamp_seconds", "TLSA records published, per certificate, owner name, view, record data and role (current, next, pending, retiring); the value is the Unix time since when it is published without a gap.", "cert", "name", "view", "record", "role")
	recordsGauge    = metric.GaugeVec("tlsa_records", "Number of TLSA records published, per certificate, owner name, view and role.", "cert", "name", "view", "role")
	lastChangeGauge = metric.GaugeVec("tlsa_last_change_timestamp_seconds", "Unix time of the last change of a certificate's published TLSA records.", "cert")
	expiryGauge     = metric.GaugeVec("tlsa_certificate_expiry_timestamp_seconds", "notAfter (Unix time) of the certificate last read cleanly, per certificate.", "cert")
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

// The certificate in use against the records served: whether a record of
// every published form matches it (a mismatch: the deployed certificate is
// not what DANE clients are told), and whether those records have been
// served for the hold-down. Computed when scraped.
var (
	deployedMatchDesc = metric.Desc("tlsa_deployed_match", "1 when the TLSA records served match the certificate in use (its files, or the certs plugin's) at every name, view, usage and matching type; 0 when some do not (DANE clients would fail).", "cert")
	deployedReadyDesc = metric.Desc("tlsa_deployed_ready", "1 when the records matching the certificate in use have been served for the hold-down, else 0 (it was deployed before resolvers could have its records).", "cert")
)

type deployedCollector struct{}

func (deployedCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- deployedMatchDesc
	ch <- deployedReadyDesc
}

func (deployedCollector) Collect(ch chan<- prometheus.Metric) {
	for _, m := range Managers() {
		for _, d := range m.deployed() {
			b := func(v bool) float64 {
				if v {
					return 1
				}
				return 0
			}
			ch <- prometheus.MustNewConstMetric(deployedMatchDesc, prometheus.GaugeValue, b(d.match), d.id)
			ch <- prometheus.MustNewConstMetric(deployedReadyDesc, prometheus.GaugeValue, b(d.ready), d.id)
		}
	}
}

func init() { prometheus.MustRegister(deployedCollector{}) }
