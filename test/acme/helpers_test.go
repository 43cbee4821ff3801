// Package acme tests the acmechallenge plugin end to end with real ACME
// software: Pebble (the ACME test CA) validating dns-01 against dnspki, the
// lego v5 library (RFC 2136 and httpreq providers), certbot with its rfc2136
// plugin, BIND's nsupdate.
package acme

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/dnspki/dnspki/test/harness"
)

const (
	zone      = "example.test."
	wwwSecret = "c2VjcmV0LWFjbWUtd3d3LWtleS0wMTIzNDU2Nzg5YWI="
	md5Secret = "bWQ1LWtleS1mb3ItY2VydGJvdC10ZXN0cy0wMTIzNDU="
	// ACME dns-01 values are 43 base64url characters.
	val1 = "nsupdate-value-0000000000000000000000000001"
	val2 = "nsupdate-value-0000000000000000000000000002"
)

// example runs corefile-examples/acme-dns01.Corefile with free ports; it
// returns the server and the HTTP API's base URL. extra, if given, is added to
// the acmechallenge block (keys and grants of a test only).
func example(t *testing.T, extra ...string) (*harness.Server, string) {
	t.Helper()
	httpPort := harness.FreePort(t)
	replace := map[string]string{":8053": fmt.Sprintf(":%d", httpPort)}
	if len(extra) > 0 {
		const anchor = "        grant lego name api.example.test\n"
		replace[anchor] = anchor + "        " + strings.Join(extra, "\n        ") + "\n"
	}
	s := harness.StartExample(t, "acme-dns01.Corefile", zone, replace)
	return s, fmt.Sprintf("http://%s", harness.Addr(httpPort))
}

// nsupdate runs BIND's nsupdate with a TSIG key ("alg:name:secret") over UDP
// or TCP (-v).
func nsupdate(t *testing.T, addr, key string, tcp bool, commands ...string) (string, error) {
	t.Helper()
	bin := harness.Need(t, "nsupdate")[0]
	host, port, _ := strings.Cut(addr, ":")
	script := fmt.Sprintf("server %s %s\nzone %s\n%s\nsend\n", host, port, zone, strings.Join(commands, "\n"))
	args := []string{bin, "-t", "5", "-y", key}
	if tcp {
		args = append(args, "-v")
	}
	return harness.RunInput(t, 30*time.Second, "", script, args...)
}

func mustEventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	harness.Eventually(t, 10*time.Second, what, cond)
}
