package acme

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dnspki/dnspki/test/harness"
)

// TestStockTsigPluginRefused: CoreDNS's tsig plugin in the same server block,
// covering the zone, would strip the TSIG of every UPDATE before
// acmechallenge sees it (all of them refused as unsigned, and no algorithm
// binding): dnspki does not start, and says why; with the tsig plugin limited
// to another zone it starts.
func TestStockTsigPluginRefused(t *testing.T) {
	dir := t.TempDir()
	zf, err := os.ReadFile(filepath.Join(harness.Root(), "corefile-examples", "example.test.zone"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "zone"), zf, 0o644)
	corefile := func(port int, tsigZone string) string {
		return fmt.Sprintf(`example.test:%d other.test:%d {
    bind 127.0.0.1
    tsig %s {
        secret xfr-key. %s
        require AXFR IXFR
    }
    authzone example.test {
        file zone
    }
    acmechallenge example.test {
        key acme-www. hmac-sha256 %s
        grant acme-www. name www.example.test
    }
}
`, port, port, tsigZone, wwwSecret, wwwSecret)
	}
	port := harness.FreePort(t)
	os.WriteFile(filepath.Join(dir, "Corefile"), []byte(corefile(port, "example.test")), 0o644)
	out, err := harness.Run(t, 20*time.Second, dir, harness.Dnspki(t), "-conf", "Corefile")
	if err == nil || strings.Contains(err.Error(), "timed out") || !strings.Contains(out, "Corefile:10 - Error during parsing: acmechallenge zone example.test. is also covered by the tsig plugin (zone example.test.)") {
		t.Fatalf("started with the tsig plugin over the zone: %v\n%s", err, out)
	}
	s := harness.StartDnspki(t, dir, corefile(port, "other.test"), port)
	harness.WaitDNS(t, s.Addr, zone, 30*time.Second, s.Proc)
	if o, err := nsupdate(t, s.Addr, "hmac-sha256:acme-www.:"+wwwSecret, false, fmt.Sprintf("update add _acme-challenge.www.example.test. 60 TXT %s", val1)); err != nil {
		t.Fatalf("with the tsig plugin on another zone: %v\n%s", err, o)
	}
}
