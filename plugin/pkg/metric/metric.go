// Package metric declares dnspki's Prometheus metrics: every one is named
// coredns_dnspki_NAME (CoreDNS's namespace, subsystem "dnspki") and
// registered with the default registry, which CoreDNS's prometheus plugin
// serves. The naming rule is here once; plugins pass the NAME, the help
// text and the label names.
package metric

import (
	"github.com/coredns/coredns/plugin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Subsystem is the part of every dnspki metric's name after CoreDNS's
// namespace.
const Subsystem = "dnspki"

// Counter declares the counter coredns_dnspki_NAME.
func Counter(name, help string) prometheus.Counter {
	return promauto.NewCounter(prometheus.CounterOpts{Namespace: plugin.Namespace, Subsystem: Subsystem, Name: name, Help: help})
}

// CounterVec declares the counter coredns_dnspki_NAME with labels.
func CounterVec(name, help string, labels ...string) *prometheus.CounterVec {
	return promauto.NewCounterVec(prometheus.CounterOpts{Namespace: plugin.Namespace, Subsystem: Subsystem, Name: name, Help: help}, labels)
}

// Gauge declares the gauge coredns_dnspki_NAME.
func Gauge(name, help string) prometheus.Gauge {
	return promauto.NewGauge(prometheus.GaugeOpts{Namespace: plugin.Namespace, Subsystem: Subsystem, Name: name, Help: help})
}

// GaugeVec declares the gauge coredns_dnspki_NAME with labels.
func GaugeVec(name, help string, labels ...string) *prometheus.GaugeVec {
	return promauto.NewGaugeVec(prometheus.GaugeOpts{Namespace: plugin.Namespace, Subsystem: Subsystem, Name: name, Help: help}, labels)
}

// Histogram declares the histogram coredns_dnspki_NAME.
func Histogram(name, help string, buckets []float64) prometheus.Histogram {
	return promauto.NewHistogram(prometheus.HistogramOpts{Namespace: plugin.Namespace, Subsystem: Subsystem, Name: name, Help: help, Buckets: buckets})
}

// HistogramVec declares the histogram coredns_dnspki_NAME with labels.
func HistogramVec(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
	return promauto.NewHistogramVec(prometheus.HistogramOpts{Namespace: plugin.Namespace, Subsystem: Subsystem, Name: name, Help: help, Buckets: buckets}, labels)
}

// Desc describes coredns_dnspki_NAME for a collector that computes it when
// scraped.
func Desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName(plugin.Namespace, Subsystem, name), help, labels, nil)
}
