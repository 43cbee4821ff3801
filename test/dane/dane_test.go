// Package dane tests the tlsa plugin end to end: dnspki publishes TLSA
// records from certificate files; openssl s_client (HTTPS-style TLS and SMTP
// STARTTLS) and ldns-dane verify servers with the records dnspki answers;
// renewals with a new key (certbot's symlink swap, an in-place rewrite)
// never leave the served certificate without its digest; broken files and
// restarts keep the records.
package dane

import (
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/dnspki/dnspki/test/harness"
)

const (
	zone     = "example.test."
	ttl      = 1
	holdDown = 3 * time.Second
)

const zoneFile = `$ORIGIN example.test.
$TTL 3600
@    IN SOA ns1 hostmaster 1 3600 600 86400 60
     IN NS  ns1
     IN MX  10 mail
ns1  IN A   127.0.0.1
www  IN A   127.0.0.1
mail IN A   127.0.0.1
`

// env is one dnspki with a tlsa certificate "www" and the TLS servers that
// use it.
type env struct {
	t       *testing.T
	dir     string
	ca      *harness.TestCA
	srv     *harness.Server
	http    string
	metrics string
	web     *harness.TLSServer
	smtp    *harness.TLSServer
	names   []string // the TLSA owner names: the web and SMTP servers' ports
}

// start runs dnspki publishing the certificate at certPath (relative to
// the env's folder) for the web and SMTP servers, which serve certFile and
// keyFile (already written).
func start(t *testing.T, dir, certPath, certFile, keyFile, extra string) *env {
	t.Helper()
	harness.Need(t, "openssl")
	e := &env{t: t, dir: dir, ca: nil}
	e.web = harness.StartTLSServer(t, certFile, keyFile)
	e.smtp = harness.StartSMTPServer(t, certFile, keyFile)
	e.names = []string{
		fmt.Sprintf("_%d._tcp.www.example.test.", e.web.Port),
		fmt.Sprintf("_%d._tcp.mail.example.test.", e.smtp.Port),
	}
	port := harness.FreePort(t)
	e.http = harness.Addr(harness.FreePort(t))
	e.metrics = harness.Addr(harness.FreePort(t))
	if err := os.WriteFile(filepath.Join(dir, "db.zone"), []byte(zoneFile), 0o644); err != nil {
		t.Fatal(err)
	}
	corefile := fmt.Sprintf(`example.test:%d {
    bind 127.0.0.1
    errors
    prometheus %s
    authzone example.test {
        file db.zone
    }
    tlsa example.test {
        cert www %s {
            service %d/tcp www.example.test.
            service %d/tcp mail.example.test.
            ttl %d
            holddown %s
%s
        }
        reread 10s
        http %s
    }
}
`, port, e.metrics, certPath, e.web.Port, e.smtp.Port, ttl, holdDown, extra, e.http)
	e.srv = harness.StartDnspki(t, dir, corefile, port)
	harness.WaitDNS(t, e.srv.Addr, zone, 30*time.Second, e.srv.Proc)
	return e
}

// published is the TLSA record data dnspki answers at name ("3 1 1 <hex>",
// sorted).
func (e *env) published(name string) []string {
	e.t.Helper()
	r, err := harness.Query(e.srv.Addr, name, dns.TypeTLSA, false, false)
	if err != nil {
		e.t.Fatalf("TLSA %s: %v", name, err)
	}
	return rdataOf(r)
}

func rdataOf(r *dns.Msg) []string {
	var out []string
	for _, rr := range r.Answer {
		if t, ok := rr.(*dns.TLSA); ok {
			out = append(out, fmt.Sprintf("%d %d %d %s", t.Usage, t.Selector, t.MatchingType, strings.ToLower(t.Certificate)))
		}
	}
	sort.Strings(out)
	return out
}

// readNow makes dnspki read the certificate's files now: the readiness
// endpoint reads them before it answers (200 or 503), so once it answered
// the records reflect the files as they are (a positive signal, instead of
// sleeping and hoping a file event was handled by then).
func (e *env) readNow(what string) {
	e.t.Helper()
	resp, err := http.Get("http://" + e.http + "/tlsa/v1/ready?cert=www")
	if err != nil {
		e.t.Fatalf("%s: readiness endpoint: %v", what, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusServiceUnavailable {
		e.t.Fatalf("%s: readiness endpoint answered %s", what, resp.Status)
	}
}

// expect asserts that both names publish exactly want.
func (e *env) expect(what string, want ...string) {
	e.t.Helper()
	sort.Strings(want)
	for _, n := range e.names {
		if got := e.published(n); strings.Join(got, ",") != strings.Join(want, ",") {
			e.t.Fatalf("%s: %s publishes\n  %v\nwant\n  %v", what, n, got, want)
		}
	}
}

// waitFor waits (bounded) until both names publish exactly want.
func (e *env) waitFor(what string, timeout time.Duration, want ...string) {
	e.t.Helper()
	sort.Strings(want)
	harness.Eventually(e.t, timeout, what, func() bool {
		for _, n := range e.names {
			if strings.Join(e.published(n), ",") != strings.Join(want, ",") {
				return false
			}
		}
		return true
	})
}

// verify checks the web server with openssl s_client and the SMTP server
// with openssl s_client -starttls smtp, each with the records dnspki
// publishes for it.
func (e *env) verify(what string) {
	e.t.Helper()
	for i, s := range []*harness.TLSServer{e.web, e.smtp} {
		domain, starttls := "www.example.test", ""
		if i == 1 {
			domain, starttls = "mail.example.test", "smtp"
		}
		ok, out := harness.OpenSSLDANE(e.t, s.Addr, domain, e.published(e.names[i]), starttls)
		if !ok {
			e.t.Fatalf("%s: openssl does not verify %s with the published TLSA records:\n%s", what, domain, out)
		}
	}
}

// reload makes both servers read their files again (the deploy hook).
func (e *env) reload() {
	e.web.Reload(e.t)
	e.smtp.Reload(e.t)
}

// ready runs dnspki tlsa-ready with args and returns its exit status.
func (e *env) ready(args ...string) (int, string) {
	e.t.Helper()
	argv := append([]string{harness.Dnspki(e.t), "tlsa-ready", "-addr", e.http}, args...)
	out, err := harness.Run(e.t, 60*time.Second, e.dir, argv...)
	if err == nil {
		return 0, out
	}
	if ee, ok := err.(interface{ ExitCode() int }); ok {
		return ee.ExitCode(), out
	}
	e.t.Fatalf("tlsa-ready: %v\n%s", err, out)
	return -1, out
}

// role returns the role dnspki gives a digest ("current", "next",
// "retiring", ...; "" when it is not published), from its status endpoint.
func (e *env) role(digest string) string {
	e.t.Helper()
	resp, err := http.Get("http://" + e.http + "/tlsa/v1/status?cert=www")
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var st []struct {
		Records []struct{ Record, Role string }
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		e.t.Fatal(err)
	}
	for _, c := range st {
		for _, r := range c.Records {
			if r.Record == digest {
				return r.Role
			}
		}
	}
	return ""
}

// waitRole waits (bounded) until dnspki gives the digests these roles.
func (e *env) waitRole(what string, roles map[string]string) {
	e.t.Helper()
	harness.Eventually(e.t, 10*time.Second, what, func() bool {
		for d, r := range roles {
			if e.role(d) != r {
				return false
			}
		}
		return true
	})
}

// metric returns the value of a metric line (name with labels) or 0.
func (e *env) metric(line string) float64 {
	e.t.Helper()
	resp, err := http.Get("http://" + e.metrics + "/metrics")
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, line+" ") {
			var v float64
			fmt.Sscanf(strings.TrimPrefix(l, line+" "), "%g", &v)
			return v
		}
	}
	return 0
}

func leaf311(c *x509.Certificate) string {
	s := sha256.Sum256(c.RawSubjectPublicKeyInfo)
	return "3 1 1 " + hex.EncodeToString(s[:])
}

// monitor queries dnspki every 25 ms for the whole test and records every
// moment the digest of the certificate being served is missing from a
// name's TLSA set, when each digest was first seen, and before which
// moment it was surely not published yet.
type monitor struct {
	e         *env
	stop      chan struct{}
	done      chan struct{}
	mu        sync.Mutex
	firstSeen map[string]time.Time
	// notBefore[d] is when the last query answered without d was sent: d
	// was published after it. Zero when d was there at the first query.
	notBefore map[string]time.Time
	missing   []string
	rounds    int
}

func (e *env) monitor() *monitor {
	m := &monitor{e: e, stop: make(chan struct{}), done: make(chan struct{}), firstSeen: map[string]time.Time{}, notBefore: map[string]time.Time{}}
	prevAsked := map[string]time.Time{} // per name, when its last query was sent
	go func() {
		defer close(m.done)
		tick := time.NewTicker(25 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-m.stop:
				return
			case <-tick.C:
			}
			served := leaf311(e.web.Leaf())
			for _, n := range e.names {
				asked := time.Now()
				r, err := harness.Query(e.srv.Addr, n, dns.TypeTLSA, false, false)
				if err != nil {
					continue // dnspki restarting
				}
				set := rdataOf(r)
				now := time.Now()
				m.mu.Lock()
				found := false
				for _, d := range set {
					if _, ok := m.firstSeen[d]; !ok {
						m.firstSeen[d] = now
						m.notBefore[d] = prevAsked[n]
					}
					if d == served {
						found = true
					}
				}
				if !found && len(m.missing) < 20 {
					m.missing = append(m.missing, fmt.Sprintf("%s %s: served %s, published %v", now.Format("15:04:05.000"), n, served, set))
				}
				m.mu.Unlock()
				prevAsked[n] = asked
			}
			m.mu.Lock()
			m.rounds++
			m.mu.Unlock()
		}
	}()
	e.t.Cleanup(m.finish)
	return m
}

// publishedAfter is a moment before d was published (zero if it was
// already published when the monitor began).
func (m *monitor) publishedAfter(d string) time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.notBefore[d]
}

func (m *monitor) seen(d string) time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.firstSeen[d]
}

// finish stops the monitor and fails the test if the served digest was ever
// missing.
func (m *monitor) finish() {
	select {
	case <-m.stop:
		return
	default:
	}
	close(m.stop)
	<-m.done
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.missing) > 0 {
		m.e.t.Errorf("the digest of the certificate being served was missing from the published TLSA set:\n%s", strings.Join(m.missing, "\n"))
	}
	m.e.t.Logf("monitor: %d query rounds, the served digest always published", m.rounds)
}

// switchWhenReady is the deploy hook: wait with dnspki tlsa-ready until the
// new certificate is safe, then reload the servers. It checks that the new
// key's digest had been published for the hold-down when the switch
// happened.
func (e *env) switchWhenReady(mon *monitor, newKey crypto.PublicKey, certFile string) {
	e.t.Helper()
	code, out := e.ready("-cert", "www", "-wait", "30s", "-interval", "200ms", certFile)
	if code != 0 {
		e.t.Fatalf("tlsa-ready never said ready (exit %d):\n%s", code, out)
	}
	k := harness.SPKI311(newKey)
	if mon.seen(k).IsZero() {
		e.t.Fatal("ready for a key the monitor never saw published")
	}
	// The key was published after the last query answered without it, so
	// if dnspki kept the hold-down, more than the hold-down has passed
	// since that query (no slack needed: the bound only errs on the safe
	// side).
	if after := mon.publishedAfter(k); after.IsZero() {
		e.t.Logf("the new key was published before the monitor began")
	} else if age := time.Since(after); age < holdDown {
		e.t.Fatalf("tlsa-ready said ready %s after a query answered without the new key; the hold-down is %s", age, holdDown)
	}
	e.reload()
}
