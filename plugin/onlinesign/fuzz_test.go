package onlinesign

import (
	"testing"

	"github.com/coredns/caddy"
	"github.com/miekg/dns"

	"github.com/dnspki/dnspki/plugin/pkg/setuptest"
	"github.com/dnspki/dnspki/plugin/pkg/zonemodel"
)

// FuzzSetup parses arbitrary onlinesign blocks: an error names the
// Corefile's file and line; a configuration that parses has canonical zone
// names and signatures that are valid for longer than they are refreshed
// before their end.
func FuzzSetup(f *testing.F) {
	setuptest.AddREADME(f, pluginName, "README.md", "../../corefile-examples/signed.Corefile")
	f.Fuzz(func(t *testing.T, input string) {
		if !setuptest.Directive(pluginName, input) {
			return
		}
		cfgs, err := parse(caddy.NewTestController("dns", input))
		if err != nil {
			setuptest.CheckError(t, input, err)
			return
		}
		for _, c := range cfgs {
			if _, ok := dns.IsDomainName(c.origin); !ok || c.origin != zonemodel.Fqdn(c.origin) {
				t.Fatalf("zone %q is not canonical", c.origin)
			}
			if c.sig.validity <= 0 || c.sig.refresh < 0 || c.sig.refresh >= c.sig.validity {
				t.Fatalf("zone %s: validity %s, refresh %s", c.origin, c.sig.validity, c.sig.refresh)
			}
		}
	})
}
