package harness

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

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

// DebProgram installs Debian package pkg (see NeedDeb) and returns the path
// at which that package ships program prog, as dpkg -L lists it: for an
// interpreter that must be Debian's own (python3 with a Debian module, not
// another python3 earlier in PATH). The test fails if the package does not
// ship the program.
func DebProgram(t testing.TB, pkg, prog string) string {
	t.Helper()
	NeedDeb(t, pkg)
	out, err := exec.Command("dpkg", "-L", pkg).Output()
	if err != nil {
		t.Fatalf("dpkg -L %s: %v", pkg, err)
	}
	for _, f := range strings.Fields(string(out)) {
		switch filepath.Dir(f) {
		case "/usr/bin", "/usr/sbin", "/bin", "/sbin":
		default:
			continue
		}
		if filepath.Base(f) != prog {
			continue
		}
		if fi, err := os.Stat(f); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return f
		}
	}
	t.Fatalf("package %s does not ship the program %s", pkg, prog)
	return ""
}
