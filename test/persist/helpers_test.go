// Package persist tests dns-persist-01 end to end with real software: Pebble
// (Let's Encrypt's ACME test CA, v2.10.3) validating `_validation-persist`
// records that dnspki serves, the lego v5 library's challenge/dnspersist01 as
// the ACME client, and BIND's nsupdate publishing a host's own record over
// RFC 2136 (acmechallenge's `grant ... persist`). Everything runs from
// corefile-examples/dns-persist.Corefile.
package persist

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/dnspki/dnspki/test/harness"
)

const (
	zone = "example.test."
	// The key of mail.example.test. in corefile-examples/dns-persist.Corefile.
	mailKey = "hmac-sha256:mail.example.test.:ZG5zcGtpLXBlcnNpc3QtbWFpbC1rZXktMDEyMzQ1Njc4OWFi"
	mailVP  = "_validation-persist.mail.example.test."
	intraVP = "_validation-persist.intra.example.test."
	hostVP  = "_validation-persist.host.intra.example.test."
	// Pebble's default caaIdentities: the issuer-domain-name it offers.
	issuer = "pebble.letsencrypt.org"
)

// example runs corefile-examples/dns-persist.Corefile on port (0: a free
// one) with the account URI it authorizes.
func example(t *testing.T, port int, accountURI string) *harness.Server {
	t.Helper()
	if port == 0 {
		port = harness.FreePort(t)
	}
	return harness.StartExampleAt(t, port, "dns-persist.Corefile", zone, nil, "DNSPKI_ACCOUNT_URI="+accountURI)
}

// nsupdate runs BIND's nsupdate (over TCP) with the key ("alg:name:secret").
func nsupdate(t *testing.T, addr, key string, commands ...string) (string, error) {
	t.Helper()
	bin := harness.Need(t, "nsupdate")[0]
	host, port, _ := strings.Cut(addr, ":")
	script := fmt.Sprintf("server %s %s\nzone %s\n%s\nsend\n", host, port, zone, strings.Join(commands, "\n"))
	return harness.RunInput(t, 30*time.Second, "", script, bin, "-v", "-t", "5", "-y", key)
}

func mustNsupdate(t *testing.T, addr string, commands ...string) {
	t.Helper()
	if out, err := nsupdate(t, addr, mailKey, commands...); err != nil {
		t.Fatalf("nsupdate %v: %v\n%s", commands, err, out)
	}
}

// quoteTXT is a TXT value in nsupdate's (zone file) syntax, split into
// character-strings of at most 255 octets.
func quoteTXT(v string) string {
	var parts []string
	for len(v) > 255 {
		parts = append(parts, `"`+v[:255]+`"`)
		v = v[255:]
	}
	return strings.Join(append(parts, `"`+v+`"`), " ")
}
