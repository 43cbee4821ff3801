package authzone

import (
	"strings"
	"testing"

	"github.com/coredns/caddy"
	"github.com/miekg/dns"

	"github.com/dnspki/dnspki/plugin/pkg/setuptest"
	"github.com/dnspki/dnspki/plugin/pkg/tsigauth"
	"github.com/dnspki/dnspki/plugin/pkg/zonemodel"
)

// FuzzSetup parses arbitrary authzone blocks: an error names the Corefile's
// file and line; a configuration that parses has canonical zone names, and
// every key its lines use is defined.
func FuzzSetup(f *testing.F) {
	setuptest.AddREADME(f, pluginName, "README.md", "../../corefile-examples/primary.Corefile", "../../corefile-examples/secondary.Corefile", "../../corefile-examples/split-horizon.Corefile", "../../corefile-examples/xot.Corefile", "../../corefile-examples/catalog.Corefile", "../../corefile-examples/catalog-secondary.Corefile")
	f.Fuzz(func(t *testing.T, input string) {
		if !setuptest.Directive(pluginName, input) {
			return
		}
		if strings.Contains(input, "key-file") || strings.Contains(input, "tls-ca") || strings.Contains(input, "tls-cert") {
			return // reads the files the input names
		}
		c := caddy.NewTestController("dns", input)
		ring := tsigauth.ForBlock(c).Ring
		specs, err := parse(c, tsigauth.ForBlock(c))
		if err != nil {
			setuptest.CheckError(t, input, err)
			return
		}
		for _, sp := range specs {
			if _, ok := dns.IsDomainName(sp.origin); !ok || sp.origin != zonemodel.Fqdn(sp.origin) {
				t.Fatalf("zone %q is not a canonical domain name", sp.origin)
			}
			for _, k := range sp.keys {
				if _, ok := ring.Get(k); !ok {
					t.Fatalf("zone %s uses key %s, which is not defined", sp.origin, k)
				}
			}
			if sp.reload < 0 {
				t.Fatalf("negative reload %s", sp.reload)
			}
		}
	})
}
