package catalog

import (
	"crypto/tls"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/dnspki/dnspki/test/harness"
	"github.com/miekg/dns"
)

// TestExample runs corefile-examples/catalog.Corefile (the hidden primary)
// and catalog-secondary.Corefile (a dnspki secondary that consumes its
// catalog) as their comments say, on free ports: the secondary serves both
// member zones, transferred with xfr-key., without being told their names.
func TestExample(t *testing.T) {
	port, sport, tport := harness.FreePort(t), harness.FreePort(t), harness.FreePort(t)
	dir := harness.Example(t, map[string]string{":1053": fmt.Sprintf(":%d", port), ":1054": fmt.Sprintf(":%d", sport), ":1853": fmt.Sprintf(":%d", tport)})
	primary := harness.RunDnspki(t, dir, filepath.Join("corefile-examples", "catalog.Corefile"), port)
	harness.WaitServes(t, primary.Addr, catalogZone, 1, 30*time.Second, primary.Proc)
	sec := harness.RunDnspki(t, dir, filepath.Join("corefile-examples", "catalog-secondary.Corefile"), sport)
	waitTXT(t, sec.Addr, "example.test.", "v=spf1 mx -all")
	harness.WaitServes(t, sec.Addr, "shop.test.", 2026010100, 30*time.Second, sec.Proc)
	if s := harness.MustSerial(t, sec.Addr, "example.test."); s != harness.MustSerial(t, primary.Addr, "example.test.") {
		t.Errorf("secondary serves example.test. serial %d, the primary another", s)
	}
	checkCatalogOverTLS(t, fmt.Sprintf("127.0.0.1:%d", tport))
}

// checkCatalogOverTLS transfers the catalog over TLS (XoT, ALPN dot) with
// xfr-key. as the example's comment does with kdig: both members listed; the
// certificate is the self-signed one generated on first start (not
// verified here; test/xot pins it).
func checkCatalogOverTLS(t *testing.T, addr string) {
	t.Helper()
	m := new(dns.Msg)
	m.SetAxfr(catalogZone)
	m.SetTsig("xfr-key.", dns.HmacSHA256, 300, time.Now().Unix())
	tr := &dns.Transfer{
		TsigSecret: map[string]string{"xfr-key.": "eGZyLWtleS1zZWNyZXQtZm9yLXRlc3RzLTAxMjM0NTY="},
		TLS:        &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"dot"}, MinVersion: tls.VersionTLS13},
	}
	ch, err := tr.In(m, addr)
	if err != nil {
		t.Fatalf("AXFR of the catalog over TLS: %v", err)
	}
	members := map[string]bool{}
	for env := range ch {
		if env.Error != nil {
			t.Fatalf("AXFR of the catalog over TLS: %v", env.Error)
		}
		for _, rr := range env.RR {
			if p, ok := rr.(*dns.PTR); ok {
				members[p.Ptr] = true
			}
		}
	}
	for _, z := range []string{"example.test.", "shop.test."} {
		if !members[z] {
			t.Errorf("catalog over TLS lists %v, not %s", members, z)
		}
	}
}
