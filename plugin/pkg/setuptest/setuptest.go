// Package setuptest holds what the fuzz targets of the plugins' Corefile
// parsers share: the check that an error names the file and line of the
// Corefile, and seeds taken
// from a plugin's README.
package setuptest

import (
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/coredns/caddy"
	"github.com/coredns/caddy/caddyfile"
	"github.com/miekg/dns"

	"github.com/dnspki/dnspki/plugin/pkg/zonemodel"
)

// File is the file name caddy.NewTestController gives its input.
const File = "Testfile"

var errAt = regexp.MustCompile(File + `:(\d+) - `)

// Directive reports whether input starts with the directive's name, as every
// block caddy hands to a plugin's setup does (an input that does not is
// skipped: no Corefile gets there).
func Directive(directive, input string) bool {
	d := caddyfile.NewDispenser(File, strings.NewReader(input))
	return d.Next() && d.Val() == directive
}

// CheckError fails t unless err names the file and a line of input, as
// "FILE:LINE - " (caddy's "FILE:LINE - Error during parsing: ...", or a
// plugin's own "plugin/NAME: FILE:LINE - ...").
func CheckError(t testing.TB, input string, err error) {
	t.Helper()
	m := errAt.FindStringSubmatch(err.Error())
	if m == nil {
		t.Fatalf("error without %s:LINE: %q\ninput: %q", File, err.Error(), input)
	}
	line, _ := strconv.Atoi(m[1])
	if lines := strings.Count(input, "\n") + 1; line < 1 || line > lines {
		t.Fatalf("error at line %d of a %d-line input: %q\ninput: %q", line, lines, err.Error(), input)
	}
}

// Blocks returns the blocks of directive in the Corefile examples of a
// README (or any text): from a line whose first word is the directive to the
// line that closes its braces, indentation removed.
func Blocks(text, directive string) []string {
	var out []string
	lines := strings.Split(text, "\n")
	for i := 0; i < len(lines); i++ {
		l := strings.TrimSpace(lines[i])
		if l != directive && !strings.HasPrefix(l, directive+" ") {
			continue
		}
		var b strings.Builder
		depth := 0
		for j := i; j < len(lines); j++ {
			l := strings.TrimSpace(lines[j])
			b.WriteString(l + "\n")
			depth += strings.Count(l, "{") - strings.Count(l, "}")
			if depth <= 0 {
				i = j
				break
			}
		}
		out = append(out, b.String())
	}
	return out
}

// AddREADME adds the blocks of directive found in the files (READMEs,
// example Corefiles) as seeds of f; it fails f if there is none.
func AddREADME(f *testing.F, directive string, files ...string) {
	f.Helper()
	n := 0
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		for _, blk := range Blocks(string(b), directive) {
			f.Add(blk)
			n++
		}
	}
	if n == 0 {
		f.Fatalf("no %s block in %v", directive, files)
	}
}

// Fuzz is the fuzz target of a plugin's Corefile parser: seeds from the
// blocks of the directive in the files (READMEs, example Corefiles); an
// input that is a block of the directive, and that no skip function passes
// over (inputs naming files the parser would read), either parses into a
// configuration check accepts or fails with an error naming the file and a
// line of the input (CheckError).
func Fuzz[T any](f *testing.F, directive string, seeds []string, parse func(*caddy.Controller) (T, error), check func(*testing.T, T), skip ...func(input string) bool) {
	AddREADME(f, directive, seeds...)
	f.Fuzz(func(t *testing.T, input string) {
		if !Directive(directive, input) {
			return
		}
		for _, s := range skip {
			if s(input) {
				return
			}
		}
		cfg, err := parse(caddy.NewTestController("dns", input))
		if err != nil {
			CheckError(t, input, err)
			return
		}
		check(t, cfg)
	})
}

// CheckZone fails t unless origin is a zone name in canonical form (lower
// case, fully qualified), as every parser must give them.
func CheckZone(t testing.TB, origin string) {
	t.Helper()
	if _, ok := dns.IsDomainName(origin); !ok || origin != zonemodel.Fqdn(origin) {
		t.Fatalf("zone %q is not canonical", origin)
	}
}
