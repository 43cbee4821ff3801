package tlsa

import (
	"testing"

	"github.com/miekg/dns"

	"github.com/dnspki/dnspki/plugin/pkg/setuptest"
	"github.com/dnspki/dnspki/plugin/pkg/zonemodel"
)

// FuzzSetup parses arbitrary tlsa blocks: an error names the Corefile's
// file and line; a configuration that parses has canonical zone names and
// certificates with owners in the zone and valid record forms.
func FuzzSetup(f *testing.F) {
	setuptest.Fuzz(f, pluginName, []string{"README.md", "../../corefile-examples/dane.Corefile"}, parse, func(t *testing.T, blocks []*block) {
		for _, b := range blocks {
			setuptest.CheckZone(t, b.origin)
			for _, cl := range b.certs {
				if len(cl.cfg.Names) == 0 || len(cl.cfg.Forms) == 0 {
					t.Fatalf("certificate %s without names or forms", cl.cfg.ID)
				}
				for _, n := range cl.cfg.Names {
					if _, ok := dns.IsDomainName(n); !ok || n != zonemodel.Fqdn(n) || !zonemodel.InZone(n, b.origin) {
						t.Fatalf("certificate %s: owner %q not a canonical name in %s", cl.cfg.ID, n, b.origin)
					}
				}
				for _, f := range cl.cfg.Forms {
					if f.Usage > 3 || f.Selector > 1 || f.MatchingType > 2 {
						t.Fatalf("certificate %s: form %s", cl.cfg.ID, f)
					}
				}
			}
		}
	})
}
