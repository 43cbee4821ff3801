package acme

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/dnspki/dnspki/test/harness"
)

// TestACMEClients: Pebble validates dns-01 against dnspki (over TCP, as a CA
// does) and issues certificates to real ACME clients that set their
// challenges through dnspki: the lego v5 library with its RFC 2136 provider
// (hmac-sha256), its httpreq provider, certbot with its rfc2136 plugin
// (hmac-md5), lego's acme-dns client. A client asking for a name outside its
// grant gets nothing.
func TestACMEClients(t *testing.T) {
	s, api := example(t)
	pebble := harness.StartPebble(t, harness.PebbleOpts{DNSServer: s.Addr})
	newClient := func(t *testing.T) *harness.ACMEClient {
		return harness.NewACMEClient(t, harness.ACMEClientOpts{Directory: pebble.Directory, Roots: pebble.RootPool(t), DNS: s.Addr})
	}

	t.Run("lego-rfc2136", func(t *testing.T) {
		c := newClient(t)
		c.UseRFC2136(t, s.Addr, "acme-www.", dns.HmacSHA256, wwwSecret)
		s0 := harness.MustSerial(t, s.Addr, zone)
		res, err := c.Obtain(t, "www.example.test", "*.www.example.test")
		if err != nil {
			t.Fatal(err)
		}
		pebble.VerifyCertificate(t, res.Certificate, "www.example.test", "host.www.example.test")
		// Two challenges at one name, one after the other: each added and
		// removed through the zone model (4 serials at least).
		if got := harness.MustSerial(t, s.Addr, zone); got < s0+4 {
			t.Errorf("serial %d after issuance, want at least %d", got, s0+4)
		}
		if got := harness.TXTValues(t, s.Addr, "_acme-challenge.www.example.test."); got != nil {
			t.Errorf("challenges left after cleanup: %v", got)
		}
	})

	t.Run("lego-httpreq", func(t *testing.T) {
		c := newClient(t)
		c.UseHTTPReq(t, api, "lego", "lego-pass")
		res, err := c.Obtain(t, "api.example.test", "*.api.example.test")
		if err != nil {
			t.Fatal(err)
		}
		pebble.VerifyCertificate(t, res.Certificate, "api.example.test", "x.api.example.test")
		if got := harness.TXTValues(t, s.Addr, "_acme-challenge.api.example.test."); got != nil {
			t.Errorf("challenges left after cleanup: %v", got)
		}
	})

	t.Run("lego-acmedns", func(t *testing.T) {
		// lego's acme-dns client (goacmedns) with an account as acme-dns
		// would have registered it; the subdomain is the name validated.
		c := newClient(t)
		acct := harness.ACMEDNSAccount{FullDomain: "_acme-challenge.api.example.test", SubDomain: "api.example.test", Username: "lego", Password: "lego-pass"}
		c.UseACMEDNS(t, api, map[string]harness.ACMEDNSAccount{"api.example.test": acct, "*.api.example.test": acct})
		res, err := c.Obtain(t, "api.example.test", "*.api.example.test")
		if err != nil {
			t.Fatal(err)
		}
		pebble.VerifyCertificate(t, res.Certificate, "api.example.test", "y.api.example.test")
		// acme-dns clients do not clean up: the two newest values stay
		// (until they expire).
		if got := harness.TXTValues(t, s.Addr, "_acme-challenge.api.example.test."); len(got) != 2 {
			t.Errorf("values after acme-dns issuance: %v", got)
		}
	})

	t.Run("lego-outside-grant", func(t *testing.T) {
		c := newClient(t)
		c.UseRFC2136(t, s.Addr, "acme-www.", dns.HmacSHA256, wwwSecret)
		s0 := harness.MustSerial(t, s.Addr, zone)
		_, err := c.Obtain(t, "mail.example.test")
		if err == nil || !strings.Contains(err.Error(), "REFUSED") {
			t.Fatalf("certificate for a name outside the key's grant: %v", err)
		}
		if got := harness.MustSerial(t, s.Addr, zone); got != s0 {
			t.Errorf("refused client moved the serial from %d to %d", s0, got)
		}
	})

	t.Run("certbot", func(t *testing.T) {
		bin := harness.Need(t, "certbot")[0]
		dir := t.TempDir()
		host, port, _ := strings.Cut(s.Addr, ":")
		creds := filepath.Join(dir, "rfc2136.ini")
		// certbot-dns-rfc2136's default algorithm is HMAC-MD5.
		ini := fmt.Sprintf("dns_rfc2136_server = %s\ndns_rfc2136_port = %s\ndns_rfc2136_name = acme-md5.\ndns_rfc2136_secret = %s\n", host, port, md5Secret)
		if err := os.WriteFile(creds, []byte(ini), 0o600); err != nil {
			t.Fatal(err)
		}
		t.Setenv("REQUESTS_CA_BUNDLE", pebble.RootPEM)
		out, err := harness.Run(t, 3*time.Minute, dir, bin, "certonly", "--non-interactive", "--agree-tos",
			"--register-unsafely-without-email", "--server", pebble.Directory,
			"--authenticator", "dns-rfc2136", "--dns-rfc2136-credentials", creds, "--dns-rfc2136-propagation-seconds", "1",
			"--config-dir", filepath.Join(dir, "config"), "--work-dir", filepath.Join(dir, "work"), "--logs-dir", filepath.Join(dir, "logs"),
			"--key-type", "ecdsa", "-d", "mail.example.test")
		if err != nil {
			log, _ := os.ReadFile(filepath.Join(dir, "logs", "letsencrypt.log"))
			t.Fatalf("certbot: %v\n%s\n---- letsencrypt.log ----\n%s", err, out, tail(string(log), 15000))
		}
		chain, err := os.ReadFile(filepath.Join(dir, "config", "live", "mail.example.test", "fullchain.pem"))
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		pebble.VerifyCertificate(t, chain, "mail.example.test")
		if got := harness.TXTValues(t, s.Addr, "_acme-challenge.mail.example.test."); got != nil {
			t.Errorf("challenge left after cleanup: %v", got)
		}
	})
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
