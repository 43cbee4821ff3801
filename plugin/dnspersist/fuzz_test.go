package dnspersist

import (
	"testing"
	"time"

	"github.com/coredns/caddy"
	"github.com/miekg/dns"

	"github.com/dnspki/dnspki/plugin/pkg/persist"
	"github.com/dnspki/dnspki/plugin/pkg/setuptest"
	"github.com/dnspki/dnspki/plugin/pkg/zonemodel"
)

// FuzzSetup parses arbitrary dnspersist blocks: an error names the
// Corefile's file and line; a configuration that parses publishes records
// the CA accepts (each renders, packs, and parses back as itself) at names
// inside its zone.
func FuzzSetup(f *testing.F) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	setuptest.Fuzz(f, pluginName, []string{"README.md", "../../corefile-examples/dns-persist.Corefile"}, func(c *caddy.Controller) ([]*config, error) { return parse(c, now) }, func(t *testing.T, cfgs []*config) {
		for _, cfg := range cfgs {
			if cfg.origin != zonemodel.Fqdn(cfg.origin) {
				t.Fatalf("zone %q is not canonical", cfg.origin)
			}
			for _, a := range cfg.auths {
				for _, n := range append(append([]string{}, a.names...), a.also...) {
					if !zonemodel.InZone(n, cfg.origin) {
						t.Fatalf("name %s outside zone %s", n, cfg.origin)
					}
				}
				for _, r := range a.records(now) {
					if err := r.Validate(); err != nil {
						t.Fatalf("configured record %q is invalid: %v", r, err)
					}
					back, err := persist.Parse(r.String())
					if err != nil || back.String() != r.String() {
						t.Fatalf("record %q parses back as %v (%v)", r, back, err)
					}
					txt := r.TXT(a.names[0], 3600)
					if _, err := (&dns.Msg{Answer: []dns.RR{txt}}).Pack(); err != nil {
						t.Fatalf("record %v does not pack: %v", txt, err)
					}
				}
			}
		}
	})
}
