package acme

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/dnspki/dnspki/test/harness"
)

// TestTsigKeygen: a key made by BIND's tsig-keygen, loaded with keyfile and
// named after its host, may set that host's challenge (a self grant) and
// nothing else; nsupdate uses the same file (-k).
func TestTsigKeygen(t *testing.T) {
	bins := harness.Need(t, "tsig-keygen", "nsupdate")
	dir := t.TempDir()
	out := harness.MustRun(t, 30*time.Second, dir, bins[0], "-a", "hmac-sha512", "host.intra.example.test.")
	keyfile := filepath.Join(dir, "host.key")
	if err := os.WriteFile(keyfile, []byte(out), 0o600); err != nil {
		t.Fatal(err)
	}
	zf, err := os.ReadFile(filepath.Join(harness.Root(), "corefile-examples", "example.test.zone"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "zone"), zf, 0o644)
	port := harness.FreePort(t)
	s := harness.StartDnspki(t, dir, fmt.Sprintf(`example.test:%d {
    bind 127.0.0.1
    authzone example.test {
        file zone
    }
    acmechallenge example.test {
        keyfile host.key
        grant host.intra.example.test. self
    }
}
`, port), port)
	harness.WaitDNS(t, s.Addr, zone, 30*time.Second, s.Proc)
	own := "_acme-challenge.host.intra.example.test."
	nsk := func(cmd string) (string, error) {
		script := fmt.Sprintf("server 127.0.0.1 %d\nzone %s\n%s\nsend\n", port, zone, cmd)
		return harness.RunInput(t, 30*time.Second, dir, script, bins[1], "-t", "5", "-k", keyfile)
	}
	if o, err := nsk(fmt.Sprintf("update add %s 60 TXT %s", own, val1)); err != nil {
		t.Fatalf("%v\n%s", err, o)
	}
	if got := harness.TXTValues(t, s.Addr, own); !slices.Equal(got, []string{val1}) {
		t.Fatalf("own challenge: %v", got)
	}
	for _, other := range []string{"_acme-challenge.intra.example.test.", "_acme-challenge.x.host.intra.example.test."} {
		if o, err := nsk(fmt.Sprintf("update add %s 60 TXT %s", other, val1)); err == nil {
			t.Fatalf("%s accepted:\n%s", other, o)
		}
		if got := harness.TXTValues(t, s.Addr, other); got != nil {
			t.Fatalf("%s: %v", other, got)
		}
	}
}
