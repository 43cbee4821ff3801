package acmechallenge

import (
	"sort"
	"sync"
	"time"

	"github.com/dnspki/dnspki/plugin/pkg/metric"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
)

// ZoneStatus is what the status page shows of a zone's challenge records:
// each pending challenge with when it expires, and each identity's records
// against its limit. Values and keys are never shown.
type ZoneStatus struct {
	Zone string `json:"zone"`
	// ExpireSeconds is the age at which a challenge is removed (0: never).
	ExpireSeconds float64       `json:"expire_seconds"`
	MaxRecords    int           `json:"max_records"`
	Challenges    []Challenge   `json:"challenges"`
	Identities    []IdentityUse `json:"identities,omitempty"`
}

// Challenge is one pending challenge record.
type Challenge struct {
	Owner string    `json:"owner"`
	By    string    `json:"by"` // TSIG key name or http:USER
	Added time.Time `json:"added"`
	// Expires is when the sweeper removes it (zero: never).
	Expires time.Time `json:"expires,omitzero"`
}

// IdentityUse is how many records (challenges and validation records) an
// identity holds in the zone, and its limit (max_records).
type IdentityUse struct {
	Identity string `json:"identity"`
	Records  int    `json:"records"`
	Limit    int    `json:"limit"`
}

// serving holds the zones of the running configurations.
var serving = struct {
	sync.Mutex
	m map[*zone]bool
}{m: map[*zone]bool{}}

func (z *zone) publishStatus() {
	serving.Lock()
	serving.m[z] = true
	serving.Unlock()
}

func (z *zone) forgetStatus() {
	serving.Lock()
	delete(serving.m, z)
	serving.Unlock()
}

// Status reports the challenge records of every zone of the serving
// configuration, by zone (the newest configuration's, during a reload).
func Status() []ZoneStatus {
	serving.Lock()
	zs := make([]*zone, 0, len(serving.m))
	for z := range serving.m {
		zs = append(zs, z)
	}
	serving.Unlock()
	by := map[string]ZoneStatus{}
	for _, z := range zs {
		by[z.origin] = z.status() // either generation: they share the store
	}
	out := make([]ZoneStatus, 0, len(by))
	for _, s := range by {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Zone < out[j].Zone })
	return out
}

func (z *zone) status() ZoneStatus {
	z.mu.Lock()
	defer z.mu.Unlock()
	cfg := z.p.cfg
	st := ZoneStatus{Zone: z.origin, ExpireSeconds: cfg.expire.Seconds(), MaxRecords: cfg.maxRecords, Challenges: []Challenge{}}
	use := map[string]int{}
	for id, rm := range z.ch.recs {
		c := Challenge{By: rm.By, Added: time.Unix(0, rm.Added).UTC()}
		if rr, err := dns.NewRR(id); err == nil && rr != nil {
			c.Owner = rr.Header().Name
		}
		if cfg.expire > 0 {
			c.Expires = c.Added.Add(cfg.expire)
		}
		st.Challenges = append(st.Challenges, c)
		use[rm.By]++
	}
	for _, rm := range z.persist.recs {
		use[rm.By]++
	}
	sort.Slice(st.Challenges, func(i, j int) bool {
		a, b := st.Challenges[i], st.Challenges[j]
		if !a.Added.Equal(b.Added) {
			return a.Added.Before(b.Added)
		}
		return a.Owner < b.Owner
	})
	for id, n := range use {
		st.Identities = append(st.Identities, IdentityUse{Identity: id, Records: n, Limit: cfg.maxRecords})
	}
	sort.Slice(st.Identities, func(i, j int) bool { return st.Identities[i].Identity < st.Identities[j].Identity })
	return st
}

// Records per identity against the limit, for the alert on an identity
// near its limit (its next UPDATE would be refused).
var (
	identityRecordsDesc = metric.Desc("acme_identity_records", "Records (challenges and validation records) an identity (TSIG key or http:USER) holds, per zone.", "zone", "identity")
	identityLimitDesc   = metric.Desc("acme_identity_records_limit", "The most records one identity may hold in the zone (max_records).", "zone")
)

type identityCollector struct{}

func (identityCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- identityRecordsDesc
	ch <- identityLimitDesc
}

func (identityCollector) Collect(ch chan<- prometheus.Metric) {
	for _, s := range Status() {
		for _, u := range s.Identities {
			ch <- prometheus.MustNewConstMetric(identityRecordsDesc, prometheus.GaugeValue, float64(u.Records), s.Zone, u.Identity)
		}
		ch <- prometheus.MustNewConstMetric(identityLimitDesc, prometheus.GaugeValue, float64(s.MaxRecords), s.Zone)
	}
}

func init() { prometheus.MustRegister(identityCollector{}) }
