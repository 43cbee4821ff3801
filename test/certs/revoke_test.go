package certs

import (
	"bufio"
	"context"
	"crypto"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-acme/lego/v5/acme"
	"github.com/go-acme/lego/v5/acme/api"
	"github.com/go-acme/lego/v5/certcrypto"

	"github.com/dnspki/dnspki/test/harness"
)

// massCerts is the number of certificates of the mass-replacement test.
const massCerts = 20

// TestMassReplacement is the mass-replacement day: 20 certificates from
// Pebble, each with 3 1 1 and 2 1 1 TLSA records and a deploy command, are
// revoked (as a CA would revoke everything below a compromised
// intermediate); `dnspki certs check` makes dnspki ask Pebble's ARI at once,
// which answers "renew now" (a window in the past, Retry-After 6h). All 20
// are replaced, at most 4 orders at a time, each deployed once more and
// DANE-valid for openssl with the records dnspki serves; a certificate whose
// next key's TLSA has been served for its hold-down (even numbers, hold-down
// 3 s) gets that key, one whose next key is not ready (odd numbers,
// hold-down 1 h) keeps its current key, whose records are served; a
// replaced key's 3 1 1 stays published for the hold-down after the
// deployment, then goes. The time from the first revocation to the last
// deployment is logged (the measurement; nothing about speed is asserted).
func TestMassReplacement(t *testing.T) {
	harness.Need(t, "openssl")
	dir := t.TempDir()
	port, metricsPort, statusPort := harness.FreePort(t), harness.FreePort(t), harness.FreePort(t)
	addr := harness.Addr(port)
	pebble := harness.StartPebble(t, harness.PebbleOpts{DNSServer: addr})
	copyExampleZone(t, dir)
	deployLog := filepath.Join(dir, "deployed.log")
	var certLines strings.Builder
	for i := 1; i <= massCerts; i++ {
		hold := "3s"
		if i%2 == 1 {
			hold = "1h"
		}
		fmt.Fprintf(&certLines, `        cert c%02d {
            names h%02d.example.test
            service 443/tcp h%02d.example.test
            form 3 1 1
            form 2 1 1
            ttl 1
            holddown %s
            deploy /bin/sh -c "echo $DNSPKI_CERT_ID $(date +%%s.%%N) >> %s"
        }
`, i, i, i, hold, deployLog)
	}
	corefile := fmt.Sprintf(`example.test:%d {
    bind 127.0.0.1
    prometheus 127.0.0.1:%d
    authzone example.test {
        file example.test.zone
    }
    certs example.test {
        directory %s
        ca-root %s
        backoff 1s 5s
        concurrency 4
        http 127.0.0.1:%d
%s    }
}
`, port, metricsPort, pebble.Directory, pebble.RootPEM, statusPort, certLines.String())
	srv := harness.StartDnspki(t, dir, corefile, port)
	harness.WaitDNS(t, addr, zone, 30*time.Second, srv.Proc)
	env := []string{"DNSPKI_CERTS_HTTP=" + harness.Addr(statusPort)}
	bin := harness.Dnspki(t)
	status := func() map[string]certStatus {
		t.Helper()
		out, err := harness.RunEnv(t, 30*time.Second, dir, env, bin, "certs", "-json")
		var list []certStatus
		if err != nil || json.Unmarshal([]byte(out), &list) != nil {
			t.Fatalf("dnspki certs -json: %v\n%s", err, out)
		}
		m := map[string]certStatus{}
		for _, c := range list {
			m[c.ID] = c
		}
		return m
	}
	id := func(i int) string { return fmt.Sprintf("c%02d", i) }
	out := func(i int) string { return filepath.Join(dir, "state", "certs", id(i)) }

	// Every certificate issued, its ARI window known, the even ones' next
	// keys ready (served for their hold-down).
	harness.Eventually(t, 5*time.Minute, "20 certificates with ARI windows, the even ones' next keys ready", func() bool {
		st := status()
		for i := 1; i <= massCerts; i++ {
			c, ok := st[id(i)]
			if !ok || c.Serial == "" || c.ARI == nil || c.ARI.End.IsZero() || c.TLSA == nil || (i%2 == 0 && !c.TLSA.NextKeyReady) {
				return false
			}
		}
		return true
	})
	if !metricLine(t, metricsPort, "coredns_dnspki_certs_past_ari_window 0") {
		t.Fatal("certs_past_ari_window is not 0 before the revocations")
	}
	old := map[int]*x509.Certificate{}
	oldKey := map[int]crypto.Signer{}
	servers := map[int]*harness.TLSServer{}
	for i := 1; i <= massCerts; i++ {
		old[i] = pebble.VerifyCertificate(t, readChain(t, out(i)), fmt.Sprintf("h%02d.example.test", i))
		kb, err := os.ReadFile(filepath.Join(out(i), "privkey.pem"))
		if err != nil {
			t.Fatal(err)
		}
		if oldKey[i], err = certcrypto.ParsePEMPrivateKey(kb); err != nil {
			t.Fatal(err)
		}
		servers[i] = harness.StartTLSServer(t, filepath.Join(out(i), "fullchain.pem"), filepath.Join(out(i), "privkey.pem"))
	}
	if n := deployments(t, deployLog); len(n) != massCerts {
		t.Fatalf("deployments before the revocations: %v", n)
	}

	// The CA revokes every certificate (cACompromise), with each
	// certificate's own key (RFC 8555 §7.6).
	revoked := time.Now()
	for i := 1; i <= massCerts; i++ {
		revoke(t, pebble, old[i], oldKey[i])
	}
	for i := 1; i <= massCerts; i++ {
		if w := pebble.RenewalInfo(t, old[i]); !w.End.Before(time.Now()) {
			t.Fatalf("%s: Pebble's ARI after the revocation: %+v, want a window in the past", id(i), w)
		}
	}
	checkOut, err := harness.RunEnv(t, 5*time.Minute, dir, env, bin, "certs", "check", "-json", "-wait", "4m")
	checked := time.Now()
	var res struct {
		Certificates []certStatus `json:"certificates"`
		NotChecked   []string     `json:"not_checked"`
	}
	if err != nil || json.Unmarshal([]byte(checkOut), &res) != nil || len(res.Certificates) != massCerts || len(res.NotChecked) != 0 {
		t.Fatalf("dnspki certs check: %v\n%s", err, checkOut)
	}
	for i, c := range res.Certificates {
		// Asked: the CA's window is over, or it is replaced already.
		if (c.ARI == nil || !c.ARI.Past) && c.Serial == old[i+1].SerialNumber.Text(16) {
			t.Fatalf("%s after the check: %+v", c.ID, c)
		}
	}

	// All 20 replaced and deployed once more.
	var deployed map[string][]float64
	harness.Eventually(t, 5*time.Minute, "20 replacements deployed", func() bool {
		deployed = deployments(t, deployLog)
		for i := 1; i <= massCerts; i++ {
			if len(deployed[id(i)]) < 2 {
				return false
			}
		}
		return true
	})
	last := 0.0
	for i := 1; i <= massCerts; i++ {
		if d := deployed[id(i)]; len(d) != 2 {
			t.Fatalf("%s deployed %d times, want 2: %v", id(i), len(d), d)
		} else if d[1] > last {
			last = d[1]
		}
	}
	lastAt := time.Unix(0, int64(last*1e9))
	t.Logf("MEASURED: revocation of %d certificates to the last replacement deployed: %.2f s (certs check answered after %.2f s; concurrency 4)",
		massCerts, lastAt.Sub(revoked).Seconds(), checked.Sub(revoked).Seconds())

	for i := 1; i <= massCerts; i++ {
		name := fmt.Sprintf("h%02d.example.test", i)
		leaf := pebble.VerifyCertificate(t, readChain(t, out(i)), name)
		if leaf.SerialNumber.Cmp(old[i].SerialNumber) == 0 {
			t.Fatalf("%s: not replaced", id(i))
		}
		oldDigest, newDigest := harness.SPKI311(old[i].PublicKey), harness.SPKI311(leaf.PublicKey)
		if i%2 == 1 && newDigest != oldDigest {
			t.Fatalf("%s (next key not ready): replaced with another key %s, want the current %s", id(i), newDigest, oldDigest)
		}
		if i%2 == 0 && newDigest == oldDigest {
			t.Fatalf("%s (next key ready): replaced with the same key", id(i))
		}
		// DANE-valid with the records dnspki serves (the deploy hook's
		// reload).
		servers[i].Reload(t)
		owner := "_443._tcp." + name + "."
		records := tlsaAt(t, addr, owner)
		if ok, o := harness.OpenSSLDANE(t, servers[i].Addr, name, records, ""); !ok {
			t.Fatalf("%s: not DANE-valid with %v:\n%s", id(i), records, o)
		}
		// A replaced key's digest stays published for the hold-down after
		// the deployment: when it retired, the tlsa plugin logged until when
		// it stays (seconds, rounded down).
		if i%2 == 0 {
			re := regexp.MustCompile(`cert ` + id(i) + `: .*` + regexp.QuoteMeta(oldDigest[:6+16]) + `… retiring, published until (\S+?)[;\n]`)
			m := re.FindStringSubmatch(srv.Output())
			if m == nil {
				t.Fatalf("%s: no retirement of the old digest %s logged", id(i), oldDigest)
			}
			until, err := time.Parse(time.RFC3339, m[1])
			if err != nil {
				t.Fatal(err)
			}
			deployedAt := time.Unix(0, int64(deployed[id(i)][1]*1e9))
			if until.Add(time.Second).Sub(deployedAt) < 3*time.Second {
				t.Fatalf("%s: the old digest is published until %s, less than the hold-down (3 s) after the deployment at %s", id(i), until, deployedAt.Format(time.RFC3339Nano))
			}
		}
	}
	// Then the old digests go, and no certificate is past its ARI window.
	harness.Eventually(t, 30*time.Second, "the replaced keys' digests gone after their hold-down", func() bool {
		for i := 2; i <= massCerts; i += 2 {
			if contains(tlsaAt(t, addr, "_443._tcp."+fmt.Sprintf("h%02d.example.test", i)+"."), harness.SPKI311(old[i].PublicKey)) {
				return false
			}
		}
		return true
	})
	harness.Eventually(t, 30*time.Second, "certs_past_ari_window back to 0", func() bool {
		return metricLine(t, metricsPort, "coredns_dnspki_certs_past_ari_window 0")
	})
	if n := strings.Count(srv.Output(), "the CA asks to replace the certificate now; the next key's TLSA records are not ready"); n < massCerts/2 {
		t.Fatalf("%d replacements with the current key announced, want %d", n, massCerts/2)
	}
}

// revoke revokes cert at Pebble with a request signed by the certificate's
// own key (embedded JWK), reason cACompromise (RFC 5280 §5.3.1).
func revoke(t *testing.T, p *harness.Pebble, cert *x509.Certificate, key crypto.Signer) {
	t.Helper()
	core, err := api.New(p.HTTPClient(t), "dnspki-test", p.Directory, "", key)
	if err != nil {
		t.Fatal(err)
	}
	reason := uint(2)
	if err := core.Certificates.Revoke(context.Background(), acme.RevokeCertMessage{Certificate: base64.RawURLEncoding.EncodeToString(cert.Raw), Reason: &reason}); err != nil {
		t.Fatalf("revoking %s: %v", cert.SerialNumber.Text(16), err)
	}
}

// deployments reads the deploy hook's log: per certificate id, the times
// (Unix seconds) of its deployments, in order.
func deployments(t *testing.T, path string) map[string][]float64 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	out := map[string][]float64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) != 2 {
			continue // a line being written
		}
		v, err := strconv.ParseFloat(fields[1], 64)
		if err != nil {
			continue
		}
		out[fields[0]] = append(out[fields[0]], v)
	}
	for _, l := range out {
		sort.Float64s(l)
	}
	return out
}

// metricLine reports whether the metrics page has exactly that line.
func metricLine(t *testing.T, port int, line string) bool {
	t.Helper()
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", port))
	if err != nil {
		t.Fatalf("metrics: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, l := range strings.Split(string(b), "\n") {
		if l == line {
			return true
		}
	}
	return false
}
