// Package status tests the status page end to end: dnspki with a signed
// zone, a certificate file with its TLSA records and a staged next key, a
// certificate it obtains itself from Pebble (the certs plugin), a pending
// ACME challenge, a Knot secondary copying the signed zone, and a
// zone dnspki copies from a Knot primary that goes away (so that something
// is overdue). `dnspki status --json` reports the scheduled events; headless
// Chromium (Debian's chromium-headless-shell, driven by chromedp) loads the
// page without a console error, the timeline shows exactly those events
// (overdue ones in red), and the page stays readable at 375 px width.
package status

import (
	"crypto/ecdsa"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/dnspki/dnspki/test/harness"
)

const (
	zone     = "example.test."
	copyZone = "copy.test."
	// overdueColor is the colour the page gives every overdue event.
	overdueColor = "#c62828"
)

var xfrKey = &harness.TSIGKey{Name: "xfr-key.", Algorithm: "hmac-sha256", Secret: "c3RhdHVzLXRlc3QteGZyLWtleS1zZWNyZXQtMDEyMw=="}

const zoneFile = `$ORIGIN example.test.
$TTL 300
@    IN SOA ns1 hostmaster 2026010100 3600 600 1209600 60
     IN NS  ns1
ns1  IN A   127.0.0.1
www  IN A   127.0.0.1
mail IN A   127.0.0.1
`

// copyFile is the zone Knot serves as primary: refresh and retry 1 s,
// expire 4 s, so that dnspki's copy expires soon after Knot stops.
const copyFile = `$ORIGIN copy.test.
$TTL 300
@    IN SOA ns1 hostmaster 7 1 1 4 60
     IN NS  ns1
ns1  IN A   127.0.0.1
`

// scenario is the running dnspki and its peers.
type scenario struct {
	t         *testing.T
	dir       string
	srv       *harness.Server
	knot      *harness.Peer // secondary of example.test
	statusURL string
	metrics   string // the prometheus plugin's /metrics
	// secrets are what must never be on the page: the TSIG secret, the
	// HTTP API password, the challenge value, private keys.
	secrets []string
}

// challengeValue is the dns-01 value the test presents.
const challengeValue = "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0"

// start runs the scenario: the Knot primary of copy.test, dnspki, the Knot
// secondary of example.test; it returns once the secondary holds dnspki's
// serial, a challenge is pending and dnspki's copy of copy.test has
// expired (its primary stopped).
func start(t *testing.T) *scenario {
	t.Helper()
	s := &scenario{t: t, dir: t.TempDir()}
	dnsPort, knotPort, acmePort, statusPort, metricsPort := harness.FreePort(t), harness.FreePort(t), harness.FreePort(t), harness.FreePort(t), harness.FreePort(t)
	s.metrics = fmt.Sprintf("http://127.0.0.1:%d/metrics", metricsPort)

	// Pebble issues the managed certificate (30 days) by dns-01, asking
	// dnspki for the challenge.
	pebble := harness.StartPebble(t, harness.PebbleOpts{DNSServer: harness.Addr(dnsPort),
		Profiles: map[string]harness.PebbleProfile{"month": {Description: "30 days", ValidityPeriod: 30 * 86400}}})

	primary := harness.StartKnot(t, 0, harness.PeerZone{Name: copyZone, File: copyFile})
	harness.WaitServes(t, primary.Addr, copyZone, 7, 30*time.Second, primary.Proc)

	// A certificate valid for 30 days, its key, and a staged next key.
	ca := harness.NewTestCA(t, "status test CA")
	key := harness.NewKey(t)
	certs := filepath.Join(s.dir, "certs", "www")
	harness.WriteFile(t, filepath.Join(certs, "fullchain.pem"), harness.CertsPEM(ca.Issue(t, key, 30*24*time.Hour, "www.example.test")...))
	harness.WriteFile(t, filepath.Join(certs, "privkey.pem"), harness.KeyPEM(t, key))
	next := harness.NewKey(t)
	harness.WriteFile(t, filepath.Join(certs, "privkey.next.pem"), harness.KeyPEM(t, next))
	s.secrets = []string{xfrKey.Secret, "lego-pass", challengeValue, "PRIVATE KEY"}
	for _, k := range []*ecdsa.PrivateKey{key, next} {
		s.secrets = append(s.secrets, base64.StdEncoding.EncodeToString(k.D.Bytes())[:16], hex.EncodeToString(k.D.Bytes())[:16])
	}
	if err := os.WriteFile(filepath.Join(s.dir, "db.zone"), []byte(zoneFile), 0o644); err != nil {
		t.Fatal(err)
	}

	corefile := fmt.Sprintf(`example.test:%[1]d copy.test:%[1]d {
    bind 127.0.0.1
    errors
    prometheus 127.0.0.1:%[9]d
    authzone example.test {
        file db.zone
        key %[2]s %[3]s %[4]s
        transfer to 127.0.0.1 key %[2]s signed
        notify 127.0.0.1:%[5]d key %[2]s
    }
    authzone copy.test {
        primary %[6]s
    }
    onlinesign example.test {
        keys keys
        ksk-lifetime 60d
    }
    tlsa example.test {
        cert www certs/www {
            service 443/tcp www.example.test.
            ttl 60
            holddown 2h
        }
    }
    acmechallenge example.test {
        user lego lego-pass
        grant lego name www.example.test
        http 127.0.0.1:%[7]d
    }
    certs example.test {
        directory %[10]s
        ca-root %[11]s
        cert api {
            names api.example.test
            challenge dns-01
        }
    }
    status 127.0.0.1:%[8]d
}
`, dnsPort, xfrKey.Name, xfrKey.Algorithm, xfrKey.Secret, knotPort, primary.Addr, acmePort, statusPort, metricsPort, pebble.Directory, pebble.RootPEM)
	s.srv = harness.StartDnspki(t, s.dir, corefile, dnsPort)
	serial := harness.WaitServes(t, s.srv.Addr, zone, 0, 30*time.Second, s.srv.Proc)
	harness.WaitServes(t, s.srv.Addr, copyZone, 7, 30*time.Second, s.srv.Proc)
	s.statusURL = fmt.Sprintf("http://127.0.0.1:%d", statusPort)

	s.knot = harness.StartKnot(t, knotPort, harness.PeerZone{Name: zone, Primary: s.srv.Addr, PrimaryKey: xfrKey})
	harness.WaitServes(t, s.knot.Addr, zone, serial, 30*time.Second, s.knot.Proc)

	// A challenge, as lego's httpreq sets it.
	body := `{"fqdn":"_acme-challenge.www.example.test.","value":"` + challengeValue + `"}`
	req, _ := http.NewRequest("POST", fmt.Sprintf("http://127.0.0.1:%d/present", acmePort), strings.NewReader(body))
	req.SetBasicAuth("lego", "lego-pass")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("present: %s %s", resp.Status, b)
	}

	// The primary of copy.test goes away: once the SOA expire has passed,
	// dnspki answers SERVFAIL for the zone (it expired).
	primary.Stop()
	harness.Eventually(t, 60*time.Second, "copy.test to expire at dnspki", func() bool {
		r, err := harness.Query(s.srv.Addr, copyZone, dns.TypeSOA, false, false)
		return err == nil && r.Rcode == dns.RcodeServerFailure
	})
	return s
}

// report is what `dnspki status --json` prints (the parts the test reads).
type report struct {
	Zones []struct {
		Zone       string `json:"zone"`
		Downstream []struct {
			Peer        string `json:"peer"`
			Serial      uint32 `json:"serial"`
			SerialKnown bool   `json:"serial_known"`
			Lag         uint32 `json:"lag"`
		} `json:"downstream"`
		Views []struct {
			Serial uint32 `json:"serial"`
		} `json:"views"`
	} `json:"zones"`
	Certificates []struct {
		ID       string    `json:"id"`
		Serial   string    `json:"serial"`
		NotAfter time.Time `json:"not_after"`
		ARI      *struct {
			End time.Time `json:"end"`
		} `json:"ari"`
	} `json:"certificates"`
	Events []event  `json:"events"`
	Errors []string `json:"errors"`
}

type event struct {
	ID      string    `json:"id"`
	At      time.Time `json:"at"`
	Kind    string    `json:"kind"`
	Subject string    `json:"subject"`
	What    string    `json:"what"`
	Overdue bool      `json:"overdue"`
}

// statusJSON runs `dnspki status --json -url ...`.
func (s *scenario) statusJSON() report {
	s.t.Helper()
	out, err := harness.Run(s.t, time.Minute, s.dir, harness.Dnspki(s.t), "status", "--json", "-url", s.statusURL)
	if err != nil {
		s.t.Fatalf("dnspki status --json: %v\n%s", err, out)
	}
	var r report
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		s.t.Fatalf("dnspki status --json: %v\n%s", err, out)
	}
	return r
}

// TestStatusPage: the JSON and text of `dnspki status` report every kind
// of event and the secondary's acknowledged serial; the metrics the
// alerting rules read say the same; no secret is on the page, in the JSON
// or the SVG; the page, in headless Chromium, shows the same events,
// overdue in red, without a console error, at 1280 px and at 375 px width.
func TestStatusPage(t *testing.T) {
	chromium := harness.Need(t, "chromium-headless-shell")[0]
	s := start(t)

	// The certs plugin obtained its certificate from Pebble and has its
	// renewal information.
	var rep report
	harness.Eventually(t, 120*time.Second, "the managed certificate and its ARI window", func() bool {
		rep = s.statusJSON()
		for _, c := range rep.Certificates {
			if c.ID == "api" && c.Serial != "" && c.ARI != nil && !c.ARI.End.IsZero() {
				return true
			}
		}
		return false
	})
	// The Knot secondary acknowledged dnspki's serial (its transfer).
	harness.Eventually(t, 30*time.Second, "the secondary's acknowledged serial", func() bool {
		rep = s.statusJSON()
		for _, z := range rep.Zones {
			if z.Zone != zone {
				continue
			}
			for _, d := range z.Downstream {
				if d.Peer == s.knot.Addr && d.SerialKnown && d.Serial == z.Views[0].Serial && d.Lag == 0 {
					return true
				}
			}
		}
		return false
	})
	if len(rep.Errors) > 0 {
		t.Fatalf("errors: %v", rep.Errors)
	}
	s.checkMetrics(t, rep)
	s.checkNoSecret(t)
	kinds := map[string]int{}
	overdue, managed := 0, 0
	for _, e := range rep.Events {
		kinds[e.Kind]++
		if e.Kind == "certificate" && e.Subject == "api" {
			managed++
		}
		if e.Overdue {
			overdue++
			if e.Kind != "zone" || e.Subject != copyZone {
				t.Errorf("unexpected overdue event %+v", e)
			}
		}
	}
	for _, k := range []string{"dnssec", "certificate", "tlsa", "challenge", "zone"} {
		if kinds[k] == 0 {
			t.Errorf("no %s event in %+v", k, rep.Events)
		}
	}
	if managed < 3 { // expiry, ARI window, renewal
		t.Errorf("%d events of the managed certificate: %+v", managed, rep.Events)
	}
	if overdue != 1 {
		t.Errorf("%d overdue events, want 1 (copy.test expired)", overdue)
	}

	// The text form lists the same events, the overdue one marked.
	text, err := harness.Run(t, time.Minute, s.dir, harness.Dnspki(t), "status", "-url", s.statusURL)
	if err != nil {
		t.Fatalf("dnspki status: %v\n%s", err, text)
	}
	for _, e := range rep.Events {
		if !strings.Contains(text, e.Subject+": "+e.What) {
			t.Errorf("the text lacks %q", e.Subject+": "+e.What)
		}
	}
	if !strings.Contains(text, "! ") || !strings.Contains(text, "OVERDUE") {
		t.Errorf("the text marks nothing overdue:\n%s", text)
	}

	b := newBrowser(t, chromium)
	for _, width := range []int64{1280, 375} {
		t.Run(fmt.Sprint(width), func(t *testing.T) { s.checkPage(t, b, width) })
	}
	b.checkConsole(t)
}

// checkPage loads the page at a viewport width and checks the timeline
// against the JSON: the same event ids (the JSON read before and after the
// page, and equal, so nothing moved in between), overdue ones red, the
// others not; "now" marked; labels inside the viewport, none over
// another, large enough to read; the page no wider than the viewport.
func (s *scenario) checkPage(t *testing.T, b *browser, width int64) {
	var got pageFacts
	var want []event
	for attempt := 0; ; attempt++ {
		before := s.statusJSON().Events
		got = b.load(t, s.statusURL+"/", width)
		after := s.statusJSON().Events
		if sameIDs(before, after) {
			want = after
			break
		}
		if attempt == 5 {
			t.Fatalf("the events kept changing:\n%v\n%v", before, after)
		}
	}
	t.Logf("width %d: loaded in %s, %d events, %d labels", width, got.LoadTime, len(got.Events), len(got.Labels))
	if got.ScrollWidth > int(width) {
		t.Errorf("the page is %d px wide in a %d px viewport", got.ScrollWidth, width)
	}
	if !got.NowLine {
		t.Error(`no "now" line in the visible timeline`)
	}
	byID := map[string]pageEvent{}
	for _, e := range got.Events {
		byID[e.ID] = e
	}
	if len(byID) != len(want) {
		t.Errorf("the timeline shows %d events, the JSON %d", len(byID), len(want))
	}
	for _, e := range want {
		pe, ok := byID[e.ID]
		if !ok {
			t.Errorf("event %s (%s: %s) is not in the timeline", e.ID, e.Subject, e.What)
			continue
		}
		if red := strings.EqualFold(pe.Fill, overdueColor); red != e.Overdue {
			t.Errorf("event %s (%s), overdue %v, is drawn in %s", e.ID, e.What, e.Overdue, pe.Fill)
		}
	}
	for i, l := range got.Labels {
		if l.Left < -0.5 || l.Right > float64(width)+0.5 {
			t.Errorf("label %q runs out of the viewport (%.1f..%.1f)", l.Text, l.Left, l.Right)
		}
		if l.FontPx < 10 {
			t.Errorf("label %q is drawn at %.1f px", l.Text, l.FontPx)
		}
		if l.Right-l.Left < 5*l.FontPx || l.Bottom-l.Top < l.FontPx {
			// No font, or not laid out: the checks above would be empty.
			t.Errorf("label %q takes %.1f x %.1f px", l.Text, l.Right-l.Left, l.Bottom-l.Top)
		}
		for _, m := range got.Labels[:i] {
			if l.Left < m.Right-0.5 && m.Left < l.Right-0.5 && l.Top < m.Bottom-0.5 && m.Top < l.Bottom-0.5 {
				t.Errorf("labels %q and %q overlap", l.Text, m.Text)
			}
		}
	}
	if len(got.Labels) != len(want) {
		t.Errorf("%d labels for %d events", len(got.Labels), len(want))
	}
	if got.BodyFontPx < 12 {
		t.Errorf("body text at %.1f px", got.BodyFontPx)
	}
}

func sameIDs(a, b []event) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].ID != b[i].ID {
			return false
		}
	}
	return true
}

// checkMetrics: the metrics the alerting rules use say what the page says
// (they are fed by the same accessors).
func (s *scenario) checkMetrics(t *testing.T, rep report) {
	t.Helper()
	var serial uint32
	for _, z := range rep.Zones {
		if z.Zone == zone {
			serial = z.Views[0].Serial
		}
	}
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"coredns_dnspki_xfr_downstream_serial", map[string]string{"zone": zone, "peer": s.knot.Addr}, float64(serial)},
		{"coredns_dnspki_tlsa_deployed_match", map[string]string{"cert": "www"}, 1},
		{"coredns_dnspki_acme_identity_records", map[string]string{"zone": zone, "identity": "http:lego"}, 1},
		{"coredns_dnspki_acme_identity_records_limit", map[string]string{"zone": zone}, 100},
		{"coredns_dnspki_xfr_secondary_expired", map[string]string{"zone": copyZone}, 1},
	} {
		if got := harness.Metric(t, s.metrics, c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
}

// checkNoSecret: no secret of the configuration is on the page, in its
// JSON or in the timeline.
func (s *scenario) checkNoSecret(t *testing.T) {
	t.Helper()
	for _, path := range []string{"/", "/status.json", "/timeline.svg"} {
		resp, err := http.Get(s.statusURL + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || len(b) < 500 {
			t.Fatalf("%s: %s, %d bytes", path, resp.Status, len(b))
		}
		for _, secret := range s.secrets {
			if strings.Contains(string(b), secret) {
				t.Errorf("%s shows a secret: %q", path, secret)
			}
		}
	}
}
