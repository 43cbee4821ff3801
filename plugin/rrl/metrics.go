package rrl

import (
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/dnspki/dnspki/plugin/pkg/metric"

	clog "github.com/coredns/coredns/plugin/pkg/log"
	"github.com/prometheus/client_golang/prometheus"
)

var log = clog.NewWithPlugin("rrl")

var (
	droppedVec       = metric.CounterVec("rrl_dropped_total", "Answers rate limiting dropped, by category (answer, nodata, nxdomain, referral, error).", "category")
	slippedVec       = metric.CounterVec("rrl_slipped_total", "Answers rate limiting sent truncated (TC, no records) instead, by category.", "category")
	exempted         = metric.CounterVec("rrl_exempt_total", "UDP requests rate limiting did not count, by reason: cookie (a valid server cookie), tsig (a verified TSIG signature), network (an exempt network). TCP is never counted.", "reason")
	evictions        = metric.Counter("rrl_evictions_total", "Buckets in debt that lost their place in the table to another (the table is too small for the load: raise table-size).")
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
