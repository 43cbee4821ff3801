package authzone

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/dnspki/dnspki/plugin/pkg/secondary"
	"github.com/dnspki/dnspki/plugin/pkg/zonemd"
)

// A primary with zone-digest: every AXFR carries a ZONEMD that an
// independent computation verifies, with the SOA serial; a change gives a
// new one; a dnspki secondary verifies it on each transfer.
func TestZoneDigestPrimaryAndSecondary(t *testing.T) {
	secAddr := freeAddr(t)
	p := startPrimary(t, "zone-digest sha384\n    transfer to 127.0.0.1 key "+testKey+"\n    notify "+secAddr+" key "+testKey)
	rrs, err := axfr(t, p.addr, testKey, testSecret)
	if err != nil {
		t.Fatal(err)
	}
	if err := zonemd.Verify("example.test.", rrs); err != nil {
		t.Fatalf("AXFR of the primary: %v", err)
	}
	origin := "example.test."
	verified := func() float64 { return counterValue(t, zonemdIn.WithLabelValues(origin, p.addr, "verified")) }
	before := verified()
	sdir := t.TempDir()
	s := startTest(t, sdir, fmt.Sprintf("primary %s key %s\n    key %s hmac-sha256 %s\n    state STATE", p.addr, testKey, testKey, testSecret), secAddr)
	sz := s.zone()
	waitFor(t, 10*time.Second, "the first transfer", func() bool { return sz.View("").Snapshot().Serial == 100 })
	if verified() != before+1 {
		t.Fatalf("zonemd_verify_total{result=verified} %v, want %v", verified(), before+1)
	}
	// The change reaches the secondary by IXFR, verified again.
	addTXT(t, p.zone(), "new.example.test.", 1, 10)
	waitFor(t, 10*time.Second, "the IXFR", func() bool { return sz.View("").Snapshot().Serial == 101 })
	if verified() != before+2 {
		t.Fatalf("after IXFR: verified %v, want %v", verified(), before+2)
	}
	if err := zonemd.Verify(origin, sz.View("").Snapshot().RRs()); err != nil {
		t.Fatalf("the secondary's copy: %v", err)
	}
}

// A transfer whose ZONEMD does not match is refused (IXFR, then AXFR):
// the zone held before keeps serving, the refusal is logged and counted;
// the corrected zone is taken.
func TestSecondaryRefusesBadZoneDigest(t *testing.T) {
	lb := captureLog(t)
	saved := secondary.MinTimer
	t.Cleanup(func() { secondary.MinTimer = saved })
	secondary.MinTimer = 200 * time.Millisecond
	zoneText := func(serial uint32, extra string, corrupt bool) string {
		text := strings.Replace(testZoneText(serial, extra), fmt.Sprintf("%d 2 1 30 300", serial), fmt.Sprintf("%d 1 0 30 300", serial), 1)
		var rrs []dns.RR
		zp := dns.NewZoneParser(strings.NewReader(text), "", "")
		for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
			rrs = append(rrs, rr)
		}
		sum, err := zonemd.Compute("example.test.", rrs, zonemd.HashSHA384)
		if err != nil {
			t.Fatal(err)
		}
		if corrupt {
			sum[0] ^= 0xff
		}
		return text + "\n" + zonemd.Record("example.test.", 3600, serial, zonemd.HashSHA384, sum).String() + "\n"
	}
	f := startFakePrimary(t, zoneText(100, "", false))
	s := startTest(t, t.TempDir(), fmt.Sprintf("primary %s key %s\n    key %s hmac-sha256 %s\n    state STATE", f.addr, testKey, testKey, testSecret), "")
	sz := s.zone()
	waitFor(t, 10*time.Second, "the first transfer", func() bool { return sz.View("").Snapshot().Serial == 100 })
	origin := "example.test."
	mismatch := func() float64 { return counterValue(t, zonemdIn.WithLabelValues(origin, f.addr, "mismatch")) }
	before := mismatch()
	mark := len(lb.String())
	f.set("good", zoneText(101, `new IN TXT "must not be served"`, true))
	waitFor(t, 10*time.Second, "two refused refreshes", func() bool { return f.count("good/AXFR") >= 3 && mismatch() >= before+3 })
	snap := sz.View("").Snapshot()
	if snap.Serial != 100 || snap.Get("new.example.test.", dns.TypeTXT) != nil {
		t.Fatalf("the secondary applied a zone whose digest does not match: serial %d", snap.Serial)
	}
	if !strings.Contains(lb.String()[mark:], "zone example.test.: transfer from "+f.addr+" refused: ZONEMD verification failed: SHA384 digest") {
		t.Fatalf("no refusal in the log:\n%s", lb.String()[mark:])
	}
	f.set("good", zoneText(101, `new IN TXT "now it matches"`, false))
	waitFor(t, 10*time.Second, "the corrected zone", func() bool {
		return sz.View("").Snapshot().Get("new.example.test.", dns.TypeTXT) != nil
	})
}
