// Package certs tests the certs plugin end to end: dnspki obtains and renews
// certificates from Pebble (Let's Encrypt's ACME test CA) by dns-01 and
// dns-persist-01 with the challenge records in its own zone, which a Knot
// secondary copies (NOTIFY, IXFR); renewals with short-lived certificates
// roll the key, and a TLS server reloading the files stays DANE-valid for
// openssl at every step (with the TLSA records dnspki and Knot answer);
// Pebble stopped during a renewal keeps the certificate and its TLSA (and the
// restarted Pebble's refusal of an order naming a certificate it never
// issued is met by ordering without the name). renew_test.go: renewals by
// dns-persist-01, with reuse-key and an RSA key, change nothing in DNS; the
// schedule follows Pebble's renewal information (ARI) and every renewal names
// the certificate it replaces.
package certs

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/dnspki/dnspki/test/harness"
)

const zone = "example.test."

// validity of Pebble's certificates in the renewal test (seconds): short,
// so that renewals happen during the test.
const validity = 30

const (
	tlsaTTL  = 2
	holdDown = 5 * time.Second
)

// tlsaAt returns the TLSA records at name as "u s m hex" (lowercase).
func tlsaAt(t *testing.T, addr, name string) []string {
	t.Helper()
	r, err := harness.Query(addr, name, dns.TypeTLSA, false, false)
	if err != nil {
		t.Fatalf("TLSA %s at %s: %v", name, addr, err)
	}
	var out []string
	for _, rr := range r.Answer {
		if x, ok := rr.(*dns.TLSA); ok {
			out = append(out, fmt.Sprintf("%d %d %d %s", x.Usage, x.Selector, x.MatchingType, strings.ToLower(x.Certificate)))
		}
	}
	return out
}

func txtAt(t *testing.T, addr, name string) []string {
	t.Helper()
	r, err := harness.Query(addr, name, dns.TypeTXT, false, false)
	if err != nil {
		t.Fatalf("TXT %s at %s: %v", name, addr, err)
	}
	var out []string
	for _, rr := range r.Answer {
		if x, ok := rr.(*dns.TXT); ok {
			out = append(out, strings.Join(x.Txt, ""))
		}
	}
	return out
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

func count(s, sub string) int { return strings.Count(s, sub) }

// readCert reads a certbot-layout folder's full chain.
func readChain(t *testing.T, dir string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "fullchain.pem"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func accountURI(t *testing.T, stateDir string) string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(stateDir, "acme", "accounts", "*.json"))
	if len(m) != 1 {
		t.Fatalf("account files: %v", m)
	}
	b, err := os.ReadFile(m[0])
	if err != nil {
		t.Fatal(err)
	}
	var a struct{ URI string }
	if err := json.Unmarshal(b, &a); err != nil {
		t.Fatal(err)
	}
	return a.URI
}

func httpStatus(url string) int {
	c := &http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestRenewals: Pebble issues both certificates (dns-01 for www, whose
// challenge a Knot secondary must serve before Pebble is asked to validate;
// dns-persist-01 for intra and *.intra); with 30 s certificates, renewals
// roll www's key at least twice while a TLS server that reloads the files
// after each deploy stays DANE-valid with the TLSA records dnspki and Knot
// answer at each step; Pebble stopped (and restarted without its state)
// during a renewal keeps the certificate and its TLSA until the renewal
// succeeds.
func TestRenewals(t *testing.T) {
	harness.Need(t, "knotd", "openssl")
	dir := t.TempDir()
	port, knotPort, pebblePort := harness.FreePort(t), harness.FreePort(t), harness.FreePort(t)
	metricsPort, readyPort := harness.FreePort(t), harness.FreePort(t)
	addr := harness.Addr(port)

	// The Knot secondary is started first and stopped (SIGSTOP) before
	// dnspki starts: dnspki must not let Pebble validate the first challenge
	// while Knot does not serve it.
	knot := harness.StartKnot(t, knotPort, harness.PeerZone{Name: zone, Primary: addr})
	knot.Signal(syscall.SIGSTOP)
	stopped := true
	defer func() {
		if stopped {
			knot.Signal(syscall.SIGCONT)
		}
	}()

	pebble := harness.StartPebble(t, harness.PebbleOpts{
		DNSServer: addr, Port: pebblePort,
		Profiles: map[string]harness.PebbleProfile{"short": {Description: "30 s", ValidityPeriod: validity}},
	})
	copyExampleZone(t, dir)
	corefile := fmt.Sprintf(`example.test:%d {
    bind 127.0.0.1
    prometheus 127.0.0.1:%d
    ready 127.0.0.1:%d
    authzone example.test {
        file example.test.zone
        transfer to 127.0.0.1
        notify 127.0.0.1:%d
    }
    certs example.test {
        directory %s
        ca-root %s
        backoff 1s 3s
        propagation-timeout 90s
        cert www {
            names www.example.test
            challenge dns-01
            service 443/tcp www.example.test
            ttl %d
            holddown %s
            deploy sh -c "echo $DNSPKI_CERT_ID >> deploy.log"
        }
        cert intra {
            names intra.example.test *.intra.example.test
            challenge dns-persist-01
        }
    }
}
`, port, metricsPort, readyPort, knotPort, pebble.Directory, pebble.RootPEM, tlsaTTL, holdDown)
	srv := harness.StartDnspki(t, dir, corefile, port)
	harness.WaitDNS(t, addr, zone, 30*time.Second, srv.Proc)
	metrics := fmt.Sprintf("http://127.0.0.1:%d/metrics", metricsPort)
	ready := fmt.Sprintf("http://127.0.0.1:%d/ready", readyPort)

	// dns-01 for www: the challenge is in dnspki's zone, Knot does not
	// serve it (stopped): Pebble is not asked.
	harness.Eventually(t, 30*time.Second, "the www challenge in dnspki's zone", func() bool {
		return len(txtAt(t, addr, "_acme-challenge.www.example.test.")) > 0
	})
	if code := httpStatus(ready); code != http.StatusServiceUnavailable {
		t.Fatalf("ready answers %d without any certificate; want 503", code)
	}
	// dnspki asked Knot and found it does not serve the challenge: it waits
	// (the positive signal), and Pebble has been asked nothing. The log
	// order checked below shows it asked Pebble only once Knot served it.
	harness.Eventually(t, 30*time.Second, "dnspki saying it waits for Knot", func() bool {
		return strings.Contains(srv.Output(), "not yet: 127.0.0.1:"+fmt.Sprint(knotPort))
	})
	if n := count(pebble.Output(), "Pulled a task"); n != 0 {
		t.Fatalf("Pebble validated %d challenges while the Knot secondary was stopped:\n%s", n, pebble.Output())
	}
	knot.Signal(syscall.SIGCONT)
	stopped = false
	www, intra := filepath.Join(dir, "state", "certs", "www"), filepath.Join(dir, "state", "certs", "intra")
	harness.Eventually(t, 90*time.Second, "both certificates", func() bool {
		_, e1 := os.Stat(filepath.Join(www, "fullchain.pem"))
		_, e2 := os.Stat(filepath.Join(intra, "fullchain.pem"))
		return e1 == nil && e2 == nil
	})
	out := srv.Output()
	servedLine := regexp.MustCompile(`cert www: _acme-challenge\.www\.example\.test\. is served by dnspki, 127\.0\.0\.1:` + fmt.Sprint(knotPort) + `; asking the CA to validate`)
	loc := servedLine.FindStringIndex(out)
	if loc == nil {
		t.Fatalf("no line saying Knot serves the www challenge before validation:\n%s", out)
	}
	if v := strings.Index(out, "www.example.test: the CA validated dns-01"); v < loc[0] {
		t.Fatalf("validation logged before Knot served the challenge:\n%s", out)
	}
	// The files are written before the certificate is handed to the rest
	// of the plugin (install): ready follows them, it is not there at the
	// same instant.
	harness.Eventually(t, 10*time.Second, "ready answering 200 with both certificates", func() bool {
		return httpStatus(ready) == http.StatusOK
	})
	leaf := pebble.VerifyCertificate(t, readChain(t, www), "www.example.test")
	pebble.VerifyCertificate(t, readChain(t, intra), "intra.example.test", "anything.intra.example.test")
	if fi, err := os.Stat(filepath.Join(www, "privkey.pem")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("privkey.pem: %v %v", fi.Mode(), err)
	}
	for _, f := range []string{"cert.pem", "chain.pem"} {
		if _, err := os.Stat(filepath.Join(www, f)); err != nil {
			t.Fatal(err)
		}
	}
	// intra's validation record names the account dnspki registered; Knot
	// serves it too.
	acct := accountURI(t, filepath.Join(dir, "state"))
	want := "pebble.letsencrypt.org; accounturi=" + acct + "; policy=wildcard"
	harness.Eventually(t, 10*time.Second, "the validation record at dnspki and Knot", func() bool {
		return contains(txtAt(t, addr, "_validation-persist.intra.example.test."), want) &&
			contains(txtAt(t, knot.Addr, "_validation-persist.intra.example.test."), want)
	})

	// The TLS server, reloaded after each deploy.
	web := harness.StartTLSServer(t, filepath.Join(www, "fullchain.pem"), filepath.Join(www, "privkey.pem"))
	deploys := 0
	deployLog := filepath.Join(dir, "deploy.log")
	keys := map[string]bool{harness.SPKI311(web.Leaf().PublicKey): true}
	if web.Leaf().SerialNumber.Cmp(leaf.SerialNumber) != 0 {
		// a renewal already happened: fine, the server reads the files
		t.Logf("www was renewed before the TLS server started")
	}
	checks := 0
	// firstAtKnot is when the test first saw each digest at Knot.
	firstAtKnot := map[string]time.Time{}
	// check runs one step of the watch: reload after a deploy, then openssl
	// with dnspki's and Knot's TLSA records.
	check := func(what string) {
		t.Helper()
		if b, err := os.ReadFile(deployLog); err == nil {
			if n := count(string(b), "www\n"); n > deploys {
				deploys = n
				web.Reload(t)
				k := harness.SPKI311(web.Leaf().PublicKey)
				if !keys[k] {
					// A new key: its TLSA record was at the secondary for at
					// least twice the TTL before the certificate existed (the
					// test sees both moments up to a poll late).
					seen, ok := firstAtKnot[k]
					if !ok {
						t.Fatalf("the new key %s was never published at Knot before use", k)
					}
					if seen.IsZero() {
						t.Logf("new key in use; its TLSA record was at Knot before the watch began")
					} else if gap := time.Since(seen); gap < 2*tlsaTTL*time.Second-time.Second {
						t.Fatalf("the new key %s was used %s after Knot served its TLSA record; want at least twice the TTL (%ds)", k, gap, 2*tlsaTTL)
					} else {
						t.Logf("new key in use %s after Knot first served its TLSA record", gap.Round(100*time.Millisecond))
					}
				}
				keys[k] = true
			}
		}
		served := harness.SPKI311(web.Leaf().PublicKey)
		for _, server := range []string{addr, knot.Addr} {
			recs := tlsaAt(t, server, "_443._tcp.www.example.test.")
			if server == knot.Addr {
				for _, r := range recs {
					if _, ok := firstAtKnot[r]; !ok {
						firstAtKnot[r] = time.Now()
						if checks == 0 {
							firstAtKnot[r] = time.Time{} // there before the first look
						}
					}
				}
			}
			if !contains(recs, served) {
				t.Fatalf("%s: %s serves TLSA %v without the served key's %s", what, server, recs, served)
			}
			ok, out := harness.OpenSSLDANE(t, web.Addr, "www.example.test", recs, "")
			if !ok {
				t.Fatalf("%s: DANE verification with %s's records failed:\n%s", what, server, out)
			}
		}
		checks++
	}
	watch := func(what string, timeout time.Duration, done func() bool) {
		t.Helper()
		deadline := time.Now().Add(timeout)
		for !done() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out after %s waiting for %s (keys served: %d, deploys: %d)", timeout, what, len(keys), deploys)
			}
			check(what)
			time.Sleep(200 * time.Millisecond)
		}
	}
	watch("the first key rollover", 3*validity*time.Second, func() bool { return len(keys) >= 2 })
	t.Logf("first rollover after %d checks", checks)

	// Pebble stopped: the renewals fail, are retried, and the certificate
	// and its TLSA records stay.
	installed := strings.Count(srv.Output(), "cert www: certificate ")
	before := readChain(t, www)
	pebble.Stop()
	watch("a failed www renewal while Pebble is down", 3*validity*time.Second, func() bool {
		return harness.Metric(t, metrics, "coredns_dnspki_certs_attempts_total", map[string]string{"cert": "www", "result": "ca_unreachable"}) >= 2
	})
	if got := strings.Count(srv.Output(), "cert www: certificate "); got != installed {
		t.Fatalf("a certificate was installed while Pebble was down")
	}
	if string(readChain(t, www)) != string(before) {
		t.Fatal("the certificate files changed while Pebble was down")
	}
	if !strings.Contains(srv.Output(), "the current certificate (valid until") {
		t.Fatalf("the failure log does not say the certificate stays:\n%s", srv.Output())
	}
	// Pebble back, without its database: dnspki registers again, publishes
	// the new account in intra's validation record, and renews.
	pebble.Restart(t)
	watch("the renewal after Pebble is back", 3*validity*time.Second, func() bool {
		return strings.Count(srv.Output(), "cert www: certificate ") > installed && deploys > installed
	})
	// The restarted Pebble does not know the certificate the renewal names
	// as the one it replaces (RFC 9773 §5) and refuses the order: it is
	// placed again without naming it.
	if !strings.Contains(srv.Output(), "cert www: the CA refused an order replacing the current certificate") {
		t.Fatalf("no fallback to an order without 'replaces' after Pebble lost its database:\n%s", srv.Output())
	}
	acct2 := accountURI(t, filepath.Join(dir, "state"))
	if acct2 == acct {
		t.Fatalf("the account was not registered again at the restarted Pebble (%s)", acct)
	}
	want2 := "pebble.letsencrypt.org; accounturi=" + acct2 + "; policy=wildcard"
	harness.Eventually(t, 10*time.Second, "the new account in the validation record", func() bool {
		return contains(txtAt(t, addr, "_validation-persist.intra.example.test."), want2) &&
			contains(txtAt(t, knot.Addr, "_validation-persist.intra.example.test."), want2) &&
			!contains(txtAt(t, addr, "_validation-persist.intra.example.test."), want)
	})
	watch("a second key rollover", 3*validity*time.Second, func() bool { return len(keys) >= 3 })
	intraRenewed := strings.Count(srv.Output(), "cert intra: certificate ")
	watch("intra renewed with the new account", 3*validity*time.Second, func() bool {
		return strings.Count(srv.Output(), "cert intra: certificate ") > intraRenewed
	})
	pebble.VerifyCertificate(t, readChain(t, intra), "intra.example.test", "x.intra.example.test")
	// Later renewals name the certificate they replace again.
	watch("a replacement order accepted by the restarted Pebble", 3*validity*time.Second, func() bool {
		return strings.Contains(pebble.Output(), "is a replacement of")
	})
	t.Logf("%d DANE checks (openssl with dnspki's and Knot's TLSA records), %d keys served, %d deploys", checks, len(keys), deploys)

	// Old digests go after the hold-down: only the served key and the next
	// one remain.
	harness.Eventually(t, 3*holdDown+10*time.Second, "at most the served and the next key published", func() bool {
		return len(tlsaAt(t, addr, "_443._tcp.www.example.test.")) <= 2
	})
	if debug {
		t.Logf("dnspki:\n%s", srv.Output())
	}
	if v := harness.Metric(t, metrics, "coredns_dnspki_certs_expiry_seconds", map[string]string{"cert": "www"}); v <= 0 || v > validity {
		t.Fatalf("certs_expiry_seconds{cert=www} = %v", v)
	}
}

// CERTS_TEST_DEBUG=1 logs dnspki's output of passing tests too.
func init() {
	if os.Getenv("CERTS_TEST_DEBUG") != "" {
		debug = true
	}
}

var debug bool
