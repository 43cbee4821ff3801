package certs

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dnspki/dnspki/test/harness"
)

// TestTwoAccounts: two certs blocks of one server, two ACME accounts (their
// own account-key files), order a certificate for the same name at the same
// time by dns-account-01; each account's challenge goes to its own label
// (computed here), in the one zone, and Pebble issues both.
func TestTwoAccounts(t *testing.T) {
	dir := t.TempDir()
	port := harness.FreePort(t)
	addr := harness.Addr(port)
	pebble := harness.StartPebble(t, harness.PebbleOpts{DNSServer: addr})
	copyExampleZone(t, dir)
	block := func(n int) string {
		return fmt.Sprintf(`    certs example.test {
        directory %s
        ca-root %s
        account-key account-%d.pem
        cert www%d {
            names www.example.test
            challenge dns-account-01
        }
    }
`, pebble.Directory, pebble.RootPEM, n, n)
	}
	corefile := fmt.Sprintf(`example.test:%d {
    bind 127.0.0.1
    authzone example.test {
        file example.test.zone
    }
%s%s}
`, port, block(1), block(2))
	srv := harness.StartDnspki(t, dir, corefile, port)
	harness.WaitDNS(t, addr, zone, 30*time.Second, srv.Proc)
	out1, out2 := filepath.Join(dir, "state", "certs", "www1"), filepath.Join(dir, "state", "certs", "www2")
	harness.Eventually(t, 2*time.Minute, "both certificates", func() bool {
		return leafOf(t, out1) != nil && leafOf(t, out2) != nil
	})
	l1 := pebble.VerifyCertificate(t, readChain(t, out1), "www.example.test")
	l2 := pebble.VerifyCertificate(t, readChain(t, out2), "www.example.test")
	if l1.SerialNumber.Cmp(l2.SerialNumber) == 0 {
		t.Fatal("one certificate")
	}
	accounts, _ := filepath.Glob(filepath.Join(dir, "state", "acme", "accounts", "*.json"))
	if len(accounts) != 2 {
		t.Fatalf("account files: %v", accounts)
	}
	out := srv.Output()
	for _, f := range accounts {
		b, _ := os.ReadFile(f)
		var a struct{ URI string }
		if err := json.Unmarshal(b, &a); err != nil || a.URI == "" {
			t.Fatalf("%s: %v", f, err)
		}
		owner := accountLabel(a.URI) + "._acme-challenge.www.example.test."
		if !strings.Contains(out, owner+" is served by") {
			t.Fatalf("no challenge of %s at %s:\n%s", a.URI, owner, out)
		}
	}
	if n := strings.Count(out, "www.example.test: the CA validated dns-account-01"); n != 2 {
		t.Fatalf("%d dns-account-01 validations, want 2:\n%s", n, out)
	}
}
