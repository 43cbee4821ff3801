package authzone

import (
	"strings"
	"testing"

	"github.com/coredns/caddy"

	"github.com/dnspki/dnspki/plugin/pkg/setuptest"
	"github.com/dnspki/dnspki/plugin/pkg/tsigauth"
	"github.com/dnspki/dnspki/plugin/pkg/tsigkey"
)

// FuzzSetup parses arbitrary authzone blocks: an error names the Corefile's
// file and line; a configuration that parses has canonical zone names, and
// every key its lines use is defined.
func FuzzSetup(f *testing.F) {
	seeds := []string{"README.md"}
	for _, c := range []string{"primary", "secondary", "split-horizon", "xot", "catalog", "catalog-secondary"} {
		seeds = append(seeds, "../../corefile-examples/"+c+".Corefile")
	}
	readsFiles := func(input string) bool {
		return strings.Contains(input, "key-file") || strings.Contains(input, "tls-ca") || strings.Contains(input, "tls-cert")
	}
	type parsed struct {
		specs []*zoneSpec
		ring  *tsigkey.Ring
	}
	parseBlock := func(c *caddy.Controller) (parsed, error) {
		block := tsigauth.ForBlock(c)
		specs, err := parse(c, block)
		return parsed{specs, block.Ring}, err
	}
	setuptest.Fuzz(f, pluginName, seeds, parseBlock, func(t *testing.T, p parsed) {
		for _, sp := range p.specs {
			setuptest.CheckZone(t, sp.origin)
			for _, k := range sp.keys {
				if _, ok := p.ring.Get(k); !ok {
					t.Fatalf("zone %s uses key %s, which is not defined", sp.origin, k)
				}
			}
			if sp.reload < 0 {
				t.Fatalf("negative reload %s", sp.reload)
			}
		}
	}, readsFiles)
}
