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

const otherZone = `$ORIGIN other.test.
$TTL 300
@   IN SOA ns1 hostmaster 1 3600 600 86400 60
    IN NS  ns1
ns1 IN A   192.0.2.53
www IN A   192.0.2.200
`

// TestStockViewPlugin: authzone serves the view named like the server
// block's stock `view` plugin. Clients at 127.0.0.1 pass the block's
// expression and get the zone's internal view (not its default, external
// one), for queries and for transfers; a zone without views in such a block
// is served normally; other clients go to the unfiltered block (whoami
// here), which cannot serve the zone (a zone is configured once).
func TestStockViewPlugin(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "public.zone"), publicZone)
	write(t, filepath.Join(dir, "internal.zone"), internalZone(""))
	write(t, filepath.Join(dir, "other.zone"), otherZone)
	port := harness.FreePort(t)
	conf := fmt.Sprintf(`example.test:%[1]d {
    bind 127.0.0.1
    view internal {
        expr incidr(client_ip(), '127.0.0.1/32')
    }
    authzone example.test {
        file public.zone
        file internal.zone view internal
        views internal external
        key %[2]s %[3]s %[4]s
        key %[5]s %[6]s %[7]s
        transfer to * key %[2]s view internal
        transfer to * key %[5]s view external
    }
}
other.test:%[1]d {
    bind 127.0.0.1
    view internal {
        expr incidr(client_ip(), '127.0.0.1/32')
    }
    authzone other.test {
        file other.zone
    }
}
example.test:%[1]d other.test:%[1]d {
    bind 127.0.0.1
    whoami
}
`, port, keyInternal.Name, keyInternal.Algorithm, keyInternal.Secret, keyExternal.Name, keyExternal.Algorithm, keyExternal.Secret)
	s := harness.StartDnspki(t, dir, conf, port)
	harness.WaitDNS(t, s.Addr, zone, 30*time.Second, s.Proc)

	in := client{src: "127.0.0.1", server: net.JoinHostPort("127.0.0.1", fmt.Sprint(port))}
	out := client{src: "127.0.0.2", server: in.server}
	a := func(c client, name string) (*dns.Msg, string) {
		t.Helper()
		r, err := c.query(name, dns.TypeA, mode{})
		if err != nil {
			t.Fatalf("%s A from %s: %v", name, c.src, err)
		}
		var got []string
		for _, rr := range r.Answer {
			if v, ok := rr.(*dns.A); ok {
				got = append(got, v.A.String())
			}
		}
		return r, dns.RcodeToString[r.Rcode] + " " + strings.Join(got, ",")
	}
	for name, want := range map[string]string{
		"vpn.example.test.":       "NOERROR 10.0.0.1",
		"www.example.test.":       "NOERROR 10.0.0.80",
		"www.intra.example.test.": "NOERROR 10.1.2.3",
		"api.example.test.":       "NOERROR 192.0.2.30",
		"nope.example.test.":      "NXDOMAIN ",
		"www.other.test.":         "NOERROR 192.0.2.200",
	} {
		if r, got := a(in, name); got != want || !r.Authoritative {
			t.Errorf("internal client, %s A: %q (aa %v), want %q", name, got, r.Authoritative, want)
		}
	}
	// The other clients reach the unfiltered block: whoami, no zone data.
	for _, name := range []string{"vpn.example.test.", "www.example.test.", "www.other.test."} {
		r, got := a(out, name)
		if got != "NOERROR " || len(r.Extra) == 0 || !strings.Contains(r.Extra[0].String(), "127.0.0.2") {
			t.Errorf("external client, %s A: %q, want whoami's answer: %v", name, got, r)
		}
	}
	// Transfers in the block: its view, with that view's key.
	rrs, err := in.transfer(dns.TypeAXFR, 0, keyInternal)
	if err != nil || len(rrs) == 0 || !strings.Contains(fmt.Sprint(rrs), "vpn.example.test.") {
		t.Errorf("AXFR with the internal key from the internal view's block: %v, %d records", err, len(rrs))
	}
	if rrs, err := in.transfer(dns.TypeAXFR, 0, keyExternal); err == nil {
		t.Errorf("AXFR with the external view's key from the internal view's block: %d records, want a refusal", len(rrs))
	}
}

// A server block whose stock view names no view of a zone that declares
// views does not start (every query would be refused).
func TestStockViewUnknownName(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "public.zone"), publicZone)
	port := harness.FreePort(t)
	write(t, filepath.Join(dir, "Corefile"), fmt.Sprintf(`example.test:%d {
    bind 127.0.0.1
    view lan {
        expr incidr(client_ip(), '127.0.0.1/32')
    }
    authzone example.test {
        file public.zone
        views internal external
    }
}
`, port))
	out, err := harness.Run(t, 30*time.Second, dir, harness.Dnspki(t), "-conf", "Corefile")
	if err == nil || !strings.Contains(out, `view "lan"`) {
		t.Fatalf("dnspki with a view block naming no view of the zone: %v\n%s", err, out)
	}
}
