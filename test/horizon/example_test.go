package horizon

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/dnspki/dnspki/test/harness"
)

// corefile-examples/split-horizon.Corefile does what the issue's "Example
// for checking it from outside" and the file's comment say, checked with
// dig: 127.0.0.1 gets the internal view; 127.0.0.2 and ::1 the external
// one; the validation record is public; the xfr-internal. key transfers the
// internal view from any address.
func TestExample(t *testing.T) {
	dig := harness.Need(t, "dig")[0]
	s := harness.StartExample(t, "split-horizon.Corefile", zone, nil)
	port := fmt.Sprint(s.Port)
	run := func(server string, args ...string) string {
		t.Helper()
		return harness.MustRun(t, 30*time.Second, s.Dir, append([]string{dig, "@" + server, "-p", port, "+norec", "+time=3", "+tries=2"}, args...)...)
	}
	short := func(server string, args ...string) string {
		t.Helper()
		return strings.TrimSpace(run(server, append(args, "+short")...))
	}
	const key = "hmac-sha256:xfr-internal.:eGZyLWludGVybmFsLXNlY3JldC0wMTIzNDU2Nzg5YWI="
	vp := "_validation-persist.www.intra.example.test"

	// Internal: from 127.0.0.1.
	if got := short("127.0.0.1", "www.intra.example.test", "A"); got != "10.1.2.3" {
		t.Errorf("internal www.intra A: %q", got)
	}
	if got := short("127.0.0.1", "db.intra.example.test", "A"); got != "10.1.2.4" {
		t.Errorf("internal db.intra A: %q", got)
	}
	if got := short("127.0.0.1", "www.example.test", "A"); got != "192.0.2.10" {
		t.Errorf("internal www A: %q", got)
	}
	// External: from 127.0.0.2, and from ::1 where the machine has IPv6.
	servers := []struct{ server, src string }{{"127.0.0.1", "127.0.0.2"}}
	if hasIPv6() {
		servers = append(servers, struct{ server, src string }{"::1", "::1"})
	}
	for _, c := range servers {
		b := []string{"-b", c.src}
		for _, n := range []string{"www.intra.example.test", "db.intra.example.test"} {
			for _, qt := range []string{"A", "AAAA", "ANY", "TXT"} {
				out := run(c.server, append(b, n, qt, "+dnssec")...)
				if strings.Contains(out, "10.1.2.") || strings.Contains(out, "fd00:") || !strings.Contains(out, "ANSWER: 0,") {
					t.Errorf("external (%s) %s %s:\n%s", c.src, n, qt, out)
				}
			}
		}
		if out := run(c.server, append(b, "db.intra.example.test", "A")...); !strings.Contains(out, "status: NXDOMAIN") {
			t.Errorf("external (%s) db.intra: not NXDOMAIN:\n%s", c.src, out)
		}
		if out := run(c.server, append(b, "www.intra.example.test", "A")...); !strings.Contains(out, "status: NOERROR") {
			t.Errorf("external (%s) www.intra: not NODATA (an empty non-terminal above its public validation record):\n%s", c.src, out)
		}
		if got := short(c.server, append(b, vp, "TXT")...); !strings.Contains(got, "accounturi=https://127.0.0.1:14000/my-account/1") {
			t.Errorf("external (%s) %s TXT: %q", c.src, vp, got)
		}
		if got := short(c.server, append(b, "www.example.test", "A")...); got != "192.0.2.10" {
			t.Errorf("external (%s) www A: %q", c.src, got)
		}
		// AXFR: refused without the key; the internal view with it.
		if out := run(c.server, append(b, "example.test", "AXFR")...); strings.Contains(out, "10.1.2.") || !strings.Contains(out, "Transfer failed") {
			t.Errorf("external (%s) AXFR without a key:\n%s", c.src, out)
		}
		out := run(c.server, append(b, "example.test", "AXFR", "-y", key)...)
		for _, want := range []string{"www.intra.example.test. 300 IN A\t10.1.2.3", "db.intra.example.test. 300\tIN A\t10.1.2.4", vp} {
			if !strings.Contains(strings.Join(strings.Fields(out), " "), strings.Join(strings.Fields(want), " ")) {
				t.Errorf("AXFR with xfr-internal. from %s lacks %q:\n%s", c.src, want, out)
			}
		}
	}
	// The internal view from 127.0.0.1 with the key too.
	if out := run("127.0.0.1", "example.test", "AXFR", "-y", key); !strings.Contains(out, "10.1.2.4") {
		t.Errorf("AXFR with xfr-internal. from 127.0.0.1:\n%s", out)
	}
}
