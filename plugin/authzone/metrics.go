package authzone

import (
	"github.com/coredns/coredns/plugin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/dnspki/dnspki/plugin/pkg/zonemodel"
)

var (
	serialGauge = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: plugin.Namespace, Subsystem: "dnspki",
		Name: "zone_serial", Help: "SOA serial served, per zone and view.",
	}, []string{"zone", "view"})
	recordsGauge = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: plugin.Namespace, Subsystem: "dnspki",
		Name: "zone_records", Help: "Resource records served, per zone and view.",
	}, []string{"zone", "view"})
	changes = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace, Subsystem: "dnspki",
		Name: "zone_changes_total", Help: "Committed changes (serial increments), per zone, view and record source.",
	}, []string{"zone", "view", "source"})
	lastChange = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: plugin.Namespace, Subsystem: "dnspki",
		Name: "zone_last_change_timestamp_seconds", Help: "Unix time of the last committed change, per zone and view.",
	}, []string{"zone", "view"})
	loadErrors = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace, Subsystem: "dnspki",
		Name: "zone_load_errors_total", Help: "Zone file reloads refused (syntax or check errors); the last good zone keeps serving.",
	}, []string{"zone", "file"})
	xfrOut = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace, Subsystem: "dnspki",
		Name: "xfr_out_total",
		Help: "Outgoing zone transfers, per zone, view, peer (TSIG key, else address; \"unauthorized\" for refused requests), query type (AXFR, IXFR) and result (axfr, ixfr, uptodate, tcp, refused, notauth, formerr, error).",
	}, []string{"zone", "view", "peer", "qtype", "result"})
	notifyOut = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace, Subsystem: "dnspki",
		Name: "xfr_notify_out_total",
		Help: "NOTIFY messages sent, per zone, view, secondary and result (ok, retry, failed: gave up after the last retry).",
	}, []string{"zone", "view", "peer", "result"})
	notifyIn = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace, Subsystem: "dnspki",
		Name: "xfr_notify_in_total",
		Help: "NOTIFY messages received, per zone, peer (address; \"unauthorized\" for refused ones) and result (accepted, refused, notauth).",
	}, []string{"zone", "peer", "result"})
)

// observe updates the zone gauges after a change.
func observe(ch zonemodel.Change) {
	z := ch.View.Zone().Origin
	serialGauge.WithLabelValues(z, ch.View.Name).Set(float64(ch.New.Serial))
	recordsGauge.WithLabelValues(z, ch.View.Name).Set(float64(ch.New.Records()))
	if ch.Entry != nil {
		changes.WithLabelValues(z, ch.View.Name, ch.Entry.Source).Inc()
		lastChange.WithLabelValues(z, ch.View.Name).Set(float64(ch.Entry.Time.Unix()))
	}
}
