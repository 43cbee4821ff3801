package dnspersist

import (
	"bytes"
	golog "log"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/coredns/caddy"
	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/dnspki/dnspki/plugin/pkg/persist"
	"github.com/dnspki/dnspki/plugin/pkg/zonemodel"
)

const metricsZone = "metrics.test."

// expirySeries returns the persist_expiry_seconds series of zone, by
// "name issuer".
func expirySeries(t *testing.T, zone string) map[string]float64 {
	t.Helper()
	mfs, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "coredns_dnspki_persist_expiry_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			l := map[string]string{}
			for _, lp := range m.GetLabel() {
				l[lp.GetName()] = lp.GetValue()
			}
			if l["zone"] == zone {
				out[l["name"]+" "+l["issuer"]] = m.GetGauge().GetValue()
			}
		}
	}
	return out
}

// publishedSeries tells whether persist_records has a series for zone.
func publishedSeries(t *testing.T, zone string) bool {
	t.Helper()
	n, err := testutil.GatherAndCount(prometheus.DefaultGatherer, "coredns_dnspki_persist_records")
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		return false
	}
	mfs, _ := prometheus.DefaultGatherer.Gather()
	for _, mf := range mfs {
		if mf.GetName() != "coredns_dnspki_persist_records" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == "zone" && lp.GetValue() == zone {
					return true
				}
			}
		}
	}
	return false
}

// openTestZone is the zone metrics.test (plus the zoneFile lines) with a
// dnspersist configuration (the body of its block), published at now; gen
// orders it among reloads (for the metrics).
func openTestZone(t *testing.T, dir, body string, gen uint64, now time.Time, zoneFile ...string) (*zonemodel.Zone, *Persist) {
	t.Helper()
	cfgs, err := parse(caddy.NewTestController("dns", "dnspersist metrics.test {\n"+body+"\n}"), now)
	if err != nil {
		t.Fatal(err)
	}
	z := zonemodel.New(zonemodel.Config{Origin: metricsZone, StateDir: dir})
	base, _ := z.AddSource("file", zonemodel.SourceOptions{Base: true})
	text := "$ORIGIN metrics.test.\n@ 300 IN SOA ns1 hostmaster 1 3600 600 86400 60\n@ 300 IN NS ns1\nns1 300 IN A 192.0.2.53\n" + strings.Join(zoneFile, "\n") + "\n"
	zd, err := zonemodel.ParseZone(strings.NewReader(text), metricsZone, "z")
	if err != nil {
		t.Fatal(err)
	}
	base.SetInitial(nil, zd.RRs)
	p := &Persist{cfg: cfgs[0], gen: gen}
	if err := p.attach(z); err != nil {
		t.Fatal(err)
	}
	if err := z.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { z.Close() })
	if err := p.publish(now); err != nil {
		t.Fatal(err)
	}
	return z, p
}

// A persistUntil less than 30 days away is a warning in the log and, like
// every persistUntil, visible in coredns_dnspki_persist_expiry_seconds; a
// reload that removes an authorization removes its series, and so does
// removing dnspersist from the zone.
func TestExpiryWarningAndMetric(t *testing.T) {
	var logs bytes.Buffer
	golog.SetOutput(&logs)
	t.Cleanup(func() { golog.SetOutput(os.Stderr) })

	soon := now.Add(10 * 24 * time.Hour)
	later := now.Add(60 * 24 * time.Hour)
	conf := `authorize soon.metrics.test {
			issuer ca.example
			accounturi https://ca.example/acct/1
			persist-until ` + soon.Format(time.RFC3339) + `
		}
		authorize later.metrics.test {
			issuer ca.example other.example
			accounturi https://ca.example/acct/1
			persist-until ` + later.Format(time.RFC3339) + `
		}
		authorize rolling.metrics.test {
			issuer ca.example
			accounturi https://ca.example/acct/1
			persist-until 20d
		}
		authorize forever.metrics.test {
			issuer ca.example
			accounturi https://ca.example/acct/1
		}`
	dir := t.TempDir()
	z, p := openTestZone(t, dir, conf, 1000, now)

	// The warning: for the record 10 days away only (a rolling persistUntil is
	// renewed, it never comes close).
	var warnings []string
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, "[WARNING] plugin/dnspersist:") {
			warnings = append(warnings, l)
		}
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "zone metrics.test.: the dns-persist-01 record for soon.metrics.test. (issuer ca.example) expires in 240h0m0s (persistUntil "+soon.Format(time.RFC3339)+")") {
		t.Fatalf("warnings: %q\nlog:\n%s", warnings, logs.String())
	}
	want := map[string]float64{
		"soon.metrics.test. ca.example":     (10 * 24 * time.Hour).Seconds(),
		"later.metrics.test. ca.example":    (60 * 24 * time.Hour).Seconds(),
		"later.metrics.test. other.example": (60 * 24 * time.Hour).Seconds(),
		"rolling.metrics.test. ca.example":  (20 * 24 * time.Hour).Seconds(),
	}
	if got := expirySeries(t, metricsZone); !mapsEqual(got, want) {
		t.Fatalf("expiry series %v, want %v", got, want)
	}
	if got := testutil.ToFloat64(published.WithLabelValues(metricsZone)); got != 5 {
		t.Fatalf("persist_records %v, want 5", got)
	}
	// An hour on (the loop's observation): the values follow the clock.
	p.api.mu.Lock()
	p.observe(now.Add(time.Hour))
	p.api.mu.Unlock()
	if got := expirySeries(t, metricsZone)["soon.metrics.test. ca.example"]; got != (10*24*time.Hour - time.Hour).Seconds() {
		t.Fatalf("an hour later: %v", got)
	}
	// An expired one is an error in the log and a negative value.
	logs.Reset()
	if err := p.publish(soon.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "[ERROR] plugin/dnspersist: zone metrics.test.: the dns-persist-01 record for soon.metrics.test. (issuer ca.example) expired at") {
		t.Fatalf("no error for the expired record:\n%s", logs.String())
	}
	if got := expirySeries(t, metricsZone)["soon.metrics.test. ca.example"]; got != -3600 {
		t.Fatalf("expired: %v", got)
	}

	// A reload without the soon and later authorizations: the new instance
	// (a later generation) drops their series; the old one, until it stops,
	// changes nothing any more.
	z.Close()
	conf2 := `authorize rolling.metrics.test {
			issuer ca.example
			accounturi https://ca.example/acct/1
			persist-until 20d
		}`
	_, p2 := openTestZone(t, dir, conf2, 1001, now)
	want = map[string]float64{"rolling.metrics.test. ca.example": (20 * 24 * time.Hour).Seconds()}
	if got := expirySeries(t, metricsZone); !mapsEqual(got, want) {
		t.Fatalf("after the reload: %v, want %v", got, want)
	}
	p.api.mu.Lock()
	p.observe(now)
	p.api.mu.Unlock()
	p.stop()
	if got := expirySeries(t, metricsZone); !mapsEqual(got, want) {
		t.Fatalf("the old instance changed the series: %v, want %v", got, want)
	}
	if got := testutil.ToFloat64(published.WithLabelValues(metricsZone)); got != 1 {
		t.Fatalf("persist_records %v, want 1", got)
	}
	// dnspersist removed from the zone: its last instance stops.
	p2.stop()
	if got := expirySeries(t, metricsZone); len(got) != 0 {
		t.Fatalf("after removal: %v", got)
	}
	if publishedSeries(t, metricsZone) {
		t.Fatal("persist_records still has the zone")
	}
}

func mapsEqual(a, b map[string]float64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// With a draft -02 hashed accounturi the validation record carries the hashed
// URI and the CAA records the account URL given with caa-accounturi (RFC 8657
// §3; draft -02 §7.7). Through the Go API too.
func TestCAAWithHashedAccountURI(t *testing.T) {
	const acct = "https://ca.example/acct/123"
	const hashedURI = "https://ca.example/account-hash/sha-256/" + hashed
	z, p := openTestZone(t, t.TempDir(), `caa
		authorize intra.metrics.test {
			issuer ca.example
			accounturi `+hashedURI+`
			caa-accounturi `+acct+`
			policy wildcard
		}`, 0, now)
	s := z.View("").Snapshot()
	txt := s.Get("_validation-persist.intra.metrics.test.", dns.TypeTXT)
	if txt == nil || len(txt.RRs) != 1 || persist.Value(txt.RRs[0].(*dns.TXT)) != "ca.example; accounturi="+hashedURI+"; policy=wildcard" {
		t.Fatalf("TXT: %v", txt)
	}
	caa := s.Get("intra.metrics.test.", dns.TypeCAA)
	if caa == nil || len(caa.RRs) != 2 {
		t.Fatalf("CAA: %v", caa)
	}
	for _, rr := range caa.RRs {
		if v := rr.(*dns.CAA).Value; v != "ca.example; accounturi="+acct+"; validationmethods=dns-01,dns-persist-01" {
			t.Fatalf("CAA value %q", v)
		}
	}
	a := Authorization{Names: []string{"api.metrics.test"}, Issuers: []string{"ca.example"}, AccountURI: hashedURI, CAA: true}
	if err := p.Set("test", []Authorization{a}); err == nil || !strings.Contains(err.Error(), "caa-accounturi") {
		t.Fatalf("API, CAA with a hashed accounturi only: %v", err)
	}
	a.CAAAccountURI = acct
	if err := p.Set("test", []Authorization{a}); err != nil {
		t.Fatal(err)
	}
	caa = z.View("").Snapshot().Get("api.metrics.test.", dns.TypeCAA)
	if caa == nil || len(caa.RRs) != 1 || !strings.Contains(caa.RRs[0].(*dns.CAA).Value, "accounturi="+acct+";") {
		t.Fatalf("API CAA: %v", caa)
	}
}

// A CAA record of the zone file identical to one dnspersist generates is
// served once (the zone model merges sources without duplicates); the zone
// file's other CAA records stay.
func TestCAAFromZoneFileNotDuplicated(t *testing.T) {
	const acct = "https://ca.example/acct/1"
	gen := `"ca.example; accounturi=` + acct + `; validationmethods=dns-01,dns-persist-01"`
	z, _ := openTestZone(t, t.TempDir(), `authorize intra.metrics.test {
			issuer ca.example
			accounturi `+acct+`
			policy wildcard
			caa
		}`, 0, now,
		"intra 300 IN CAA 0 issue "+gen,
		`intra 300 IN CAA 0 iodef "mailto:security@metrics.test"`)
	caa := z.View("").Snapshot().Get("intra.metrics.test.", dns.TypeCAA)
	if caa == nil {
		t.Fatal("no CAA")
	}
	count := map[string]int{}
	for _, rr := range caa.RRs {
		c := rr.(*dns.CAA)
		count[c.Tag+" "+c.Value]++
	}
	want := map[string]int{
		"issue " + strings.Trim(gen, `"`):     1,
		"issuewild " + strings.Trim(gen, `"`): 1,
		"iodef mailto:security@metrics.test":  1,
	}
	if len(count) != len(want) || len(caa.RRs) != 3 {
		t.Fatalf("CAA: %v", caa.RRs)
	}
	for k, n := range want {
		if count[k] != n {
			t.Fatalf("CAA %q: %d, want %d (%v)", k, count[k], n, caa.RRs)
		}
	}
}
