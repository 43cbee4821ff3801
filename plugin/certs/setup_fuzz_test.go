package certs

import (
	"testing"

	"github.com/coredns/caddy"
	"github.com/miekg/dns"

	"github.com/dnspki/dnspki/plugin/pkg/setuptest"
	"github.com/dnspki/dnspki/plugin/pkg/zonemodel"
)

// FuzzSetup parses arbitrary certs blocks: an error names the Corefile's
// file and line; a configuration that parses has canonical zone names and
// at least one certificate per block.
func FuzzSetup(f *testing.F) {
	setuptest.AddREADME(f, pluginName, "README.md", "../../corefile-examples/certs.Corefile")
	f.Fuzz(func(t *testing.T, input string) {
		if !setuptest.Directive(pluginName, input) {
			return
		}
		bs, err := parse(caddy.NewTestController("dns", input))
		if err != nil {
			setuptest.CheckError(t, input, err)
			return
		}
		for _, b := range bs {
			for _, o := range b.origins {
				if _, ok := dns.IsDomainName(o); !ok || o != zonemodel.Fqdn(o) {
					t.Fatalf("zone %q is not canonical", o)
				}
			}
		}
	})
}
