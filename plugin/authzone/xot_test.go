package authzone

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/coredns/caddy"

	"github.com/dnspki/dnspki/plugin/pkg/tsigauth"
	"github.com/dnspki/dnspki/plugin/pkg/zonemd"
)

func TestParseTLSAndDigest(t *testing.T) {
	pin := strings.Repeat("A", 43) + "="
	for _, tc := range []struct{ body, want string }{
		{"primary 127.0.0.1:853 tls yes", "'tls' takes no arguments"},
		{"primary 127.0.0.1:853 tls-spki", "at least one SPKI pin"},
		{"primary 127.0.0.1:853 tls-spki abc", "SPKI pin"},
		{"primary 127.0.0.1:853 tls-ca /nonexistent.pem tls-name p.test", "tls-ca"},
		{"primary 127.0.0.1:853 tls-cert a.pem", "tls-cert CERT KEY"},
		{"primary 127.0.0.1:853 tls-cert /nonexistent.pem /nonexistent.key", "tls-cert"},
		{"file db\ntransfer to * tls yes", "'tls' takes no arguments"},
		{"file db\nnotify 127.0.0.1 tls", "\"tls\" is not an address"},
		{"file db\nzone-digest md5", "want sha384 or sha512"},
		{"file db\nzone-digest sha384 sha512", "arguments"},
	} {
		c := caddy.NewTestController("dns", "authzone example.test {\n"+tc.body+"\n}")
		_, err := parse(c, tsigauth.ForBlock(c))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: got %v, want an error with %q", tc.body, err, tc.want)
		}
	}
	c := caddy.NewTestController("dns", `authzone example.test {
    primary 192.0.2.1:853 key xfr-key. tls-spki `+pin+`
    primary 192.0.2.2:853 tls
    primary 192.0.2.3
    key xfr-key. hmac-sha256 `+testSecret+`
    transfer to 127.0.0.0/8 key xfr-key. tls
    transfer to ::1
    zone-digest
}`)
	specs, err := parse(c, tsigauth.ForBlock(c))
	if err != nil {
		t.Fatal(err)
	}
	sp := specs[0]
	p := sp.primaries
	if len(p) != 3 || p[0].TLS == nil || !p[0].TLS.Strict() || p[0].TLS.Pins[0] != pin || p[0].Key == nil ||
		p[1].TLS == nil || p[1].TLS.Strict() || p[2].TLS != nil {
		t.Fatalf("primaries: %+v %+v %+v", p[0], p[1], p[2])
	}
	if !sp.transfers[0].tls || sp.transfers[1].tls {
		t.Fatalf("transfers: %+v", sp.transfers)
	}
	if sp.cfg.Digest != zonemd.HashSHA384 {
		t.Fatalf("zone-digest: %d", sp.cfg.Digest)
	}
	zs := &zoneState{spec: sp}
	if e, why := zs.matchTransfer(mustAddr("127.0.0.1"), testKey, "", false); e != nil || why != "transfer over TLS (XoT) required" {
		t.Fatalf("plain TCP: %v %q", e, why)
	}
	if e, _ := zs.matchTransfer(mustAddr("127.0.0.1"), testKey, "", true); e != sp.transfers[0] {
		t.Fatalf("over TLS: %v", e)
	}
	if e, _ := zs.matchTransfer(mustAddr("::1"), "", "", false); e != sp.transfers[1] {
		t.Fatalf("::1 without TLS: %v", e)
	}
}

func TestCheckTLSListener(t *testing.T) {
	if err := checkTLSListener([]string{"dns://example.test.:53", "tls://example.test.:853"}, false); err == nil || !strings.Contains(err.Error(), "add the 'xot' directive") {
		t.Fatalf("tls:// without TLS: %v", err)
	}
	if err := checkTLSListener([]string{"dns://example.test.:53", "tls://example.test.:853"}, true); err != nil {
		t.Fatal(err)
	}
	if err := checkTLSListener([]string{"dns://example.test.:53"}, false); err != nil {
		t.Fatal(err)
	}
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }
