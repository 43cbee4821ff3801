package onlinesign

import (
	"testing"

	"github.com/dnspki/dnspki/plugin/pkg/setuptest"
)

// FuzzSetup parses arbitrary onlinesign blocks: an error names the
// Corefile's file and line; a configuration that parses has canonical zone
// names and signatures that are valid for longer than they are refreshed
// before their end.
func FuzzSetup(f *testing.F) {
	setuptest.Fuzz(f, pluginName, []string{"README.md", "../../corefile-examples/signed.Corefile"}, parse, func(t *testing.T, cfgs []zoneConfig) {
		for _, c := range cfgs {
			setuptest.CheckZone(t, c.origin)
			if c.sig.validity <= 0 || c.sig.refresh < 0 || c.sig.refresh >= c.sig.validity {
				t.Fatalf("zone %s: validity %s, refresh %s", c.origin, c.sig.validity, c.sig.refresh)
			}
		}
	})
}
