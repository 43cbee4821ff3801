package status

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"encoding/xml"
	"io"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"
)

// serve starts the page for cfg (on a free loopback port) and returns its
// base URL; the listener stops when the test ends.
func serve(t *testing.T, cfg *config) string {
	t.Helper()
	if cfg.addr == "" {
		cfg.addr = "127.0.0.1:0"
	}
	if cfg.horizon == 0 {
		cfg.horizon = DefaultHorizon
	}
	cfg.where = "Corefile:1"
	if err := start(cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stop(cfg.addr) })
	endpoints.Lock()
	ep := endpoints.m[cfg.addr]
	endpoints.Unlock()
	scheme := "http"
	if ep.tls {
		scheme = "https"
	}
	return scheme + "://" + ep.ln.Addr().String()
}

// withSources replaces the plugins the report asks for the test.
func withSources(t *testing.T, s []source) {
	t.Helper()
	old := sources
	sources = s
	t.Cleanup(func() { sources = old })
}

// sampleSources report what sampleReport holds.
func sampleSources(now time.Time) []source {
	r := sampleReport(now)
	return []source{
		{"zones", func(x *Report) { x.Zones = r.Zones }},
		{"dnssec", func(x *Report) { x.DNSSEC = r.DNSSEC }},
		{"certificates", func(x *Report) { x.Certificates = r.Certificates }},
		{"tlsa", func(x *Report) { x.TLSA = r.TLSA }},
		{"challenges", func(x *Report) { x.Challenges = r.Challenges }},
	}
}

func get(t *testing.T, c *http.Client, method, url string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// TestPage: the page, its JSON and the timeline alone are served; the JSON
// has the events, the page and the SVG show each of them (by id), overdue
// ones in red; the SVG is well-formed XML; nothing but GET and HEAD is
// accepted; the headers keep the page to itself.
func TestPage(t *testing.T) {
	withSources(t, sampleSources(time.Now()))
	base := serve(t, &config{})
	c := http.DefaultClient

	resp, body := get(t, c, "GET", base+"/status.json")
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("status.json: %s %s", resp.Status, resp.Header.Get("Content-Type"))
	}
	var rep Report
	if err := json.Unmarshal([]byte(body), &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Events) < 5 {
		t.Fatalf("events: %d", len(rep.Events))
	}
	overdue := 0
	for _, e := range rep.Events {
		if e.Overdue {
			overdue++
		}
	}
	if overdue == 0 {
		t.Fatal("the sample has overdue events; none reported")
	}

	resp, page := get(t, c, "GET", base+"/")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("page: %s %s", resp.Status, resp.Header.Get("Content-Type"))
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("CSP %q", csp)
	}
	if strings.Contains(page, "<script") {
		t.Error("the page has a script")
	}
	if strings.Contains(page, "<b>x</b>") {
		t.Error("a name is not escaped")
	}
	for _, e := range rep.Events {
		// Twice in the timelines (wide and narrow), once in the table.
		if n := strings.Count(page, `data-event="`+e.ID+`"`); n != 3 {
			t.Errorf("event %s (%s) is on the page %d times, want 3", e.ID, e.What, n)
		}
	}
	if !strings.Contains(page, `class="ev k-certificate overdue"`) || !strings.Contains(page, `fill="`+overdueColor+`"`) {
		t.Error("no overdue event drawn in red")
	}

	resp, svg := get(t, c, "GET", base+"/timeline.svg")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/svg+xml" {
		t.Fatalf("timeline.svg: %s %s", resp.Status, resp.Header.Get("Content-Type"))
	}
	checkXML(t, svg)
	if !strings.Contains(svg, `class="now"`) {
		t.Error("no now line in the SVG")
	}
	for _, e := range rep.Events {
		if !strings.Contains(svg, `data-event="`+e.ID+`"`) {
			t.Errorf("event %s missing from the SVG", e.ID)
		}
	}
	checkXML(t, narrowTimeline(rep.Events, time.Now(), rep.HorizonEnd))

	for _, m := range []string{"POST", "PUT", "DELETE"} {
		if resp, _ := get(t, c, m, base+"/"); resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("%s: %s, want 405", m, resp.Status)
		}
	}
	if resp, _ := get(t, c, "HEAD", base+"/"); resp.StatusCode != 200 {
		t.Errorf("HEAD: %s", resp.Status)
	}
	if resp, _ := get(t, c, "GET", base+"/nothing"); resp.StatusCode != 404 {
		t.Errorf("/nothing: %s", resp.Status)
	}
	for _, p := range []string{"/status.css", "/favicon.svg", "/favicon.ico"} {
		if resp, _ := get(t, c, "GET", base+p); resp.StatusCode != 200 {
			t.Errorf("%s: %s", p, resp.Status)
		}
	}
}

// checkXML fails unless s is well-formed XML.
func checkXML(t *testing.T, s string) {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(s))
	for {
		_, err := d.Token()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatalf("not well-formed XML: %v", err)
		}
	}
}

// TestPageSourceFails: a plugin whose status panics leaves its part empty
// and an error on the page; the rest is served.
func TestPageSourceFails(t *testing.T) {
	s := sampleSources(time.Now())
	s[2] = source{"certificates", func(*Report) { panic("broken") }}
	withSources(t, s)
	base := serve(t, &config{})
	resp, page := get(t, http.DefaultClient, "GET", base+"/")
	if resp.StatusCode != 200 {
		t.Fatalf("page: %s", resp.Status)
	}
	if !strings.Contains(page, "reading the certificates status failed: broken") {
		t.Error("no error on the page")
	}
	if !strings.Contains(page, "ECDSAP256SHA256") {
		t.Error("the other parts are missing")
	}
	_, body := get(t, http.DefaultClient, "GET", base+"/status.json")
	var rep Report
	if err := json.Unmarshal([]byte(body), &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Errors) != 1 || len(rep.Certificates) != 0 || len(rep.DNSSEC) != 1 {
		t.Errorf("errors %q, %d certificates, %d signed zones", rep.Errors, len(rep.Certificates), len(rep.DNSSEC))
	}
}

// TestPageAllow: a client outside the access list gets 403 and nothing of
// the page; a new configuration on the same address (a reload) keeps the
// listener and applies its own list.
func TestPageAllow(t *testing.T) {
	withSources(t, sampleSources(time.Now()))
	p, _ := parsePrefix("192.0.2.0/24")
	base := serve(t, &config{allow: []netip.Prefix{p}})
	resp, body := get(t, http.DefaultClient, "GET", base+"/status.json")
	if resp.StatusCode != http.StatusForbidden || strings.Contains(body, "example.test") {
		t.Fatalf("from 127.0.0.1 outside the list: %s %q", resp.Status, body)
	}
	q, _ := parsePrefix("127.0.0.1")
	if again := serve(t, &config{allow: []netip.Prefix{p, q}}); again != base {
		t.Fatalf("the reload moved the page from %s to %s", base, again)
	}
	if resp, body := get(t, http.DefaultClient, "GET", base+"/status.json"); resp.StatusCode != 200 || !strings.Contains(body, "example.test") {
		t.Fatalf("from 127.0.0.1 in the list: %s", resp.Status)
	}
}

// TestPageTLS: with tls the page is served over HTTPS with the configured
// certificate; dnspki status reads it with -cacert.
func TestPageTLS(t *testing.T) {
	withSources(t, sampleSources(time.Now()))
	cert, key := testCert(t)
	base := serve(t, &config{certFile: cert, keyFile: key})
	if !strings.HasPrefix(base, "https://") {
		t.Fatalf("base %s", base)
	}
	b, _ := os.ReadFile(cert)
	blk, _ := pem.Decode(b)
	leaf, _ := x509.ParseCertificate(blk.Bytes)
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	if resp, _ := get(t, c, "GET", base+"/"); resp.StatusCode != 200 {
		t.Fatalf("https: %s", resp.Status)
	}
	var out, errb bytes.Buffer
	if rc := runStatus([]string{"-url", base, "-cacert", cert}, &out, &errb); rc != 0 {
		t.Fatalf("dnspki status: %d %s", rc, errb.String())
	}
	if rc := runStatus([]string{"-url", base}, &out, &errb); rc == 0 {
		t.Fatal("dnspki status trusted a certificate it has no root for")
	}
}
