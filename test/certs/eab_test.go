package certs

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dnspki/dnspki/test/harness"
)

// TestExternalAccountBinding: a CA that requires External Account Binding
// refuses the account without it (the reason is logged, the server is not
// ready, nothing is written); with `eab` the account is bound and the
// certificate issued.
func TestExternalAccountBinding(t *testing.T) {
	const kid, hmac = "kid-dnspki", "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W"
	port, readyPort := harness.FreePort(t), harness.FreePort(t)
	addr := harness.Addr(port)
	pebble := harness.StartPebble(t, harness.PebbleOpts{DNSServer: addr, EABKeys: map[string]string{kid: hmac}})
	dir := t.TempDir()
	copyExampleZone(t, dir)
	corefile := func(eab string) string {
		return fmt.Sprintf(`example.test:%d {
    bind 127.0.0.1
    ready 127.0.0.1:%d
    authzone example.test {
        file example.test.zone
    }
    certs {
        directory %s
        ca-root %s
        %s
        cert api {
            names api.example.test
        }
    }
}
`, port, readyPort, pebble.Directory, pebble.RootPEM, eab)
	}
	srv := harness.StartDnspki(t, dir, corefile(""), port)
	harness.WaitDNS(t, addr, zone, 30*time.Second, srv.Proc)
	harness.Eventually(t, 30*time.Second, "the refusal logged", func() bool {
		return strings.Contains(srv.Output(), "the CA requires External Account Binding: configure 'eab KID HMAC'")
	})
	if code := httpStatus(fmt.Sprintf("http://127.0.0.1:%d/ready", readyPort)); code != 503 {
		t.Fatalf("ready: %d without a certificate", code)
	}
	out := filepath.Join(dir, "state", "certs", "api")
	if _, err := os.Stat(out); err == nil {
		t.Fatal("files written without a certificate")
	}
	srv.Stop()
	harness.WriteFile(t, filepath.Join(dir, "Corefile"), []byte(corefile("eab "+kid+" "+hmac)))
	srv.Restart()
	harness.Eventually(t, 60*time.Second, "the certificate", func() bool {
		_, err := os.Stat(filepath.Join(out, "fullchain.pem"))
		return err == nil
	})
	pebble.VerifyCertificate(t, readChain(t, out), "api.example.test")
	if !strings.Contains(pebble.Output(), kid) {
		t.Logf("pebble does not log the key id")
	}
}
