package cookie

import (
	"strings"
	"testing"
	"time"

	"github.com/coredns/caddy"
)

func TestParseCorefile(t *testing.T) {
	clk := newClock()
	for _, tc := range []struct {
		in      string
		err     string // substring; "" = valid
		require bool
		static  bool
		accept  int // accepted besides the one that makes cookies
	}{
		{in: "cookie", static: false},
		{in: "cookie {\n require\n}", require: true},
		{in: "cookie {\n secret " + secretA + "\n}", static: true},
		{in: "cookie {\n secret " + secretB + "\n accept " + secretA + "\n}", static: true, accept: 1},
		{in: "cookie {\n rotate 6h\n}"},
		{in: "cookie {\n accept " + secretA + "\n}", accept: 1},
		{in: "cookie {\n secret abc\n}", err: "not hex"},
		{in: "cookie {\n secret abcd\n}", err: "2 octets, want 16"},
		{in: "cookie {\n secret " + secretA + " " + secretB + "\n}", err: "one secret"},
		{in: "cookie {\n secret " + secretA + "\n secret " + secretB + "\n}", err: "twice"},
		{in: "cookie {\n accept\n}", err: "one or more"},
		{in: "cookie {\n rotate 30m\n}", err: "at least 1h"},
		{in: "cookie {\n rotate soon\n}", err: "rotate soon"},
		{in: "cookie {\n secret " + secretA + "\n rotate 24h\n}", err: "rolled over by hand"},
		{in: "cookie {\n require yes\n}", err: "Wrong argument count"},
		{in: "cookie {\n bake\n}", err: `unknown property "bake"`},
		{in: "cookie on", err: "Wrong argument count"},
		{in: "cookie\ncookie", err: "once per server block"},
	} {
		c := caddy.NewTestController("dns", tc.in)
		ck, err := parse(c, clk.Now)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: error %v, want one containing %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if ck.Require != tc.require {
			t.Errorf("%q: require %v", tc.in, ck.Require)
		}
		if (ck.ring.static != nil) != tc.static {
			t.Errorf("%q: static secret %v, want %v", tc.in, ck.ring.static != nil, tc.static)
		}
		if got := len(ck.ring.at(clk.Now())) - 1; got != tc.accept {
			t.Errorf("%q: %d accepted secrets besides the current one, want %d", tc.in, got, tc.accept)
		}
	}
}

// TestGeneratedSecretSharedAcrossReloads: two configurations (a reload)
// with generated secrets share the secret, so cookies survive the reload.
func TestGeneratedSecretSharedAcrossReloads(t *testing.T) {
	clk := newClock()
	a, err := parse(caddy.NewTestController("dns", "cookie {\n rotate 7h\n}"), clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	b, err := parse(caddy.NewTestController("dns", "cookie {\n rotate 7h\n}"), clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	if a.ring != b.ring || a.ring.at(clk.Now())[0] != b.ring.at(clk.Now())[0] {
		t.Fatal("a reloaded configuration got another generated secret")
	}
	c, _ := parse(caddy.NewTestController("dns", "cookie {\n rotate 8h\n}"), func() time.Time { return clk.Now() })
	if c.ring == a.ring {
		t.Fatal("another rotation period shares the ring")
	}
}
