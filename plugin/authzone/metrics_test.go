package authzone

import (
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// The metrics of plugin/pkg/secondary, read from the default registry the
// way counterValue reads authzone's own counters.
var (
	xfrInTotal = gatheredCounter{"coredns_dnspki_xfr_in_total", []string{"zone", "peer", "kind", "result"}}
	zonemdIn   = gatheredCounter{"coredns_dnspki_zonemd_verify_total", []string{"zone", "peer", "result"}}
)

// gatheredCounter is a counter vector of another package, found by name.
type gatheredCounter struct {
	name   string
	labels []string
}

// WithLabelValues is the counter of those label values (a counter not
// counted yet reads 0, as a new one of the vector would).
func (g gatheredCounter) WithLabelValues(vals ...string) interface{ Write(*dto.Metric) error } {
	return gathered{g, vals}
}

type gathered struct {
	g    gatheredCounter
	vals []string
}

func (c gathered) Write(out *dto.Metric) error {
	fams, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		return err
	}
	want := map[string]string{}
	for i, l := range c.g.labels {
		want[l] = c.vals[i]
	}
	for _, f := range fams {
		if f.GetName() != c.g.name {
			continue
		}
		for _, m := range f.GetMetric() {
			if matches(m, want) {
				out.Counter = m.GetCounter()
				return nil
			}
		}
		return nil
	}
	return nil // the vector has no counter yet
}

func matches(m *dto.Metric, want map[string]string) bool {
	if len(m.GetLabel()) != len(want) {
		return false
	}
	for _, l := range m.GetLabel() {
		if want[l.GetName()] != l.GetValue() {
			return false
		}
	}
	return true
}
