package horizon

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/dnspki/dnspki/test/harness"
)

// TestValidation: two validating unbounds with the zone's trust anchor, one
// asking dnspki from 127.0.0.1 (internal view), one from 127.0.0.2
// (external view); one per view, since aggressive NSEC use (RFC 8198) would
// otherwise mix the views' denials in one cache. Internal answers are
// signed and validate (AD); externally the public data and the validation
// records validate, and internal names are securely denied, exactly like
// names that never existed.
func TestValidation(t *testing.T) {
	harness.Need(t, "unbound", "nsupdate")
	s := startServer(t, 0, "")
	if out, err := nsupdate(t, s.Addr, "127.0.0.2", keyACME, "update add _acme-challenge.git.intra.example.test. 60 TXT "+acmeValue); err != nil {
		t.Fatalf("nsupdate: %v\n%s", err, out)
	}
	anchor := filepath.Join(s.Dir, "state/keys/example.test.trust-anchor")
	start := func(src string) *harness.Unbound {
		return harness.StartUnbound(t, harness.UnboundConfig{
			TrustAnchorFiles: []string{anchor},
			Stubs:            map[string][]string{zone: {s.Addr}},
			Extra:            []string{"outgoing-interface: " + src},
		})
	}
	internal, external := start("127.0.0.1"), start("127.0.0.2")

	resolve := func(u *harness.Unbound, name string, qtype uint16) *dns.Msg {
		t.Helper()
		r, err := u.Resolve(name, qtype)
		if err != nil {
			t.Fatalf("%s/%s: %v", name, dns.TypeToString[qtype], err)
		}
		return r
	}
	// secure: AD set, the rcode and answer data as wanted ("" no answer).
	secure := func(u *harness.Unbound, view, name string, qtype uint16, rcode int, want string) {
		t.Helper()
		r := resolve(u, name, qtype)
		got := fmt.Sprint(r.Answer)
		if !r.AuthenticatedData || r.Rcode != rcode || (want == "" && len(r.Answer) > 0) || (want != "" && !strings.Contains(got, want)) {
			t.Errorf("%s %s/%s: rcode %s AD %v answer %s; want %s AD with %q", view, name, dns.TypeToString[qtype], dns.RcodeToString[r.Rcode], r.AuthenticatedData, got, dns.RcodeToString[rcode], want)
		}
	}
	const ok = dns.RcodeSuccess
	// Internal clients: internal data, validated.
	for _, c := range []struct {
		name  string
		qtype uint16
		want  string
	}{
		{"vpn.example.test", dns.TypeA, "10.0.0.1"},
		{"vpn.example.test", dns.TypeTXT, "vpngateway-secret"},
		{"www.intra.example.test", dns.TypeAAAA, "fd00::1:3"},
		{"wiki.intra.example.test", dns.TypeA, "10.1.2.7"},
		{"alias-vpn.example.test", dns.TypeA, "10.0.0.1"},
		{"host33.hostpool.intra.example.test", dns.TypeAAAA, "fd00:3::21"},
		{"lvlone.lvltwo.lvlthree.deep.intra.example.test", dns.TypeA, "10.1.4.1"},
		{"_ldap._tcp.intra.example.test", dns.TypeSRV, "ldap.intra.example.test."},
		{"mail.example.test", dns.TypeA, "10.1.2.25"},
		{"build.apps.example.test", dns.TypeA, "10.4.0.1"},
		{"api.example.test", dns.TypeA, "192.0.2.30"},
		{"_validation-persist.www.intra.example.test", dns.TypeTXT, persistURI},
		{"_acme-challenge.git.intra.example.test", dns.TypeTXT, acmeValue},
		{tlsaInternal, dns.TypeTLSA, "TLSA\t3 1 1 "},
		{tlsaPublic, dns.TypeTLSA, "TLSA\t3 1 1 "},
	} {
		secure(internal, "internal", c.name, c.qtype, ok, c.want)
	}
	secure(internal, "internal", "vpn.example.test", dns.TypeMX, ok, "")

	// External clients: public data and validation records validate.
	for _, c := range []struct {
		name  string
		qtype uint16
		want  string
	}{
		{"www.example.test", dns.TypeA, "192.0.2.10"},
		{"mail.example.test", dns.TypeA, "192.0.2.25"},
		{"build.apps.example.test", dns.TypeA, "192.0.2.80"},
		{"_validation-persist.www.intra.example.test", dns.TypeTXT, persistURI},
		{"_validation-persist.portal.example.test", dns.TypeTXT, persistURI},
		{"_acme-challenge.git.intra.example.test", dns.TypeTXT, acmeValue},
		{tlsaPublic, dns.TypeTLSA, "TLSA\t3 1 1 "},
	} {
		secure(external, "external", c.name, c.qtype, ok, c.want)
	}
	// Internal names with public validation records: secure NODATA, like any
	// empty non-terminal.
	for _, n := range []string{"www.intra.example.test", "portal.example.test", "git.intra.example.test", "intra.example.test", "_udp.example.test"} {
		for _, qt := range []uint16{dns.TypeA, dns.TypeAAAA, dns.TypeMX, dns.TypeTXT} {
			secure(external, "external", n, qt, ok, "")
		}
	}
	// Internal-only names: denied securely, exactly like a name that never
	// existed next to them.
	sec := newSecrets(t, internalZone(""))
	summary := func(r *dns.Msg) string {
		return fmt.Sprintf("rcode %s AD %v answer %d", dns.RcodeToString[r.Rcode], r.AuthenticatedData, len(r.Answer))
	}
	public := map[string]bool{}
	for _, rr := range parseZone(t, publicZone) {
		public[strings.ToLower(rr.Header().Name)] = true
	}
	for _, n := range sec.Names {
		if strings.HasSuffix(n, ".apps.example.test.") || public[n] {
			continue // the public wildcard answers there; a public name
		}
		skip := false
		for _, p := range withPublicRecords {
			if n == p {
				skip = true
			}
		}
		if skip {
			continue
		}
		_, parent, _ := strings.Cut(n, ".")
		for _, qt := range []uint16{dns.TypeA, dns.TypeTXT} {
			r := resolve(external, n, qt)
			ctl := resolve(external, "nxctl7q."+parent, qt)
			if summary(r) != summary(ctl) || !r.AuthenticatedData || len(r.Answer) > 0 {
				t.Errorf("external %s/%s: %s; a name that never existed: %s", n, dns.TypeToString[qt], summary(r), summary(ctl))
			}
			if l := sec.leaks(n, msgRRs(r)); len(l) > 0 {
				t.Errorf("external %s/%s through unbound leaks: %v", n, dns.TypeToString[qt], l)
			}
		}
	}
	if strings.Contains(external.Log(), "validation failure") || strings.Contains(internal.Log(), "validation failure") {
		t.Errorf("validation failures:\n%s\n%s", external.Log(), internal.Log())
	}
}
