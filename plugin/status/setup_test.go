package status

import (
	"strings"
	"testing"
	"time"

	"github.com/coredns/caddy"

	"github.com/dnspki/dnspki/plugin/pkg/setuptest"
)

func TestParse(t *testing.T) {
	cfg, err := parse(caddy.NewTestController("dns", "status"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.addr != DefaultAddr || cfg.horizon != DefaultHorizon || cfg.certFile != "" || cfg.allow != nil {
		t.Fatalf("defaults: %+v", cfg)
	}
	cfg, err = parse(caddy.NewTestController("dns", "status [::1]:9000 {\n allow 127.0.0.0/8 ::1\n horizon 30d\n}"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.addr != "[::1]:9000" || cfg.horizon != 30*24*time.Hour || len(cfg.allow) != 2 {
		t.Fatalf("parsed %+v", cfg)
	}
}

// TestParseRefused: a listener that is not on loopback without TLS (or
// without an access list) is refused with the file, the line and the
// reason; so are bad addresses and options.
func TestParseRefused(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"status 0.0.0.0:8054", "not a loopback address, so the page needs 'tls CERT KEY'"},
		{"status 192.0.2.1:8054 {\n allow 192.0.2.0/24\n}", "needs 'tls CERT KEY'"},
		{"status [::]:8054", "needs 'tls CERT KEY'"},
		{"status 8054", "address"},
		{"status example.org:8054", "want an IP address"},
		{"status 127.0.0.1:8054 {\n tls /nonexistent/cert.pem /nonexistent/key.pem\n}", "tls:"},
		{"status 127.0.0.1:8054 {\n allow 10.0.0.0/33\n}", "allow"},
		{"status 127.0.0.1:8054 {\n horizon 0s\n}", "horizon"},
		{"status 127.0.0.1:8054 {\n horizon 5000d\n}", "horizon"},
		{"status 127.0.0.1:8054 {\n page on\n}", "unknown option"},
		{"status 127.0.0.1:8054 127.0.0.1:8055", "one address"},
		{"status\nstatus", "once per server block"},
	} {
		_, err := parse(caddy.NewTestController("dns", tc.in))
		if err == nil {
			t.Errorf("%q: accepted", tc.in)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %q, want %q", tc.in, err, tc.want)
		}
		setuptest.CheckError(t, tc.in, err)
	}
}

// TestParseNonLoopbackTLS: with tls and allow a non-loopback address is
// accepted; without allow it is refused for that reason.
func TestParseNonLoopbackTLS(t *testing.T) {
	cert, key := testCert(t)
	in := "status 192.0.2.1:8054 {\n tls " + cert + " " + key + "\n allow 192.0.2.0/24\n}"
	if _, err := parse(caddy.NewTestController("dns", in)); err != nil {
		t.Fatal(err)
	}
	in = "status 192.0.2.1:8054 {\n tls " + cert + " " + key + "\n}"
	_, err := parse(caddy.NewTestController("dns", in))
	if err == nil || !strings.Contains(err.Error(), "needs 'allow PREFIX...'") {
		t.Fatalf("without allow: %v", err)
	}
	setuptest.CheckError(t, in, err)
}

// FuzzSetup parses arbitrary status blocks: an error names the file and
// line; an accepted configuration never listens beyond loopback without
// TLS and an access list.
func FuzzSetup(f *testing.F) {
	setuptest.Fuzz(f, pluginName, []string{"README.md", "../../corefile-examples/signed.Corefile"}, parse, func(t *testing.T, cfg *config) {
		if cfg == nil {
			return
		}
		if checkAddr(cfg.addr) != nil {
			t.Fatalf("address %q accepted", cfg.addr)
		}
		if !loopback(cfg.addr) && (cfg.certFile == "" || len(cfg.allow) == 0) {
			t.Fatalf("%s without tls or allow accepted", cfg.addr)
		}
		if cfg.horizon < time.Hour {
			t.Fatalf("horizon %s", cfg.horizon)
		}
	})
}
