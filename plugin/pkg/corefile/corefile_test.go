package corefile

import (
	"bytes"
	golog "log"
	"strings"
	"testing"

	"github.com/coredns/caddy"
)

func TestErrorf(t *testing.T) {
	err := Errorf("Corefile", 12, "zone %s: %s", "example.test.", "bad")
	if got, want := err.Error(), "Corefile:12 - Error during parsing: zone example.test.: bad"; got != want {
		t.Fatalf("Errorf = %q, want %q", got, want)
	}
	// The same format as the controller's own.
	c := caddy.NewTestController("dns", "x {\n y\n}")
	c.Next()
	c.NextBlock()
	if got, want := c.Errf("bad").Error(), Errorf("Testfile", 2, "bad").Error(); got != want {
		t.Fatalf("c.Errf = %q, Errorf = %q", got, want)
	}
}

// An old spelling is read as the new one, with a warning naming the file,
// the line and both spellings; a current spelling passes without one.
func TestOptionDeprecated(t *testing.T) {
	var logs bytes.Buffer
	saved := golog.Writer()
	golog.SetOutput(&logs)
	t.Cleanup(func() { golog.SetOutput(saved) })

	c := caddy.NewTestController("dns", "acmechallenge {\n key-file a\n keyfile b\n other\n}")
	c.Next()
	var got []string
	for c.NextBlock() {
		got = append(got, Option(c, "acmechallenge"))
		c.RemainingArgs()
	}
	if strings.Join(got, " ") != "key-file key-file other" {
		t.Fatalf("options %q, want key-file key-file other", got)
	}
	out := logs.String()
	if strings.Count(out, "deprecated") != 1 || !strings.Contains(out, `Testfile:3: option "keyfile" is deprecated`) || !strings.Contains(out, `write "key-file"`) || !strings.Contains(out, "[WARNING] plugin/acmechallenge") {
		t.Fatalf("log %q: want one warning for keyfile at line 3", out)
	}
}

// A deprecated spelling of one plugin is not an option of another.
func TestOptionPerPlugin(t *testing.T) {
	c := caddy.NewTestController("dns", "authzone {\n keyfile b\n}")
	c.Next()
	c.NextBlock()
	if got := Option(c, "authzone"); got != "keyfile" {
		t.Fatalf("authzone keyfile read as %q", got)
	}
	if Renamed("tlsa", "holddown") != "hold-down" || Renamed("tlsa", "hold-down") != "" {
		t.Fatal("Renamed")
	}
}

// Every current spelling is hyphenated, and no old spelling is one.
func TestRenamedTable(t *testing.T) {
	for p, m := range renamed {
		for old, cur := range m {
			if strings.Contains(cur, "_") || cur == old || m[cur] != "" {
				t.Errorf("%s: %s -> %s", p, old, cur)
			}
		}
	}
}

func TestTTL(t *testing.T) {
	for s, want := range map[string]uint32{"60": 60, "1m": 60, "2h": 7200, "2147483647": 1<<31 - 1} {
		if got, err := TTL(s); err != nil || got != want {
			t.Errorf("TTL(%q) = %d, %v; want %d", s, got, err, want)
		}
	}
	for _, s := range []string{"0", "-1", "1500ms", "0s", "2147483648", "x", ""} {
		if got, err := TTL(s); err == nil {
			t.Errorf("TTL(%q) = %d, want an error", s, got)
		}
	}
}
