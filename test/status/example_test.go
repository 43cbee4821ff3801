package status

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dnspki/dnspki/test/harness"
)

// corefile-examples/signed.Corefile does what its comment says: the status
// page is on, and `dnspki status` (no flags; here DNSPKI_STATUS points it
// at the port the test gave the page instead of 8054) prints the zone, its
// key and the CSK rollover the 60-day lifetime schedules, about 60 days
// ahead.
func TestSignedExample(t *testing.T) {
	port, statusPort := harness.FreePort(t), harness.FreePort(t)
	dir := harness.Example(t, map[string]string{
		":1053":          fmt.Sprintf(":%d", port),
		"127.0.0.1:8054": fmt.Sprintf("127.0.0.1:%d", statusPort),
	})
	s := harness.RunDnspki(t, dir, filepath.Join("corefile-examples", "signed.Corefile"), port)
	harness.WaitDNS(t, s.Addr, "example.test.", 30*time.Second, s.Proc)
	env := []string{fmt.Sprintf("DNSPKI_STATUS=http://127.0.0.1:%d", statusPort)}
	out, err := harness.RunEnv(t, time.Minute, dir, env, harness.Dnspki(t), "status")
	if err != nil {
		t.Fatalf("dnspki status: %v\n%s", err, out)
	}
	for _, want := range []string{"example.test. (signed) view default: serial", "CSK rollover starts (end of lifetime)", "(ECDSAP256SHA256, csk)", "in 59d"} {
		if !strings.Contains(out, want) {
			t.Errorf("dnspki status lacks %q:\n%s", want, out)
		}
	}
}
