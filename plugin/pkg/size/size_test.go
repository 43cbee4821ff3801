package size

import "testing"

func TestParse(t *testing.T) {
	for in, want := range map[string]int64{"0": 0, "512": 512, "4k": 4 << 10, "64MB": 64 << 20, "2GiB": 2 << 30, "1mib": 1 << 20} {
		if got, err := Parse(in, 0); err != nil || got != want {
			t.Errorf("Parse(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "MB", "-1", "1TB", "1.5M", "99999999999G"} {
		if got, err := Parse(in, 0); err == nil {
			t.Errorf("Parse(%q) = %d, want an error", in, got)
		}
	}
	if _, err := Parse("0", 1); err == nil {
		t.Error("below the minimum accepted")
	}
}
