package rrl

import (
	"strings"
	"testing"
	"time"

	"github.com/coredns/caddy"
)

func TestParseCorefile(t *testing.T) {
	clk := newClock()
	per := func(n int) int64 { return int64(time.Second) / int64(n) }
	for _, tc := range []struct {
		in       string
		err      string
		interval [nCategories]int64
		slip     uint32
		v4, v6   int
		size     int
		exempt   int
	}{
		{in: "rrl", interval: [nCategories]int64{per(20), per(20), per(20), per(20), per(20)}, slip: 2, v4: 24, v6: 56, size: 100096},
		{in: "rrl 50", interval: [nCategories]int64{per(50), per(50), per(50), per(50), per(50)}, slip: 2, v4: 24, v6: 56, size: 100096},
		{in: "rrl 10 {\n nxdomains-per-second 5\n errors-per-second 0\n slip 1\n ipv4-prefix-length 32\n ipv6-prefix-length 64\n table-size 1000\n exempt 192.0.2.0/24 2001:db8::/32 198.51.100.7\n}",
			interval: [nCategories]int64{per(10), per(10), per(5), per(10), 0}, slip: 1, v4: 32, v6: 64, size: 1024, exempt: 3},
		{in: "rrl {\n responses-per-second 0\n nodata-per-second 7\n}", interval: [nCategories]int64{0, per(7), 0, 0, 0}, slip: 2, v4: 24, v6: 56, size: 100096},
		{in: "rrl 10 20", err: "Wrong argument count"},
		{in: "rrl fast", err: "not a number"},
		{in: "rrl -1", err: "want 0 to 1000000"},
		{in: "rrl 10 {\n responses-per-second 20\n}", err: "given twice"},
		{in: "rrl {\n slip 2\n slip 3\n}", err: "slip given twice"},
		{in: "rrl {\n slip 11\n}", err: "want 0 to 10"},
		{in: "rrl {\n ipv4-prefix-length 33\n}", err: "want 1 to 32"},
		{in: "rrl {\n ipv6-prefix-length 0\n}", err: "want 1 to 128"},
		{in: "rrl {\n table-size 10\n}", err: "want 256 to"},
		{in: "rrl {\n exempt 192.0.2.0/33\n}", err: "exempt 192.0.2.0/33"},
		{in: "rrl {\n exempt\n}", err: "wants a value"},
		{in: "rrl {\n window 15\n}", err: `unknown property "window"`},
		{in: "rrl\nrrl", err: "once per server block"},
	} {
		l, err := parse(caddy.NewTestController("dns", tc.in), clk.Now)
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
		if l.interval != tc.interval || l.slip != tc.slip || l.v4Bits != tc.v4 || l.v6Bits != tc.v6 || l.table.size() != tc.size || len(l.exempt) != tc.exempt {
			t.Errorf("%q: intervals %v slip %d /%d /%d size %d exempt %d", tc.in, l.interval, l.slip, l.v4Bits, l.v6Bits, l.table.size(), len(l.exempt))
		}
	}
}
