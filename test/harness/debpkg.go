package harness

import "testing"

// NeedDeb makes sure Debian packages that ship no program a test runs
// directly (a Python module, for instance) are installed, installing them
// when missing. Where that is impossible the test fails in CI and is
// skipped elsewhere.
func NeedDeb(t testing.TB, pkgs ...string) {
	t.Helper()
	installMu.Lock()
	defer installMu.Unlock()
	var missing []string
	for _, p := range pkgs {
		if !debInstalled(p) {
			missing = append(missing, p)
		}
	}
	if len(missing) == 0 {
		return
	}
	if err := aptInstall(missing); err != nil {
		if CI() {
			t.Fatalf("installing %v: %v", missing, err)
		}
		t.Skipf("installing %v: %v", missing, err)
	}
}
