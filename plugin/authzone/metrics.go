package authzone

import (
	"github.com/dnspki/dnspki/plugin/pkg/metric"

	"github.com/dnspki/dnspki/plugin/pkg/zonemodel"
)

var (
	serialGauge  = metric.GaugeVec("zone_serial", "SOA serial served, per zone and view.", "zone", "view")
	recordsGauge = metric.GaugeVec("zone_records", "Resource records served, per zone and view.", "zone", "view")
	changes      = metric.CounterVec("zone_changes_total", "Committed changes (serial increments), per zone, view and record source.", "zone", "view", "source")
	lastChange   = metric.GaugeVec("zone_last_change_timestamp_seconds", "Unix time of the last committed change, per zone and view.", "zone", "view")
	loadErrors   = metric.CounterVec("zone_load_errors_total", "Zone file reloads refused (syntax or check errors); the last good zone keeps serving.", "zone", "file")
	xfrOut       = metric.CounterVec("xfr_out_total", "Outgoing zone transfers, per zone, view, peer (TSIG key, else address; \"unauthorized\" for refused requests), query type (AXFR, IXFR) and result (axfr, ixfr, uptodate, tcp, refused, notauth, formerr, error).", "zone", "view", "peer", "qtype", "result")
	notifyOut    = metric.CounterVec("xfr_notify_out_total", "NOTIFY messages sent, per zone, view, secondary and result (ok, retry, failed: gave up after the last retry).", "zone", "view", "peer", "result")
	notifyIn     = metric.CounterVec("xfr_notify_in_total", "NOTIFY messages received, per zone, peer (address; \"unauthorized\" for refused ones) and result (accepted, refused, notauth).", "zone", "peer", "result")
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
