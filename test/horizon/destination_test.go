package horizon

import (
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/dnspki/dnspki/test/harness"
)

// externalZone is the external view's own file: a record only outsiders
// see, an external override of a public name, and a name both per-view
// files define (each view its own address).
const externalZone = `$ORIGIN example.test.
$TTL 300
pubonly     IN A    192.0.2.77
            IN TXT  "external-only"
www         IN A    192.0.2.110
both-views  IN A    192.0.2.78
`

// TestDestinationViews: dnspki listens on 127.0.0.1 and 127.0.0.3; the
// internal view is selected by the destination address 127.0.0.3, whatever
// the client's address; queries to 127.0.0.1 get the external view, which
// has records of its own (a per-view file for the external view) that the
// internal view does not have. UDP and TCP agree.
func TestDestinationViews(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "public.zone"), publicZone)
	write(t, filepath.Join(dir, "internal.zone"), internalZone("both-views IN A 10.0.0.78\n"))
	write(t, filepath.Join(dir, "external.zone"), externalZone)
	port := harness.FreePort(t)
	conf := fmt.Sprintf(`example.test:%d {
    bind 127.0.0.1 127.0.0.3
    horizon {
        view internal {
            destination 127.0.0.3
        }
        view external
    }
    authzone example.test {
        file public.zone
        file internal.zone view internal
        file external.zone view external
        views internal external
    }
}
`, port)
	s := harness.StartDnspki(t, dir, conf, port)
	harness.WaitDNS(t, s.Addr, zone, 30*time.Second, s.Proc)
	harness.WaitDNS(t, net.JoinHostPort("127.0.0.3", fmt.Sprint(port)), zone, 10*time.Second, s.Proc)

	// answer is the A/TXT data at name, or the rcode when there is none.
	answer := func(c client, name string, qtype uint16, tcp bool) string {
		t.Helper()
		r, err := c.query(name, qtype, mode{tcp: tcp})
		if err != nil {
			t.Fatalf("%s %s from %s to %s: %v", name, dns.TypeToString[qtype], c.src, c.server, err)
		}
		if r.Rcode != dns.RcodeSuccess || len(r.Answer) == 0 {
			return dns.RcodeToString[r.Rcode] + "/" + fmt.Sprint(len(r.Answer))
		}
		var out []string
		for _, rr := range r.Answer {
			switch v := rr.(type) {
			case *dns.A:
				out = append(out, v.A.String())
			case *dns.TXT:
				out = append(out, strings.Join(v.Txt, " "))
			default:
				out = append(out, rr.String())
			}
		}
		return strings.Join(out, ",")
	}
	internal := map[string]string{
		"vpn.example.test. A":        "10.0.0.1",
		"www.intra.example.test. A":  "10.1.2.3",
		"www.example.test. A":        "10.0.0.80",
		"api.example.test. A":        "192.0.2.30",
		"pubonly.example.test. A":    "NXDOMAIN/0",
		"pubonly.example.test. TXT":  "NXDOMAIN/0",
		"both-views.example.test. A": "10.0.0.78",
	}
	external := map[string]string{
		"vpn.example.test. A":        "NXDOMAIN/0",
		"www.intra.example.test. A":  "NXDOMAIN/0",
		"www.example.test. A":        "192.0.2.110",
		"api.example.test. A":        "192.0.2.30",
		"pubonly.example.test. A":    "192.0.2.77",
		"pubonly.example.test. TXT":  "external-only",
		"both-views.example.test. A": "192.0.2.78",
	}
	for _, c := range []struct {
		src, dst string
		want     map[string]string
	}{
		{"127.0.0.1", "127.0.0.3", internal},
		{"127.0.0.2", "127.0.0.3", internal},
		{"127.0.0.3", "127.0.0.3", internal},
		{"127.0.0.1", "127.0.0.1", external},
		{"127.0.0.3", "127.0.0.1", external},
	} {
		cl := client{src: c.src, server: net.JoinHostPort(c.dst, fmt.Sprint(port))}
		for q, want := range c.want {
			name, qt, _ := strings.Cut(q, " ")
			for _, tcp := range []bool{false, true} {
				if got := answer(cl, name, dns.StringToType[qt], tcp); got != want {
					t.Errorf("%s -> %s (tcp %v) %s: %q, want %q", c.src, c.dst, tcp, q, got, want)
				}
			}
		}
	}
}

// A destination selector on a wildcard listener (no bind) does not start:
// UDP queries would all seem to arrive on 0.0.0.0.
func TestDestinationNeedsBind(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "public.zone"), publicZone)
	port := harness.FreePort(t)
	write(t, filepath.Join(dir, "Corefile"), fmt.Sprintf(`example.test:%d {
    horizon {
        view internal {
            destination 127.0.0.3
        }
        view external
    }
    authzone example.test {
        file public.zone
        views internal external
    }
}
`, port))
	out, err := harness.Run(t, 30*time.Second, dir, harness.Dnspki(t), "-conf", "Corefile")
	if err == nil || !strings.Contains(out, "Corefile:") || !strings.Contains(out, "view internal selects by destination") {
		t.Fatalf("dnspki with a destination view and no bind: %v\n%s", err, out)
	}
}
