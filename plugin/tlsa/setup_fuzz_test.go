package tlsa

import (
	"testing"

	"github.com/coredns/caddy"
	"github.com/miekg/dns"

	"github.com/dnspki/dnspki/plugin/pkg/setuptest"
	"github.com/dnspki/dnspki/plugin/pkg/zonemodel"
)

// FuzzSetup parses arbitrary tlsa blocks: an error names the Corefile's
// file and line; a configuration that parses has canonical zone names.
func FuzzSetup(f *testing.F) {
	setuptest.AddREADME(f, pluginName, "README.md", "../../corefile-examples/dane.Corefile")
	f.Fuzz(func(t *testing.T, input string) {
		if !setuptest.Directive(pluginName, input) {
			return
		}
		blocks, err := parse(caddy.NewTestController("dns", input))
		if err != nil {
			setuptest.CheckError(t, input, err)
			return
		}
		for _, b := range blocks {
			if _, ok := dns.IsDomainName(b.origin); !ok || b.origin != zonemodel.Fqdn(b.origin) {
				t.Fatalf("zone %q is not canonical", b.origin)
			}
		}
	})
}
