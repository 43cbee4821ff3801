package status

import (
	"fmt"
	"runtime/debug"
	"time"

	"github.com/dnspki/dnspki/plugin/acmechallenge"
	"github.com/dnspki/dnspki/plugin/authzone"
	"github.com/dnspki/dnspki/plugin/certs"
	"github.com/dnspki/dnspki/plugin/onlinesign"
	"github.com/dnspki/dnspki/plugin/tlsa"
)

// Report is everything the page shows, as `dnspki status -json` prints it.
// Every part is what its plugin reports about itself; Events are the
// scheduled events of the next Horizon, taken from those parts.
type Report struct {
	Generated    time.Time                  `json:"generated"`
	HorizonEnd   time.Time                  `json:"horizon_end"`
	Zones        []authzone.ZoneStatus      `json:"zones"`
	DNSSEC       []onlinesign.ZoneStatus    `json:"dnssec"`
	Certificates []certs.Status             `json:"certificates"`
	TLSA         []tlsa.CertStatus          `json:"tlsa"`
	Challenges   []acmechallenge.ZoneStatus `json:"challenges"`
	Events       []Event                    `json:"events"`
	Errors       []string                   `json:"errors,omitempty"`
}

// source fills one part of a report from a plugin's status.
type source struct {
	name string
	fill func(r *Report)
}

// sources are the plugins the report asks, in page order.
var sources = []source{
	{"zones", func(r *Report) { r.Zones = authzone.Status() }},
	{"dnssec", func(r *Report) { r.DNSSEC = onlinesign.Status() }},
	{"certificates", func(r *Report) { r.Certificates = certs.Statuses() }},
	{"tlsa", func(r *Report) {
		for _, m := range tlsa.Managers() {
			r.TLSA = append(r.TLSA, m.Status()...)
		}
	}},
	{"challenges", func(r *Report) { r.Challenges = acmechallenge.Status() }},
}

// collect asks every source; one that fails (panics) leaves its part empty
// and an error in the report, never the page without the rest.
func collect(now time.Time, horizon time.Duration) *Report {
	r := &Report{Generated: now.UTC(), HorizonEnd: now.Add(horizon).UTC()}
	for _, s := range sources {
		if msg, stack := fill(s, r); msg != "" {
			r.Errors = append(r.Errors, msg)
			log.Errorf("%s\n%s", msg, stack)
		}
	}
	r.Events = events(r, now, r.HorizonEnd)
	return r
}

// fill runs one source; a panic is recovered into a message (for the page)
// and its stack (for the log).
func fill(s source, r *Report) (msg string, stack []byte) {
	defer func() {
		if p := recover(); p != nil {
			msg, stack = fmt.Sprintf("reading the %s status failed: %v", s.name, p), debug.Stack()
		}
	}()
	s.fill(r)
	return "", nil
}
