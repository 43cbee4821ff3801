package xot

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"

	"github.com/dnspki/dnspki/plugin/pkg/setuptest"
	"github.com/dnspki/dnspki/plugin/pkg/xotls"
)

func TestSetup(t *testing.T) {
	dir := t.TempDir()
	c := caddy.NewTestController("dns", "xot {\n state "+dir+"\n}")
	c.ServerBlockKeys = []string{"tls://example.test.:1853"}
	if err := setup(c); err != nil {
		t.Fatal(err)
	}
	cfg := dnsserver.GetConfig(c).TLSConfig
	if cfg == nil || cfg.MinVersion != 0x0304 || len(cfg.NextProtos) != 1 || cfg.NextProtos[0] != "dot" || len(cfg.Certificates) != 1 {
		t.Fatalf("TLS configuration %+v", cfg)
	}
	if _, err := os.Stat(filepath.Join(dir, "tls", "xot.crt")); err != nil {
		t.Fatalf("no generated certificate: %v", err)
	}
	// The CLI prints its pin.
	var out, errb bytes.Buffer
	if st := runSPKI([]string{filepath.Join(dir, "tls", "xot.crt")}, &out, &errb); st != 0 {
		t.Fatalf("dnspki spki: %d %s", st, errb.String())
	}
	want, _ := xotls.LeafPin(cfg.Certificates[0])
	if strings.TrimSpace(out.String()) != want {
		t.Fatalf("dnspki spki printed %q, want %q", out.String(), want)
	}
}

func TestSetupErrors(t *testing.T) {
	for _, tc := range []struct{ input, keys, want string }{
		{"xot", "dns://example.test.:53", "no tls:// address"},
		{"xot {\n cert a.pem\n}", "tls://example.test.:853", "want 'cert CERT_FILE KEY_FILE'"},
		{"xot {\n cert /nonexistent.pem /nonexistent.key\n}", "tls://example.test.:853", "certificate /nonexistent.pem"},
		{"xot {\n client-spki short\n}", "tls://example.test.:853", "SPKI pin"},
		{"xot {\n client-ca /nonexistent.pem\n}", "tls://example.test.:853", "client-ca"},
		{"xot {\n bogus\n}", "tls://example.test.:853", "unknown property"},
		{"xot\nxot", "tls://example.test.:853", "once per server block"},
	} {
		c := caddy.NewTestController("dns", tc.input)
		c.ServerBlockKeys = []string{tc.keys}
		err := setup(c)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.input, err, tc.want)
		}
	}
}

// FuzzSetup parses arbitrary xot blocks: an error names the Corefile's
// file and line, a configuration that parses has a state directory.
func FuzzSetup(f *testing.F) {
	readsFile := func(input string) bool { return strings.Contains(input, "client-ca") }
	setuptest.Fuzz(f, pluginName, []string{"README.md", "../../corefile-examples/xot.Corefile"}, parse, func(t *testing.T, cfg *config) {
		if cfg != nil && cfg.state == "" {
			t.Fatal("empty state directory")
		}
	}, readsFile)
}

// Blocks with the same xot configuration share one TLS policy identity
// (so they can share a tls:// listener); another configuration has its own.
func TestIdentity(t *testing.T) {
	dir := t.TempDir()
	ids := map[string]string{}
	for _, tc := range []struct{ name, body string }{
		{"a", "xot {\n state " + dir + "\n}"},
		{"b", "xot {\n state " + dir + "\n}"},
		{"pinned", "xot {\n state " + dir + "\n client-spki " + strings.Repeat("A", 43) + "=\n}"},
	} {
		c := caddy.NewTestController("dns", tc.body)
		c.ServerBlockKeys = []string{"tls://" + tc.name + ".test.:1853"}
		cfg, err := parse(c)
		if err != nil {
			t.Fatal(err)
		}
		cert, _, _, err := xotls.SelfSigned(filepath.Join(dir, "tls"), nil)
		if err != nil {
			t.Fatal(err)
		}
		ids[tc.name] = fingerprint(cert, cfg)
	}
	if identityFor(ids["a"]) != identityFor(ids["b"]) || identityFor(ids["a"]) == identityFor(ids["pinned"]) {
		t.Fatalf("identities: %v", ids)
	}
}
