// Package catalog tests catalog zones (RFC 9432) with real peers: dnspki
// producing a catalog that Knot and BIND consume, and dnspki consuming a
// catalog that Knot produces or serves.
package catalog

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/dnspki/dnspki/test/harness"
)

// memberZone is a small member zone's file.
func memberZone(origin string, serial uint32, extra string) string {
	return fmt.Sprintf(`$ORIGIN %[1]s
$TTL 300
@   IN SOA ns1.%[1]s hostmaster.%[1]s %[2]d 3600 600 1209600 60
    IN NS  ns1.%[1]s
ns1 IN A   192.0.2.53
www IN TXT "%[1]s"
%[3]s`, origin, serial, extra)
}

// producerCorefile serves zones (each from dir/<zone>zone) and their
// catalog on port, transfers to 127.0.0.0/8 with xfr-key., NOTIFY to
// notify; groups maps a member to its group.
func producerCorefile(dir string, port int, zones []string, groups map[string]string, notify ...int) string {
	var b strings.Builder
	common := fmt.Sprintf("        state %s\n        key %s %s %s\n        transfer to 127.0.0.0/8 key %s\n",
		filepath.Join(dir, "state"), xfrKey.Name, xfrKey.Algorithm, xfrKey.Secret, xfrKey.Name)
	for _, n := range notify {
		common += fmt.Sprintf("        notify 127.0.0.1:%d key %s\n", n, xfrKey.Name)
	}
	fmt.Fprintf(&b, ".:%d {\n    bind 127.0.0.1\n    log\n", port)
	for _, z := range zones {
		fmt.Fprintf(&b, "    authzone %s {\n        file %s\n%s    }\n", z, filepath.Join(dir, z+"zone"), common)
	}
	fmt.Fprintf(&b, "    authzone %s {\n        catalog produce\n%s", catalogZone, common)
	for z, g := range groups {
		if slices.Contains(zones, z) {
			fmt.Fprintf(&b, "        group %s %s\n", z, g)
		}
	}
	b.WriteString("    }\n}\n")
	return b.String()
}

// refused reports whether addr answers zone's SOA with REFUSED or
// NOTAUTH (the zone is not configured there).
func refused(addr, zone string) bool {
	r, err := harness.Query(addr, zone, dns.TypeSOA, false, false)
	return err == nil && (r.Rcode == dns.RcodeRefused || r.Rcode == dns.RcodeNotAuth)
}

// txtOf returns the TXT strings addr answers for name.
func txtOf(addr, name string) []string {
	r, err := harness.Query(addr, name, dns.TypeTXT, false, false)
	if err != nil || r.Rcode != dns.RcodeSuccess {
		return nil
	}
	var out []string
	for _, rr := range r.Answer {
		if t, ok := rr.(*dns.TXT); ok {
			out = append(out, strings.Join(t.Txt, ""))
		}
	}
	return out
}

func waitTXT(t *testing.T, addr, name, value string) {
	t.Helper()
	harness.Eventually(t, 60*time.Second, fmt.Sprintf("%s answering %s TXT %q", addr, name, value), func() bool {
		return slices.Contains(txtOf(addr, name), value)
	})
}

// TestCatalogProducedForKnotAndBind: dnspki serves two zones and their
// catalog; Knot (catalog-role interpret) and BIND (catalog-zones) consume
// the catalog and provision both member zones by themselves. A zone added
// to the Corefile (reload) reaches both and answers there, an edit of it
// reaches them by NOTIFY and IXFR, and a zone removed from the Corefile is
// removed from both.
func TestCatalogProducedForKnotAndBind(t *testing.T) {
	harness.Need(t, "knotd", "named")
	dir := t.TempDir()
	port, kport, bport := harness.FreePort(t), harness.FreePort(t), harness.FreePort(t)
	zones := []string{"a.test.", "b.test."}
	for _, z := range append(zones, "c.test.") {
		write(t, filepath.Join(dir, z+"zone"), memberZone(z, 1, ""))
	}
	groups := map[string]string{"b.test.": "shops"}
	srv := harness.StartDnspki(t, dir, producerCorefile(dir, port, zones, groups, kport, bport), port)
	harness.WaitServes(t, srv.Addr, catalogZone, 1, 30*time.Second, srv.Proc)
	knot := startKnotConsumer(t, kport, port)
	bind := startBindConsumer(t, bport, port)
	peers := []*harness.Peer{knot, bind}

	// The catalog lists both zones with their IDs and b.test's group.
	axfr := strings.Join(strings.Fields(dig(t, srv.Addr, catalogZone, "AXFR")), " ")
	for _, want := range []string{"version." + catalogZone + " 0 IN TXT \"2\"", "PTR a.test.", "PTR b.test.", "IN TXT \"shops\""} {
		if !strings.Contains(axfr, want) {
			t.Errorf("catalog AXFR lacks %q:\n%s", want, axfr)
		}
	}

	for _, p := range peers {
		for _, z := range zones {
			waitTXT(t, p.Addr, "www."+z, z)
		}
	}

	// A new zone in the Corefile: reload, and it reaches both consumers.
	zones = append(zones, "c.test.")
	mark := srv.LogMark()
	write(t, filepath.Join(dir, "Corefile"), producerCorefile(dir, port, zones, groups, kport, bport))
	srv.Signal(syscall.SIGUSR1)
	if l := srv.WaitLog(mark, `catalog catalog\.invalid\.: 3 member zones`, 1, 30*time.Second); len(l) == 0 {
		t.Fatalf("reload did not rebuild the catalog\n%s", strings.Join(srv.LogSince(mark, "."), "\n"))
	}
	for _, p := range peers {
		waitTXT(t, p.Addr, "www.c.test.", "c.test.")
	}

	// An edit of the new zone reaches them (its NOTIFY, IXFR or AXFR).
	write(t, filepath.Join(dir, "c.test.zone"), memberZone("c.test.", 2, `new IN TXT "edited"`+"\n"))
	for _, p := range peers {
		waitTXT(t, p.Addr, "new.c.test.", "edited")
	}

	// A zone removed from the Corefile disappears from both.
	zones = []string{"a.test.", "c.test."}
	write(t, filepath.Join(dir, "Corefile"), producerCorefile(dir, port, zones, groups, kport, bport))
	srv.Signal(syscall.SIGUSR1)
	for _, p := range peers {
		harness.Eventually(t, 60*time.Second, p.Kind+" removing b.test.", func() bool { return refused(p.Addr, "b.test.") })
		// The others stay.
		for _, z := range zones {
			if v := txtOf(p.Addr, "www."+z); !slices.Contains(v, z) {
				t.Errorf("%s: www.%s TXT %v after b.test was removed", p.Kind, z, v)
			}
		}
	}
	if refused(srv.Addr, "b.test.") == false {
		t.Errorf("dnspki still serves b.test.")
	}
}

// dig runs dig with xfr-key. and returns its output.
func dig(t *testing.T, addr, name, qtype string) string {
	t.Helper()
	bins := harness.Need(t, "dig")
	host, port, _ := strings.Cut(addr, ":")
	return harness.MustRun(t, 30*time.Second, "", bins[0], "@"+host, "-p", port, "-y", "hmac-sha256:"+xfrKey.Name+":"+xfrKey.Secret, name, qtype, "+nocmd", "+nostats")
}
