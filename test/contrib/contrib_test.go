// Package contrib checks what contrib/ ships: the Prometheus alerting rules
// (promtool check rules, promtool test rules), that the rules and the
// Grafana dashboard use only metrics the plugins export (read from the
// source) and valid PromQL, and the systemd unit (systemd-analyze verify and
// security, the hardening the README promises).
package contrib

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/dnspki/dnspki/test/harness"
)

func contrib(parts ...string) string {
	return filepath.Join(append([]string{harness.Root(), "contrib"}, parts...)...)
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestPrometheusRules: promtool accepts the rules and their unit tests
// pass; every alert has a test, and the alerts the issue asks for exist.
func TestPrometheusRules(t *testing.T) {
	promtool := harness.Need(t, "promtool")[0]
	rules := contrib("prometheus", "dnspki.rules.yml")
	out, err := harness.Run(t, time.Minute, "", promtool, "check", "rules", rules)
	if err != nil || !strings.Contains(out, "SUCCESS") {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
	out, err = harness.Run(t, 2*time.Minute, contrib("prometheus"), promtool, "test", "rules", "dnspki.rules.test.yml")
	if err != nil || !strings.Contains(out, "SUCCESS") {
		t.Fatalf("promtool test rules: %v\n%s", err, out)
	}

	alerts := matches(read(t, rules), `(?m)^\s*- alert:\s*(\S+)`)
	tested := map[string]bool{}
	for _, a := range matches(read(t, contrib("prometheus", "dnspki.rules.test.yml")), `(?m)alertname:\s*(\S+)`) {
		tested[a] = true
	}
	for _, a := range alerts {
		if !tested[a] {
			t.Errorf("alert %s has no test in dnspki.rules.test.yml", a)
		}
	}
	for _, want := range []string{
		"DnspkiCertificatePastARIWindow",  // a certificate past its ARI window
		"DnspkiTLSAMismatch",              // TLSA not matching the deployed certificate
		"DnspkiSigningFailures",           // signing failures
		"DnspkiSecondaryLagging",          // a secondary lagging by more than N serials
		"DnspkiChallengeRecordsNearLimit", // challenge records near their limit
	} {
		if !contains(alerts, want) {
			t.Errorf("no alert %s", want)
		}
	}
}

// TestMetricNames: every metric the rules and the dashboard use is one a
// plugin exports (its name in the source), so none is invented or
// misspelt.
func TestMetricNames(t *testing.T) {
	exported := exportedMetrics(t)
	if len(exported) < 40 {
		t.Fatalf("found only %d exported metrics in the source: %v", len(exported), exported)
	}
	for _, f := range []string{contrib("prometheus", "dnspki.rules.yml"), contrib("grafana", "dnspki.json")} {
		used := matches(read(t, f), `\b(coredns_dnspki_[a-z0-9_]+)`)
		if len(used) < 10 {
			t.Errorf("%s uses only %d metrics", f, len(used))
		}
		for _, m := range used {
			base := m
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				if b, ok := strings.CutSuffix(m, suffix); ok && exported[b] {
					base = b
				}
			}
			if !exported[base] {
				t.Errorf("%s uses %s, which no plugin exports", filepath.Base(f), m)
			}
		}
	}
}

// exportedMetrics reads the metric names the plugins define: the NAME of
// every metric.Counter, CounterVec, Gauge, GaugeVec, Histogram,
// HistogramVec and Desc (plugin/pkg/metric, which names it
// coredns_dnspki_NAME).
func exportedMetrics(t *testing.T) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	decl := regexp.MustCompile(`metric\.(?:Counter|Gauge|Histogram|Desc)(?:Vec)?\(\s*"([a-z0-9_]+)"`)
	err := filepath.WalkDir(filepath.Join(harness.Root(), "plugin"), func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return err
		}
		src := read(t, p)
		for _, re := range []*regexp.Regexp{decl} {
			for _, m := range re.FindAllStringSubmatch(src, -1) {
				out["coredns_dnspki_"+m[1]] = true
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// dashboard is the part of the Grafana JSON the test reads.
type dashboard struct {
	Title  string `json:"title"`
	Panels []struct {
		Title   string                   `json:"title"`
		Type    string                   `json:"type"`
		GridPos struct{ H, W, X, Y int } `json:"gridPos"`
		Targets []struct {
			Expr string `json:"expr"`
		} `json:"targets"`
	} `json:"panels"`
	Templating struct {
		List []struct {
			Name string `json:"name"`
		} `json:"list"`
	} `json:"templating"`
}

// TestGrafanaDashboard: the dashboard is JSON Grafana imports (panels on
// the 24-column grid, none over another, a Prometheus datasource
// variable), and every query is valid PromQL: promtool checks them as
// recording rules, with Grafana's variables substituted.
func TestGrafanaDashboard(t *testing.T) {
	promtool := harness.Need(t, "promtool")[0]
	var d dashboard
	if err := json.Unmarshal([]byte(read(t, contrib("grafana", "dnspki.json"))), &d); err != nil {
		t.Fatalf("dnspki.json: %v", err)
	}
	vars := map[string]bool{}
	for _, v := range d.Templating.List {
		vars[v.Name] = true
	}
	if !vars["datasource"] || !vars["zone"] {
		t.Errorf("variables %v, want datasource and zone", vars)
	}
	var rules strings.Builder
	rules.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	n := 0
	for i, p := range d.Panels {
		g := p.GridPos
		if g.W <= 0 || g.H <= 0 || g.X < 0 || g.X+g.W > 24 {
			t.Errorf("panel %q: gridPos %+v off the grid", p.Title, g)
		}
		for _, q := range d.Panels[:i] {
			h := q.GridPos
			if g.X < h.X+h.W && h.X < g.X+g.W && g.Y < h.Y+h.H && h.Y < g.Y+g.H {
				t.Errorf("panels %q and %q overlap", p.Title, q.Title)
			}
		}
		if p.Type != "row" && len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			expr := strings.NewReplacer("$__rate_interval", "5m", "$zone", ".*").Replace(tg.Expr)
			if strings.Contains(expr, "$") {
				t.Errorf("panel %q: unknown variable in %s", p.Title, tg.Expr)
			}
			n++
			b, _ := json.Marshal(expr) // a JSON string is a YAML string
			fmt.Fprintf(&rules, "      - record: dashboard:query_%d\n        expr: %s\n", n, b)
		}
	}
	f := filepath.Join(t.TempDir(), "dashboard.rules.yml")
	if err := os.WriteFile(f, []byte(rules.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := harness.Run(t, time.Minute, "", promtool, "check", "rules", f)
	if err != nil || !strings.Contains(out, fmt.Sprintf("%d rules found", n)) {
		t.Fatalf("the dashboard's queries: %v\n%s", err, out)
	}
}

// TestSystemdUnit: systemd-analyze verify accepts the unit (with ExecStart
// pointing at a built dnspki) without a warning, its offline security
// review rates the exposure 2.5 or lower, and it has the hardening the
// README describes: its own user, CAP_NET_BIND_SERVICE alone, the file
// system read-only but for the state directory it runs in.
func TestSystemdUnit(t *testing.T) {
	analyze := harness.Need(t, "systemd-analyze")[0]
	unit := read(t, contrib("systemd", "dnspki.service"))
	keys := map[string][]string{}
	for _, l := range strings.Split(unit, "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(l), "="); ok && !strings.HasPrefix(l, "#") {
			keys[k] = append(keys[k], v)
		}
	}
	want := map[string]string{
		"User":                  "dnspki",
		"AmbientCapabilities":   "CAP_NET_BIND_SERVICE",
		"CapabilityBoundingSet": "CAP_NET_BIND_SERVICE",
		"NoNewPrivileges":       "yes",
		"ProtectSystem":         "strict",
		"ReadWritePaths":        "/var/lib/dnspki",
		"StateDirectory":        "dnspki",
		"WorkingDirectory":      "/var/lib/dnspki",
		"ProtectHome":           "yes",
		"PrivateTmp":            "yes",
	}
	for k, v := range want {
		if got := keys[k]; len(got) != 1 || got[0] != v {
			t.Errorf("%s=%v, want %s", k, got, v)
		}
	}
	exec := keys["ExecStart"]
	if len(exec) != 1 || !strings.HasPrefix(exec[0], "/usr/local/bin/dnspki ") {
		t.Fatalf("ExecStart=%v", exec)
	}

	// verify checks that ExecStart's program exists: point it at a build.
	dir := t.TempDir()
	path := filepath.Join(dir, "dnspki.service")
	unit = strings.Replace(unit, "ExecStart=/usr/local/bin/dnspki ", "ExecStart="+harness.Dnspki(t)+" ", 1)
	if err := os.WriteFile(path, []byte(unit), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := harness.Run(t, time.Minute, dir, analyze, "verify", path)
	if err != nil || strings.TrimSpace(out) != "" {
		// verify exits 0 on a misspelt key or a bad value, with a warning.
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
	out, err = harness.Run(t, time.Minute, dir, analyze, "security", "--offline=true", "--threshold=25", path)
	if err != nil {
		t.Fatalf("systemd-analyze security: exposure above 2.5 (%v)\n%s", err, out)
	}
	if m := regexp.MustCompile(`Overall exposure level for dnspki.service: ([0-9.]+)`).FindStringSubmatch(out); m != nil {
		t.Logf("systemd-analyze security: exposure %s", m[1])
	} else {
		t.Errorf("systemd-analyze security printed no exposure level:\n%s", out)
	}
}

// matches returns the first group of every match of re in s, sorted and
// without duplicates.
func matches(s, re string) []string {
	seen := map[string]bool{}
	var out []string
	for _, m := range regexp.MustCompile(re).FindAllStringSubmatch(s, -1) {
		if !seen[m[1]] {
			seen[m[1]] = true
			out = append(out, m[1])
		}
	}
	sort.Strings(out)
	return out
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}
