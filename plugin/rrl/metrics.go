package rrl

import (
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/coredns/coredns/plugin"
	clog "github.com/coredns/coredns/plugin/pkg/log"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

var log = clog.NewWithPlugin("rrl")

var (
	droppedVec = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace, Subsystem: "dnspki",
		Name: "rrl_dropped_total",
		Help: "Answers rate limiting dropped, by category (answer, nodata, nxdomain, referral, error).",
	}, []string{"category"})
	slippedVec = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace, Subsystem: "dnspki",
		Name: "rrl_slipped_total",
		Help: "Answers rate limiting sent truncated (TC, no records) instead, by category.",
	}, []string{"category"})
	exempted = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace, Subsystem: "dnspki",
		Name: "rrl_exempt_total",
		Help: "UDP requests rate limiting did not count, by reason: cookie (a valid server cookie), tsig (a verified TSIG signature), network (an exempt network). TCP is never counted.",
	}, []string{"reason"})
	evictions = promauto.NewCounter(prometheus.CounterOpts{
		Namespace: plugin.Namespace, Subsystem: "dnspki",
		Name: "rrl_evictions_total",
		Help: "Buckets in debt that lost their place in the table to another (the table is too small for the load: raise table-size).",
	})
	dropped, slipped [nCategories]prometheus.Counter
	exemptions       = map[string]prometheus.Counter{}
)

func init() {
	for _, r := range []string{"cookie", "tsig", "network"} {
		exemptions[r] = exempted.WithLabelValues(r)
	}
	for c := Category(0); c < nCategories; c++ {
		dropped[c] = droppedVec.WithLabelValues(c.String())
		slipped[c] = slippedVec.WithLabelValues(c.String())
	}
}

// lastLog is the Unix second of the last log line: at most one a second.
var lastLog atomic.Int64

// logLimited logs that answers to a network are being limited (one line a
// second at most, for the whole process; the metrics count every answer).
func logLimited(network netip.Prefix, cat Category, name string) {
	now := time.Now().Unix()
	last := lastLog.Load()
	if now == last || !lastLog.CompareAndSwap(last, now) {
		return
	}
	if name == "" {
		name = "-"
	}
	log.Infof("rate limiting answers (%s) to %s for %s; at most one such line a second", cat, network, name)
}
