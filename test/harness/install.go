package harness

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// debPackage maps the programs tests need to the Debian packages that ship them.
var debPackage = map[string]string{
	"knotd":             "knot",
	"knotc":             "knot",
	"keymgr":            "knot",
	"kzonecheck":        "knot-dnssecutils",
	"kdig":              "knot-dnsutils",
	"knsupdate":         "knot-dnsutils",
	"named":             "bind9",
	"named-checkzone":   "bind9-utils",
	"named-checkconf":   "bind9-utils",
	"named-compilezone": "bind9-utils",
	"dnssec-keygen":     "bind9-utils",
	"dnssec-signzone":   "bind9-utils",
	"dnssec-verify":     "bind9-utils",
	"tsig-keygen":       "bind9",
	"dig":               "bind9-dnsutils",
	"delv":              "bind9-dnsutils",
	"nsupdate":          "bind9-dnsutils",
	"nsd":               "nsd",
	"nsd-control":       "nsd",
	"nsd-checkconf":     "nsd",
	"unbound":           "unbound",
	"unbound-control":   "unbound",
	"unbound-checkconf": "unbound",
	"unbound-host":      "unbound-host",
	"ldns-dane":         "ldnsutils",
	"ldns-verify-zone":  "ldnsutils",
	"drill":             "ldnsutils",
	"dnsperf":           "dnsperf",
	"certbot":           "certbot",
	"openssl":           "openssl",
	"dnsviz":            "dnsviz",
	"swaks":             "swaks",
	"faketime":          "faketime",
	// The status page's browser test (chromedp drives it).
	"chromium-headless-shell": "chromium-headless-shell",
	// contrib/: the Prometheus rules and the systemd unit are checked.
	"promtool":        "prometheus",
	"systemd-analyze": "systemd",
}

// extraPackages are installed along with a program's package.
var extraPackages = map[string][]string{
	"certbot": {"python3-certbot-dns-rfc2136"},
}

var installMu sync.Mutex

// Need makes sure the programs are installed, installing their Debian
// packages when missing (as root, with services kept from starting). Where
// installing is impossible the test fails in CI and is skipped elsewhere.
// It returns the programs' paths in order.
func Need(t testing.TB, programs ...string) []string {
	t.Helper()
	installMu.Lock()
	defer installMu.Unlock()
	var missing []string
	for _, p := range programs {
		if _, err := lookPath(p); err != nil {
			pkg := debPackage[p]
			if pkg == "" {
				t.Fatalf("harness: no Debian package known for %q", p)
			}
			missing = append(missing, pkg)
			missing = append(missing, extraPackages[p]...)
			continue
		}
		// The program is there; its companions (certbot's plugins) may not be.
		for _, extra := range extraPackages[p] {
			if !debInstalled(extra) {
				missing = append(missing, extra)
			}
		}
	}
	if len(missing) > 0 {
		if err := aptInstall(missing); err != nil {
			if CI() {
				t.Fatalf("installing %v: %v", missing, err)
			}
			t.Skipf("installing %v: %v", missing, err)
		}
	}
	out := make([]string, len(programs))
	for i, p := range programs {
		path, err := lookPath(p)
		if err != nil {
			t.Fatalf("%s still missing after installing its package: %v", p, err)
		}
		out[i] = path
	}
	return out
}

// debInstalled reports whether a Debian package is installed (false where
// dpkg is missing).
func debInstalled(pkg string) bool {
	out, err := exec.Command("dpkg-query", "-W", "-f=${Status}", pkg).Output()
	return err == nil && strings.HasSuffix(strings.TrimSpace(string(out)), " installed")
}

func lookPath(p string) (string, error) {
	if path, err := exec.LookPath(p); err == nil {
		return path, nil
	}
	for _, d := range []string{"/usr/sbin", "/sbin"} {
		if _, err := os.Stat(filepath.Join(d, p)); err == nil {
			return filepath.Join(d, p), nil
		}
	}
	return "", fmt.Errorf("%s not found", p)
}

var updated bool

// aptInstall installs Debian packages. A policy-rc.d that exits 101 keeps the
// packages' system services from starting; a file lock serializes test
// binaries that install at the same time.
func aptInstall(pkgs []string) error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("not root; install them with: apt-get install -y %s", strings.Join(pkgs, " "))
	}
	if _, err := exec.LookPath("apt-get"); err != nil {
		return fmt.Errorf("no apt-get on this machine; install: %s", strings.Join(pkgs, " "))
	}
	policy := "/usr/sbin/policy-rc.d"
	if b, err := os.ReadFile(policy); err != nil || !strings.Contains(string(b), "exit 101") {
		if err := os.WriteFile(policy, []byte("#!/bin/sh\nexit 101\n"), 0o755); err != nil {
			return err
		}
	}
	env := append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	run := func(args ...string) error {
		full := append([]string{"-w", "900", "/tmp/dnspki-test-apt.lock", "apt-get", "-o", "DPkg::Lock::Timeout=600", "-q"}, args...)
		cmd := exec.Command("flock", full...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("apt-get %s: %v\n%s", strings.Join(args, " "), err, tail(string(out), 3000))
		}
		return nil
	}
	install := append([]string{"install", "-y", "--no-install-recommends"}, pkgs...)
	if !updated {
		if err := run(install...); err == nil {
			return nil
		}
		if err := run("update"); err != nil {
			return err
		}
		updated = true
	}
	return run(install...)
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

var goInstallMu sync.Mutex

// GoInstall builds a Go program (module@version form) into the harness cache
// once and returns the binary's path.
func GoInstall(t testing.TB, pkg string) string {
	t.Helper()
	goInstallMu.Lock()
	defer goInstallMu.Unlock()
	name := pkg
	if i := strings.LastIndex(name, "@"); i >= 0 {
		name = name[:i]
	}
	name = filepath.Base(name)
	ver := strings.NewReplacer("/", "_", "@", "_").Replace(pkg)
	bin := filepath.Join(CacheDir(), "gobin", ver)
	path := filepath.Join(bin, name)
	if _, err := os.Stat(path); err == nil {
		return path
	}
	os.MkdirAll(bin, 0o755)
	cmd := exec.Command("flock", "-w", "900", filepath.Join(CacheDir(), "goinstall.lock"), "go", "install", pkg)
	cmd.Env = append(os.Environ(), "GOBIN="+bin, "GOFLAGS=-mod=mod")
	start := time.Now()
	out, err := cmd.CombinedOutput()
	if err != nil {
		if CI() {
			t.Fatalf("go install %s: %v\n%s", pkg, err, out)
		}
		t.Skipf("go install %s: %v\n%s", pkg, err, out)
	}
	t.Logf("go install %s: %s", pkg, time.Since(start).Round(time.Second))
	return path
}
