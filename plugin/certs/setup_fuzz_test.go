package certs

import (
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/dnspki/dnspki/plugin/pkg/setuptest"
)

// FuzzSetup parses arbitrary certs blocks: an error names the Corefile's
// file and line; a configuration that parses has canonical zone names and
// certificates for host names in them.
func FuzzSetup(f *testing.F) {
	setuptest.Fuzz(f, pluginName, []string{"README.md", "../../corefile-examples/certs.Corefile"}, parse, func(t *testing.T, bs []*blockConfig) {
		for _, b := range bs {
			if b.concurrency < 1 || b.concurrency > 64 {
				t.Fatalf("concurrency %d", b.concurrency)
			}
			if b.httpAddr != "" && checkLoopback(b.httpAddr) != nil {
				t.Fatalf("status endpoint on %q", b.httpAddr)
			}
			switch b.persistForm {
			case persistFormAuto, persistFormURL, persistFormHash, persistFormHashAny:
			default:
				t.Fatalf("persist-accounturi %q", b.persistForm)
			}
			for _, o := range b.origins {
				setuptest.CheckZone(t, o)
			}
			for _, cc := range b.certs {
				if len(cc.names) == 0 {
					t.Fatalf("certificate %s without names", cc.id)
				}
				for _, n := range cc.names {
					host := strings.TrimPrefix(n, "*.")
					if _, ok := dns.IsDomainName(host + "."); !ok || strings.HasSuffix(n, ".") || n != strings.ToLower(n) || strings.Contains(host, "*") {
						t.Fatalf("certificate %s: name %q", cc.id, n)
					}
					if b.zoneOf(host+".") == "" {
						t.Fatalf("certificate %s: %s in none of the zones %v", cc.id, n, b.origins)
					}
				}
			}
		}
	})
}
