package horizon

import (
	"slices"
	"testing"

	"github.com/miekg/dns"

	"github.com/dnspki/dnspki/plugin/pkg/setuptest"
)

// FuzzSetup parses arbitrary horizon blocks: an error names the Corefile's
// file and line; a configuration that parses has views with distinct names,
// valid prefixes and canonical key names.
func FuzzSetup(f *testing.F) {
	setuptest.Fuzz(f, "horizon", []string{"README.md", "../../corefile-examples/split-horizon.Corefile"}, parse, func(t *testing.T, h *Horizon) {
		seen := map[string]bool{}
		for _, v := range h.Views {
			if v.Name == "" || seen[v.Name] {
				t.Fatalf("view name %q empty or repeated", v.Name)
			}
			seen[v.Name] = true
			for _, p := range append(slices.Clone(v.Sources), v.Destinations...) {
				if !p.IsValid() || p != p.Masked() {
					t.Fatalf("view %s: prefix %v", v.Name, p)
				}
			}
			for _, k := range v.Keys {
				if _, ok := dns.IsDomainName(k); !ok || k != dns.CanonicalName(k) {
					t.Fatalf("view %s: key name %q not canonical", v.Name, k)
				}
			}
		}
	})
}
