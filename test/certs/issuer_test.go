package certs

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-acme/lego/v5/certcrypto"

	"github.com/dnspki/dnspki/test/harness"
)

// TestNewIssuer: the CA replaces its intermediate (Pebble restarted: a new
// issuing chain, as after the revocation of an intermediate) while a
// certificate pinned by 3 1 1 and 2 1 1 is due for renewal. The certificate
// obtained from the new intermediate is not deployed at once: it is held,
// the new issuer's 2 1 1 is published beside the old one, and only once it
// has been served for the hold-down is the certificate installed and the
// deploy command run; it is DANE-valid for openssl with the 2 1 1 record
// alone; the old issuer's 2 1 1 goes a hold-down later. A held certificate
// the CA revokes before it is deployed is dropped at the next check and
// never deployed: another one is ordered and deployed instead.
func TestNewIssuer(t *testing.T) {
	harness.Need(t, "openssl")
	const holdDown = 10 * time.Second
	dir := t.TempDir()
	port, statusPort := harness.FreePort(t), harness.FreePort(t)
	addr := harness.Addr(port)
	pebble := harness.StartPebble(t, harness.PebbleOpts{DNSServer: addr})
	copyExampleZone(t, dir)
	deployLog := filepath.Join(dir, "deployed.log")
	corefile := fmt.Sprintf(`example.test:%d {
    bind 127.0.0.1
    authzone example.test {
        file example.test.zone
    }
    certs example.test {
        directory %s
        ca-root %s
        backoff 1s 3s
        http 127.0.0.1:%d
        cert www {
            names www.example.test
            service 443/tcp www.example.test
            form 3 1 1
            form 2 1 1
            ttl 2
            holddown %s
            deploy /bin/sh -c "echo $DNSPKI_CERT_ID $(date +%%s.%%N) >> %s"
        }
    }
}
`, port, pebble.Directory, pebble.RootPEM, statusPort, holdDown, deployLog)
	srv := harness.StartDnspki(t, dir, corefile, port)
	harness.WaitDNS(t, addr, zone, 30*time.Second, srv.Proc)
	env := []string{"DNSPKI_CERTS_HTTP=" + harness.Addr(statusPort)}
	bin := harness.Dnspki(t)
	www := func() certStatus {
		t.Helper()
		out, err := harness.RunEnv(t, 90*time.Second, dir, env, bin, "certs", "-json", "-cert", "www")
		var l []certStatus
		if err != nil || json.Unmarshal([]byte(out), &l) != nil || len(l) != 1 {
			t.Fatalf("dnspki certs: %v\n%s", err, out)
		}
		return l[0]
	}
	outDir := filepath.Join(dir, "state", "certs", "www")
	// Issued, and settled: the next key's records (made after the
	// certificate's) served for the hold-down.
	harness.Eventually(t, 2*time.Minute, "the certificate, its next key ready", func() bool {
		s := www()
		return s.Serial != "" && s.TLSA != nil && s.TLSA.NextKeyReady
	})
	oldLeaf := pebble.VerifyCertificate(t, readChain(t, outDir), "www.example.test")
	oldTA := ta211(t, readChain(t, outDir))
	const owner = "_443._tcp.www.example.test."
	if got := tlsaAt(t, addr, owner); !contains(got, oldTA) {
		t.Fatalf("TLSA %v without the issuer's %s", got, oldTA)
	}

	// The CA suggests renewing in a few seconds; then it replaces its
	// intermediate (everything Pebble had is gone: the account is registered
	// again, the order names no certificate it knows).
	start := time.Now().Add(8 * time.Second)
	pebble.SetRenewalInfo(t, oldLeaf, ariWindow(start, time.Second))
	out, err := harness.RunEnv(t, 90*time.Second, dir, env, bin, "certs", "check", "-cert", "www")
	if err != nil || !strings.Contains(out, "renewal") {
		t.Fatalf("dnspki certs check: %v\n%s", err, out)
	}
	if s := www(); s.ARI == nil || !s.ARI.Start.Equal(start.UTC().Truncate(time.Millisecond)) {
		t.Fatalf("the new window is not known: %+v", s.ARI)
	}
	pebble.Restart(t)

	// The certificate obtained from the new intermediate is held (stored
	// with its key, the next key); the CA revokes it before it is deployed:
	// a check drops it, it is never deployed, another is ordered.
	if l := srv.WaitLog(0, `cert www: certificate \S+ obtained \(issuer [^)]*\); it is installed once its TLSA records are ready`, 1, 2*time.Minute); len(l) == 0 {
		t.Fatalf("the renewal was not held:\n%s", srv.Output())
	}
	var st struct {
		Held    string `json:"held"`
		NextKey string `json:"next_key"`
	}
	b, err := os.ReadFile(stateFile(dir, "www"))
	if err != nil || json.Unmarshal(b, &st) != nil || st.Held == "" {
		t.Fatalf("no held certificate in the state: %v %s", err, b)
	}
	heldLeaf := harness.ParseCerts(t, []byte(st.Held))[0]
	nextKey, err := certcrypto.ParsePEMPrivateKey([]byte(st.NextKey))
	if err != nil {
		t.Fatal(err)
	}
	revoke(t, pebble, heldLeaf, nextKey)
	if out, err := harness.RunEnv(t, 90*time.Second, dir, env, bin, "certs", "check", "-cert", "www"); err != nil {
		t.Fatalf("dnspki certs check: %v\n%s", err, out)
	}
	if l := srv.WaitLog(0, `cert www: the obtained certificate `+heldLeaf.SerialNumber.Text(16)+` is not installed: the CA asks to replace it already`, 1, time.Minute); len(l) == 0 {
		t.Fatalf("the revoked held certificate was not dropped:\n%s", srv.Output())
	}

	var deployed map[string][]float64
	harness.Eventually(t, 2*time.Minute, "the renewal from the new intermediate deployed", func() bool {
		deployed = deployments(t, deployLog)
		return len(deployed["www"]) >= 2
	})
	newChain := readChain(t, outDir)
	leaf := pebble.VerifyCertificate(t, newChain, "www.example.test")
	if leaf.Issuer.CommonName == oldLeaf.Issuer.CommonName {
		t.Fatalf("the renewal has the old issuer %q", leaf.Issuer.CommonName)
	}
	if leaf.SerialNumber.Cmp(heldLeaf.SerialNumber) == 0 || len(deployed["www"]) != 2 {
		t.Fatalf("deployed %d times, the revoked %s now in use: %v", len(deployed["www"]), heldLeaf.SerialNumber.Text(16), leaf.SerialNumber.Cmp(heldLeaf.SerialNumber) == 0)
	}
	newTA := ta211(t, newChain)
	// The new issuer's 2 1 1 was served for the hold-down before the
	// deployment (since: seconds, rounded down).
	deployedAt := time.Unix(0, int64(deployed["www"][1]*1e9))
	var since time.Time
	for _, r := range www().TLSA.Records {
		if r.Record == newTA {
			since = r.Since
		}
	}
	if since.IsZero() {
		t.Fatalf("no %s in the status", newTA)
	}
	if gap := deployedAt.Sub(since); gap < holdDown {
		t.Fatalf("deployed %s after the new issuer's 2 1 1 was published, want at least the hold-down %s", gap, holdDown)
	}
	got := tlsaAt(t, addr, owner)
	if !contains(got, newTA) || !contains(got, harness.SPKI311(leaf.PublicKey)) {
		t.Fatalf("TLSA after the deployment: %v", got)
	}
	// DANE-valid by the new issuer's pin alone.
	tls := harness.StartTLSServer(t, filepath.Join(outDir, "fullchain.pem"), filepath.Join(outDir, "privkey.pem"))
	if ok, o := harness.OpenSSLDANE(t, tls.Addr, "www.example.test", []string{newTA}, ""); !ok {
		t.Fatalf("not DANE-valid by %s:\n%s", newTA, o)
	}
	harness.Eventually(t, 30*time.Second, "the old issuer's 2 1 1 gone after its hold-down", func() bool {
		return !contains(tlsaAt(t, addr, owner), oldTA)
	})
}

// ta211 is the 2 1 1 record of the issuer of a PEM chain (its second
// certificate), computed here.
func ta211(t *testing.T, chainPEM []byte) string {
	t.Helper()
	certs := harness.ParseCerts(t, chainPEM)
	if len(certs) < 2 {
		t.Fatal("no issuer in the chain")
	}
	s := sha256.Sum256(certs[1].RawSubjectPublicKeyInfo)
	return "2 1 1 " + hex.EncodeToString(s[:])
}
