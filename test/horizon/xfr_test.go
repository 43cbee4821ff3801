package horizon

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/dnspki/dnspki/test/harness"
)

// zoneRead returns the records a Knot holds for the zone (knotc zone-read).
func zoneRead(t *testing.T, k *harness.Peer) []dns.RR {
	t.Helper()
	out := k.Knotc(t, "zone-read", zone)
	var rrs []dns.RR
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if _, rest, ok := strings.Cut(line, "] "); ok && strings.HasPrefix(line, "[") {
			line = rest
		}
		rr, err := dns.NewRR(line)
		if err != nil {
			t.Fatalf("knotc zone-read line %q: %v", line, err)
		}
		if rr != nil {
			rrs = append(rrs, rr)
		}
	}
	return rrs
}

// TestSecondariesPerView: two Knot secondaries of the same zone, one
// transferring with xfr-internal. (the internal view), one with
// xfr-external. from 127.0.0.2 (the external view), each notified for its
// view. Each holds exactly its view; an internal-only change reaches the
// internal secondary and leaves the external one (and its serial) alone; a
// change in every view reaches both by IXFR.
func TestSecondariesPerView(t *testing.T) {
	harness.Need(t, "knotd", "knotc", "nsupdate")
	kiPort, kePort := harness.FreePort(t), harness.FreePort(t)
	s := startServer(t, 0, fmt.Sprintf(`        notify 127.0.0.1:%d key %s view internal
        notify 127.0.0.1:%d key %s view external`, kiPort, keyInternal.Name, kePort, keyExternal.Name))
	in, ext := newClient("127.0.0.1", s.Port), newClient("127.0.0.2", s.Port)
	ki := harness.StartKnot(t, kiPort, harness.PeerZone{Name: zone, Primary: s.Addr, PrimaryKey: keyInternal})
	ke := harness.StartKnot(t, kePort, harness.PeerZone{Name: zone, Primary: s.Addr, PrimaryKey: keyExternal, PrimaryVia: "127.0.0.2"})
	int0, ext0 := in.serial(t), ext.serial(t)
	harness.WaitServes(t, ki.Addr, zone, int0, 30*time.Second, ki.Proc)
	harness.WaitServes(t, ke.Addr, zone, ext0, 30*time.Second, ke.Proc)

	sec := newSecrets(t, internalZone(""))
	checkExternal := func(what string) {
		t.Helper()
		rrs := zoneRead(t, ke)
		if len(rrs) < 20 {
			t.Fatalf("%s: the external secondary holds %d records", what, len(rrs))
		}
		if l := sec.leaks("", rrs); len(l) > 0 {
			t.Fatalf("%s: the external secondary holds internal data:\n%s", what, strings.Join(l, "\n"))
		}
		for _, n := range []string{"vpn.example.test.", "db.intra.example.test.", "host07.hostpool.intra.example.test.", "corp.example.test.", "newhost.hostpool.intra.example.test."} {
			r, err := harness.Query(ke.Addr, n, dns.TypeA, false, false)
			if err != nil || r.Rcode != dns.RcodeNameError {
				t.Errorf("%s: external secondary %s A: %v %v", what, n, r, err)
			}
		}
		r, err := harness.Query(ke.Addr, "_validation-persist.www.intra.example.test.", dns.TypeTXT, false, false)
		if err != nil || !strings.Contains(fmt.Sprint(r.Answer), persistURI) {
			t.Errorf("%s: external secondary validation record: %v %v", what, r, err)
		}
		r, err = harness.Query(ke.Addr, "mail.example.test.", dns.TypeA, false, false)
		if err != nil || !strings.Contains(fmt.Sprint(r.Answer), "192.0.2.25") {
			t.Errorf("%s: external secondary mail A: %v %v", what, r, err)
		}
	}
	checkInternal := func(what string, want ...string) {
		t.Helper()
		text := fmt.Sprint(zoneRead(t, ki))
		for _, w := range append(want, "10.0.0.1", "fd00:3::28", "10.1.2.25", "ns1.corp.example.test.", persistURI) {
			if !strings.Contains(text, w) {
				t.Errorf("%s: the internal secondary lacks %q", what, w)
			}
		}
	}
	checkExternal("initial")
	checkInternal("initial")

	// An internal-only change: the internal secondary follows, the external
	// one is not notified and its serial stays.
	write(t, filepath.Join(s.Dir, "internal.zone"), internalZone("newhost.hostpool.intra IN A 10.3.9.9\n"))
	harness.Eventually(t, 20*time.Second, "the internal view to take the edited file", func() bool { return in.serial(t) != int0 })
	int1 := in.serial(t)
	harness.WaitServes(t, ki.Addr, zone, int1, 30*time.Second, ki.Proc)
	checkInternal("after an internal change", "10.3.9.9")
	if got, _ := harness.SOASerial(ke.Addr, zone); got != ext0 || ext.serial(t) != ext0 {
		t.Errorf("an internal-only change moved the external serial: primary %d, secondary %d, was %d", ext.serial(t), got, ext0)
	}
	checkExternal("after an internal change")

	// A change in every view reaches both secondaries.
	if out, err := nsupdate(t, s.Addr, "127.0.0.2", keyACME, "update add _acme-challenge.git.intra.example.test. 60 TXT "+acmeValue); err != nil {
		t.Fatalf("nsupdate: %v\n%s", err, out)
	}
	ext1, int2 := ext.serial(t), in.serial(t)
	harness.WaitServes(t, ke.Addr, zone, ext1, 30*time.Second, ke.Proc)
	harness.WaitServes(t, ki.Addr, zone, int2, 30*time.Second, ki.Proc)
	for _, k := range []*harness.Peer{ki, ke} {
		if got := harness.TXTValues(t, k.Addr, "_acme-challenge.git.intra.example.test."); len(got) != 1 || got[0] != acmeValue {
			t.Errorf("%s: challenge %v", k.Addr, got)
		}
	}
	checkExternal("after a change in every view")
	// The external secondary took the change by IXFR from the external
	// journal (no AXFR needed, nothing internal in it).
	if lines := ke.LogLines(`IXFR, incoming.*finished`); len(lines) == 0 {
		t.Logf("external secondary log:\n%s", ke.Output())
		t.Errorf("the external secondary did not refresh by IXFR")
	}
}
