package catalog

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/dnspki/dnspki/test/harness"
)

// TestExample runs corefile-examples/catalog.Corefile (the hidden primary)
// and catalog-secondary.Corefile (a dnspki secondary that consumes its
// catalog) as their comments say, on free ports: the secondary serves both
// member zones, transferred with xfr-key., without being told their names.
func TestExample(t *testing.T) {
	port, sport := harness.FreePort(t), harness.FreePort(t)
	dir := harness.Example(t, map[string]string{":1053": fmt.Sprintf(":%d", port), ":1054": fmt.Sprintf(":%d", sport)})
	primary := harness.RunDnspki(t, dir, filepath.Join("corefile-examples", "catalog.Corefile"), port)
	harness.WaitServes(t, primary.Addr, catalogZone, 1, 30*time.Second, primary.Proc)
	sec := harness.RunDnspki(t, dir, filepath.Join("corefile-examples", "catalog-secondary.Corefile"), sport)
	waitTXT(t, sec.Addr, "example.test.", "v=spf1 mx -all")
	harness.WaitServes(t, sec.Addr, "shop.test.", 2026010100, 30*time.Second, sec.Proc)
	if s := harness.MustSerial(t, sec.Addr, "example.test."); s != harness.MustSerial(t, primary.Addr, "example.test.") {
		t.Errorf("secondary serves example.test. serial %d, the primary another", s)
	}
}
