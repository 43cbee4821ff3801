package authzone

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/coredns/caddy"
)

// Many zones cost no goroutine each (issue 18): 1000 secondary zones whose
// primary refuses, and 1000 primary zones whose NOTIFY target refuses, all
// retrying, run on the shared schedulers' bounded workers. The count is
// taken once every zone has made its first attempt (a refresh error in each
// secondary's status, a NOTIFY retry counted for each primary zone).
func TestManyZonesGoroutines(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 2000 zone stores")
	}
	const n = 1000
	dir := t.TempDir()
	dead := freeAddr(t) // nothing listens there: every attempt fails at once
	db := filepath.Join(dir, "db")
	if err := os.WriteFile(db, []byte("$TTL 3600\n@ IN SOA ns1 hostmaster 1 3600 600 86400 300\n  IN NS ns1\nns1 IN A 192.0.2.53\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "authzone s%d.test {\n primary %s\n state %s/state\n}\n", i, dead, dir)
		fmt.Fprintf(&b, "authzone p%d.test {\n file %s\n notify %s\n state %s/state\n}\n", i, db, dead, dir)
	}
	before := runtime.NumGoroutine()
	c := caddy.NewTestController("dns", b.String())
	a, reg, err := build(c)
	if err != nil {
		t.Fatal(err)
	}
	ts := serve(t, a, reg, dir, "")
	waitFor(t, 60*time.Second, "a first attempt of every zone", func() bool {
		for origin, zs := range a.zones {
			if zs.sec != nil && zs.sec.Status().LastError == "" {
				return false
			}
			if zs.sec == nil && counterValue(t, notifyOut.WithLabelValues(origin, zs.notifiers[0].view.Name, dead, "retry")) == 0 {
				return false
			}
		}
		return true
	})
	during := runtime.NumGoroutine()
	ts.stop()
	t.Logf("goroutines: %d before, %d with %d secondary zones and %d primary zones with a NOTIFY target retrying", before, during, n, n)
	// The servers, the file watcher, two timer goroutines and at most
	// 2 x schedWorkers jobs: far fewer than one per zone.
	if extra := during - before; extra > 100 {
		t.Fatalf("%d more goroutines with %d zones: some are per zone", extra, 2*n)
	}
}
