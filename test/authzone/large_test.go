package authzone

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dnspki/dnspki/test/harness"
)

// largeZoneLines is the size of the zone of TestLargeZoneBadRecordKeepsServing:
// a million lines, the bad record at line 900,000 (issue 16).
const largeZoneLines = 1_000_000

// largeZone writes a zone file of largeZoneLines lines: the header, then one
// A record per line; line 10 is h10's record with address a10, and line
// bad (if not 0) is a record whose address does not parse.
func largeZone(t *testing.T, path, a10 string, bad int) {
	t.Helper()
	var b strings.Builder
	b.Grow(largeZoneLines * 30)
	b.WriteString("$ORIGIN example.test.\n$TTL 300\n@ IN SOA ns1 hostmaster 2026010101 3600 600 86400 60\n  IN NS ns1\nns1 IN A 192.0.2.53\n")
	for line := 6; line <= largeZoneLines; line++ {
		switch line {
		case 10:
			fmt.Fprintf(&b, "h10 IN A %s\n", a10)
		case bad:
			fmt.Fprintf(&b, "h%d IN A 10.0.not-an-address\n", line)
		default:
			fmt.Fprintf(&b, "h%d IN A 10.%d.%d.%d\n", line, line>>16&255, line>>8&255, line&255)
		}
	}
	// Written beside and renamed, as editors and tools replace a file.
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// A reload of a million-record zone file with a malformed record at line
// 900,000 is refused with the file, the line and the reason; the previous
// zone stays served whole: while the broken file is read, a change it makes
// at line 10 is never answered (nothing half-loaded), and the serial stays.
// The file once fixed is taken (the reload path works).
func TestLargeZoneBadRecordKeepsServing(t *testing.T) {
	if testing.Short() {
		t.Skip("a million-record zone")
	}
	dir := t.TempDir()
	zf := filepath.Join(dir, "example.test.zone")
	largeZone(t, zf, "192.0.2.1", 0)
	port := harness.FreePort(t)
	cf := fmt.Sprintf(`.:%d {
    bind 127.0.0.1
    errors
    authzone example.test {
        file %s
        state %s
        reload 1s
    }
}
`, port, zf, filepath.Join(dir, "state"))
	srv := harness.StartDnspki(t, dir, cf, port)
	// A bound for a loaded shared machine, not a speed requirement
	// (bench/scale.sh measures that).
	harness.WaitDNS(t, srv.Addr, zone, 10*time.Minute, srv.Proc)
	if got := lookupA(srv.Addr, "h10.example.test"); got != "192.0.2.1" {
		t.Fatalf("h10 = %q, want 192.0.2.1", got)
	}
	if got := lookupA(srv.Addr, "h999999.example.test"); got == "" {
		t.Fatal("the last record of the file is not served")
	}
	s0 := harness.MustSerial(t, srv.Addr, zone)

	// The broken file changes h10 too. Queries run from before it is
	// written until its refusal is logged; none may see the change.
	const badLine = 900_000
	where := fmt.Sprintf("%s:%d", zf, badLine)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	var answers, seen []string
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			got := lookupA(srv.Addr, "h10.example.test")
			mu.Lock()
			answers = append(answers, got)
			mu.Unlock()
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	harness.Eventually(t, time.Minute, "the first query of the loop", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(answers) > 0
	})
	largeZone(t, zf, "192.0.2.2", badLine)
	harness.Eventually(t, 10*time.Minute, "the refusal of line "+fmt.Sprint(badLine)+" logged", func() bool {
		out := srv.Output()
		return strings.Contains(out, "keeping the last good zone") &&
			(strings.Contains(out, where) || strings.Contains(out, fmt.Sprintf("line: %d", badLine)))
	})
	close(stop)
	wg.Wait()
	for _, a := range answers {
		if a != "192.0.2.1" {
			seen = append(seen, a)
		}
	}
	if len(seen) > 0 {
		t.Fatalf("%d queries while the broken file was read; answers other than the previous zone's: %q", len(answers), seen)
	}
	var line string
	for _, l := range strings.Split(srv.Output(), "\n") {
		if strings.Contains(l, "keeping the last good zone") {
			line = l
		}
	}
	if !strings.Contains(line, "not-an-address") {
		t.Errorf("the log does not say why: %s", line)
	}
	t.Logf("%d queries while refused; logged: %s", len(answers), line)
	if got := lookupA(srv.Addr, "h10.example.test"); got != "192.0.2.1" {
		t.Fatalf("after the refusal h10 = %q, want the previous 192.0.2.1", got)
	}
	if s := harness.MustSerial(t, srv.Addr, zone); s != s0 {
		t.Fatalf("the refused file moved the serial from %d to %d", s0, s)
	}

	// Fixed: the change is served.
	largeZone(t, zf, "192.0.2.2", 0)
	harness.Eventually(t, 10*time.Minute, "the fixed file served", func() bool { return lookupA(srv.Addr, "h10.example.test") == "192.0.2.2" })
	if s := harness.MustSerial(t, srv.Addr, zone); s != s0+1 {
		t.Fatalf("serial after the fixed file %d, want %d", s, s0+1)
	}
}
