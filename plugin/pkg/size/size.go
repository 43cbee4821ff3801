// Package size parses the sizes of Corefile options (64MB, 512k, 1GiB).
package size

import (
	"fmt"
	"strconv"
	"strings"
)

// Parse reads a size: a number of octets, optionally with a binary unit:
// K/KB/KiB, M/MB/MiB or G/GB/GiB (any case). min is the smallest value
// accepted.
func Parse(s string, min int64) (int64, error) {
	mult := int64(1)
	u := strings.ToUpper(s)
	for _, suf := range []struct {
		s string
		m int64
	}{{"KIB", 1 << 10}, {"MIB", 1 << 20}, {"GIB", 1 << 30}, {"KB", 1 << 10}, {"MB", 1 << 20}, {"GB", 1 << 30}, {"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}} {
		if strings.HasSuffix(u, suf.s) {
			mult = suf.m
			u = strings.TrimSuffix(u, suf.s)
			break
		}
	}
	n, err := strconv.ParseInt(u, 10, 64)
	if err != nil || n < min || n > (1<<62)/mult {
		return 0, fmt.Errorf("want a size such as 64MB")
	}
	return n * mult, nil
}
