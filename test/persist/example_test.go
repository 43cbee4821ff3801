package persist

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dnspki/dnspki/test/harness"
)

// TestExampleCAA: dig (BIND's) asks the example for its CAA records: at
// intra.example.test the issue and (policy wildcard) issuewild records that
// name Pebble's issuer, the account and the validation methods; at the apex
// the zone file's CAA only; none at host.intra.example.test (the `also` name
// gets the validation record, not CAA); and the validation record at intra.
func TestExampleCAA(t *testing.T) {
	const acct = "https://127.0.0.1:14000/my-account/1"
	s := example(t, 0, acct)
	dig := harness.Need(t, "dig")[0]
	host, port, _ := strings.Cut(s.Addr, ":")
	query := func(name, qtype string) []string {
		t.Helper()
		out := harness.MustRun(t, 30*time.Second, "", dig, "@"+host, "-p", port, "+norec", "+short", "+tries=1", "+time=5", name, qtype)
		var lines []string
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			if l != "" {
				lines = append(lines, l)
			}
		}
		slices.Sort(lines)
		return lines
	}
	value := `"` + issuer + "; accounturi=" + acct + `; validationmethods=dns-01,dns-persist-01"`
	if got, want := query("intra.example.test.", "CAA"), []string{"0 issue " + value, "0 issuewild " + value}; !slices.Equal(got, want) {
		t.Fatalf("CAA at intra.example.test:\n%q\nwant\n%q", got, want)
	}
	if got, want := query("example.test.", "CAA"), []string{`0 issue "pebble.letsencrypt.org"`}; !slices.Equal(got, want) {
		t.Fatalf("CAA at the apex: %q, want %q", got, want)
	}
	if got := query("host.intra.example.test.", "CAA"); got != nil {
		t.Fatalf("CAA at host.intra.example.test: %q", got)
	}
	if got, want := query(intraVP, "TXT"), []string{`"` + issuer + "; accounturi=" + acct + `; policy=wildcard"`}; !slices.Equal(got, want) {
		t.Fatalf("TXT at %s: %q, want %q", intraVP, got, want)
	}
}
