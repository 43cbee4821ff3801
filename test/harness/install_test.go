package harness

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// TestDebPackageMap: every program Need installs is shipped by the Debian
// package debPackage names for it (dpkg -L lists it in a bin directory), and
// once that package is installed Need finds the program there. In CI every
// package is installed; elsewhere the programs whose packages cannot be
// installed (not root, no apt-get) are skipped.
func TestDebPackageMap(t *testing.T) {
	var pkgs []string
	for _, pkg := range debPackage {
		pkgs = append(pkgs, pkg)
	}
	for _, extras := range extraPackages {
		pkgs = append(pkgs, extras...)
	}
	sort.Strings(pkgs)
	pkgs = slices.Compact(pkgs)
	var missing []string
	for _, pkg := range pkgs {
		if !debInstalled(pkg) {
			missing = append(missing, pkg)
		}
	}
	if len(missing) > 0 {
		installMu.Lock()
		err := aptInstall(missing)
		installMu.Unlock()
		if err != nil && CI() {
			t.Fatalf("installing %v: %v", missing, err)
		}
	}
	programs := make([]string, 0, len(debPackage))
	for p := range debPackage {
		programs = append(programs, p)
	}
	sort.Strings(programs)
	for _, prog := range programs {
		pkg := debPackage[prog]
		t.Run(prog, func(t *testing.T) {
			if !debInstalled(pkg) {
				if CI() {
					t.Fatalf("%s: package %s is not installed", prog, pkg)
				}
				t.Skipf("%s: package %s is not installed and could not be installed here", prog, pkg)
			}
			shipped := shippedPrograms(t, pkg)
			path, ok := shipped[prog]
			if !ok {
				t.Fatalf("package %s does not ship %s (its programs: %v)", pkg, prog, keys(shipped))
			}
			found, err := lookPath(prog)
			if err != nil {
				t.Fatalf("%s installed by %s at %s, but Need does not find it: %v", prog, pkg, path, err)
			}
			if !sameFile(found, path) {
				t.Errorf("Need finds %s at %s, package %s ships it at %s", prog, found, pkg, path)
			}
		})
	}
	for prog, extras := range extraPackages {
		for _, pkg := range extras {
			t.Run(prog+"+"+pkg, func(t *testing.T) {
				if !debInstalled(pkg) {
					if CI() {
						t.Fatalf("package %s (for %s) is not installed", pkg, prog)
					}
					t.Skipf("package %s (for %s) could not be installed here", pkg, prog)
				}
				if len(dpkgFiles(t, pkg)) == 0 {
					t.Fatalf("package %s lists no files", pkg)
				}
			})
		}
	}
}

// TestCertbotRFC2136Plugin: the extra package installed with certbot is the
// one that provides its dns-rfc2136 plugin (the certbot test's
// --dns-rfc2136).
func TestCertbotRFC2136Plugin(t *testing.T) {
	const pkg = "python3-certbot-dns-rfc2136"
	if !slices.Contains(extraPackages["certbot"], pkg) {
		t.Fatalf("certbot's extra packages %v lack %s", extraPackages["certbot"], pkg)
	}
	if !debInstalled(pkg) {
		if CI() {
			t.Fatalf("%s is not installed (TestDebPackageMap installs it)", pkg)
		}
		t.Skipf("%s is not installed", pkg)
	}
	for _, f := range dpkgFiles(t, pkg) {
		if strings.Contains(f, "certbot_dns_rfc2136") {
			return
		}
	}
	t.Fatalf("%s does not ship the certbot_dns_rfc2136 module", pkg)
}

// shippedPrograms returns the programs a package installs in a bin
// directory, by name.
func shippedPrograms(t *testing.T, pkg string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, f := range dpkgFiles(t, pkg) {
		switch filepath.Dir(f) {
		case "/usr/bin", "/usr/sbin", "/bin", "/sbin":
			if fi, err := os.Stat(f); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
				out[filepath.Base(f)] = f
			}
		}
	}
	return out
}

// dpkgFiles is dpkg -L pkg.
func dpkgFiles(t *testing.T, pkg string) []string {
	t.Helper()
	b, err := exec.Command("dpkg", "-L", pkg).Output()
	if err != nil {
		t.Fatalf("dpkg -L %s: %v", pkg, err)
	}
	return strings.Fields(string(b))
}

// sameFile reports whether two paths name the same file (/bin is /usr/bin
// on a merged-/usr system).
func sameFile(a, b string) bool {
	fa, err := os.Stat(a)
	if err != nil {
		return false
	}
	fb, err := os.Stat(b)
	return err == nil && os.SameFile(fa, fb)
}

func keys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// essential are the programs of Debian's essential set (there on every
// Debian machine) that tests and the harness run by name.
var essential = map[string]bool{"sh": true, "mkdir": true, "flock": true, "dpkg": true, "dpkg-query": true, "apt-get": true, "go": true}

// TestProgramsMapped: every program a test asks Need for, or runs by name
// (harness.Run, MustRun, RunInput, exec.Command with a literal name), is in
// debPackage or in Debian's essential set, so a fresh machine can install it.
func TestProgramsMapped(t *testing.T) {
	var files []string
	for _, top := range []string{"test", "plugin", "cmd"} {
		filepath.WalkDir(filepath.Join(Root(), top), func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() && strings.HasSuffix(p, ".go") {
				files = append(files, p)
			}
			return nil
		})
	}
	if len(files) == 0 {
		t.Fatal("no Go files found")
	}
	fset := token.NewFileSet()
	seen := 0
	for _, f := range files {
		file, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(file, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			for _, prog := range programArgs(call) {
				seen++
				if debPackage[prog] == "" && !essential[prog] {
					t.Errorf("%s: %s is run but no Debian package is known for it", fset.Position(call.Pos()), prog)
				}
			}
			return true
		})
	}
	if seen < 10 {
		t.Fatalf("only %d program names found in the sources: the scan is broken", seen)
	}
}

// programArgs returns the string literals a call names as programs: every
// argument after the first of Need, the first of exec.Command and
// exec.CommandContext's argv, the first argv element of Run, MustRun and
// RunInput.
func programArgs(call *ast.CallExpr) []string {
	name := ""
	switch fn := call.Fun.(type) {
	case *ast.SelectorExpr:
		name = fn.Sel.Name
	case *ast.Ident:
		name = fn.Name
	}
	lit := func(i int) []string {
		if i >= len(call.Args) {
			return nil
		}
		if b, ok := call.Args[i].(*ast.BasicLit); ok && b.Kind == token.STRING {
			if s, err := strconv.Unquote(b.Value); err == nil {
				return []string{s}
			}
		}
		return nil
	}
	switch name {
	case "Need":
		var out []string
		for i := 1; i < len(call.Args); i++ {
			out = append(out, lit(i)...)
		}
		return out
	case "Command":
		return lit(0)
	case "CommandContext":
		return lit(1)
	case "Run", "MustRun":
		return lit(3)
	case "RunInput":
		return lit(4)
	}
	return nil
}
