// Package fuzz runs every Go fuzz target of the repository for a bounded
// number of inputs, as part of the README's test command: the targets are
// found by reading the source (every func FuzzXxx(*testing.F) in a _test.go
// file), so a new one runs without being listed anywhere. Each package's
// tests are built once instrumented for fuzzing (`go test -c -fuzz . ./pkg`)
// and the binary is run once per target, as `go test -run '^$' -fuzz
// '^FuzzXxx$' -fuzztime Nx ./pkg` would run it (Go fuzzes one target of one
// package per invocation), with an empty fuzz cache (the seeds and the
// checked-in corpus, then N new inputs); a crash fails the test with the
// fuzzer's output and the failing input, which the fuzzer has written to the
// package's testdata/fuzz/FuzzXxx/ (commit it with the fix: it is then a
// regression seed that every `go test` runs).
package fuzz

import (
	"bytes"
	"context"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"
)

// defaultExecs is how many inputs each target is run with. A count, not a
// duration: a duration-based -fuzztime can end with a spurious "context
// deadline exceeded" failure on a loaded machine (a race in Go's fuzzing
// coordinator, go.dev/issue/75804, seen here with go1.26), a count cannot.
const defaultExecs = 3000

// execs overrides defaultExecs for targets whose inputs are slow (each entry
// must name a target that exists: a stale one fails the test).
var execs = map[string]int{}

// target is one fuzz target: its package folder (relative to the module
// root, slash-separated) and its name.
type target struct {
	dir, name string
}

func (t target) String() string { return t.dir + "." + t.name }

// moduleRoot is the folder of go.mod, above this test's folder.
func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's folder")
		}
		dir = parent
	}
}

// findTargets reads every _test.go file below root (testdata, hidden and
// underscore folders excepted, as the go tool does) and returns its fuzz
// targets: top-level functions named FuzzXxx with one *testing.F parameter.
func findTargets(root string) ([]target, error) {
	var out []target
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if path != root && (name == "testdata" || name == "vendor" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")) {
				return filepath.SkipDir
			}
			if path != root {
				if _, err := os.Stat(filepath.Join(path, "go.mod")); err == nil {
					return filepath.SkipDir // another module
				}
			}
			return nil
		}
		if !strings.HasSuffix(name, "_test.go") || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, filepath.Dir(path))
		if err != nil {
			return err
		}
		for _, decl := range f.Decls {
			fd, ok := decl.(*ast.FuncDecl)
			if !ok || fd.Recv != nil || !isFuzzName(fd.Name.Name) || !takesF(fd) {
				continue
			}
			out = append(out, target{dir: filepath.ToSlash(rel), name: fd.Name.Name})
		}
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out, err
}

// isFuzzName is the go tool's rule: Fuzz, then nothing or a character that
// is not a lower-case letter.
func isFuzzName(n string) bool {
	if !strings.HasPrefix(n, "Fuzz") {
		return false
	}
	if len(n) == 4 {
		return true
	}
	r, _ := utf8.DecodeRuneInString(n[4:])
	return !unicode.IsLower(r)
}

// takesF reports whether fd has the signature func(*testing.F).
func takesF(fd *ast.FuncDecl) bool {
	p := fd.Type.Params.List
	if len(p) != 1 || len(p[0].Names) > 1 || fd.Type.Results != nil {
		return false
	}
	star, ok := p[0].Type.(*ast.StarExpr)
	if !ok {
		return false
	}
	sel, ok := star.X.(*ast.SelectorExpr)
	if !ok {
		return false
	}
	pkg, ok := sel.X.(*ast.Ident)
	return ok && pkg.Name == "testing" && sel.Sel.Name == "F"
}

var failingInput = regexp.MustCompile(`Failing input written to (\S+)`)

// TestFuzzTargets runs every fuzz target for a bounded number of inputs.
func TestFuzzTargets(t *testing.T) {
	if testing.Short() {
		t.Skip("fuzzing is not short")
	}
	root := moduleRoot(t)
	targets, err := findTargets(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(targets) == 0 {
		t.Fatal("no fuzz target found")
	}
	known := map[string]bool{}
	for _, tg := range targets {
		known[tg.String()] = true
	}
	for k := range execs {
		if !known[k] {
			t.Errorf("execs names %s, which is no fuzz target", k)
		}
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command: %v", err)
	}
	bins := t.TempDir()
	built := map[string]string{} // package folder → instrumented test binary
	var total time.Duration
	for _, tg := range targets {
		t.Run(tg.String(), func(t *testing.T) {
			n := defaultExecs
			if v, ok := execs[tg.String()]; ok {
				n = v
			}
			// Bounded: a cold build of the instrumented packages takes
			// minutes on a small machine; the inputs themselves seconds.
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
			defer cancel()
			start := time.Now()
			defer func() { total += time.Since(start) }()
			bin, ok := built[tg.dir]
			if !ok {
				// One instrumented binary per package (-fuzz at build
				// time instruments it), run once per target.
				bin = filepath.Join(bins, strings.ReplaceAll(tg.dir, "/", "_")+".test")
				cmd := exec.CommandContext(ctx, goBin, "test", "-c", "-fuzz", ".", "-o", bin, "./"+tg.dir)
				cmd.Dir = root
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Fatalf("building %s for fuzzing: %v\n%s", tg.dir, err, tail(string(out), 8000))
				}
				built[tg.dir] = bin
			}
			cmd := exec.CommandContext(ctx, bin, "-test.run", "^$", "-test.fuzz", "^"+tg.name+"$",
				"-test.fuzztime", strconv.Itoa(n)+"x", "-test.fuzzcachedir", t.TempDir())
			cmd.Dir = filepath.Join(root, tg.dir)
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			err := cmd.Run()
			text := out.String()
			if err != nil {
				t.Fatalf("%s found a failure (%v):\n%s%s", tg, err, tail(text, 8000), crasher(root, tg, text))
			}
			if strings.Contains(text, "no fuzz tests to fuzz") || !strings.Contains(text, "fuzz: elapsed") {
				t.Fatalf("%s did not fuzz:\n%s", tg, tail(text, 4000))
			}
			t.Logf("%s: %d inputs in %s", tg, n, time.Since(start).Round(time.Millisecond))
		})
	}
	t.Logf("%d fuzz targets in %s", len(targets), total.Round(time.Millisecond))
}

// crasher returns the failing input the fuzzer wrote, for the test's output.
func crasher(root string, tg target, out string) string {
	m := failingInput.FindStringSubmatch(out)
	if m == nil {
		return ""
	}
	path := filepath.Join(root, tg.dir, m[1])
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("\nfailing input %s: %v", path, err)
	}
	return fmt.Sprintf("\nfailing input %s (a regression seed once the bug is fixed):\n%s", path, tail(string(b), 4000))
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "...\n" + s[len(s)-n:]
}

// TestFindTargets checks the scan against targets this repository has,
// and the name and signature rules of the go tool.
func TestFindTargets(t *testing.T) {
	targets, err := findTargets(moduleRoot(t))
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]bool{}
	for _, tg := range targets {
		found[tg.String()] = true
	}
	for _, want := range []string{"plugin/pkg/persist.FuzzParse", "plugin/acmechallenge.FuzzUpdate", "plugin/pkg/zonemodel.FuzzParseZone"} {
		if !found[want] {
			t.Errorf("%s not found (found %v)", want, targets)
		}
	}
	for n, want := range map[string]bool{"Fuzz": true, "FuzzX": true, "Fuzz_x": true, "Fuzzy": false, "FuzzÄ": true, "Test": false} {
		if isFuzzName(n) != want {
			t.Errorf("isFuzzName(%q) = %v", n, !want)
		}
	}
	src := `package p
import "testing"
func FuzzA(f *testing.F) {}
func FuzzB(t *testing.T) {}
func FuzzC(f *testing.F) int { return 0 }
func (x T) FuzzD(f *testing.F) {}
func fuzzE(f *testing.F) {}
`
	f, err := parser.ParseFile(token.NewFileSet(), "p_test.go", src, 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range f.Decls {
		if fd, ok := d.(*ast.FuncDecl); ok && fd.Recv == nil && isFuzzName(fd.Name.Name) && takesF(fd) {
			got = append(got, fd.Name.Name)
		}
	}
	if len(got) != 1 || got[0] != "FuzzA" {
		t.Fatalf("targets of the sample: %v, want [FuzzA]", got)
	}
}
