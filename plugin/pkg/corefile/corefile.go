// Package corefile holds what every dnspki plugin's Corefile parser shares:
// the one error format of a Corefile error found after its line was read,
// and the one table of option spellings that are still accepted but
// deprecated.
package corefile

import (
	"fmt"
	"strconv"
	"time"

	"github.com/coredns/caddy"
	clog "github.com/coredns/coredns/plugin/pkg/log"
)

// Errorf is a Corefile error at file:line, in caddy's format ("FILE:LINE -
// Error during parsing: ..."), for what is found wrong after the parser has
// moved past the line (the controller's own c.Errf names the current one).
func Errorf(file string, line int, format string, args ...any) error {
	return fmt.Errorf("%s:%d - Error during parsing: %s", file, line, fmt.Sprintf(format, args...))
}

// renamed lists the option spellings of the last release that dnspki still
// accepts, per plugin, with their current (hyphenated, CoreDNS-style)
// spelling. They are accepted with a warning for one release, then removed.
var renamed = map[string]map[string]string{
	"acmechallenge": {
		"keyfile":      "key-file",
		"persist_view": "persist-view",
		"persist_ttl":  "persist-ttl",
		"max_values":   "max-values",
		"max_records":  "max-records",
		"max_size":     "max-size",
	},
	"certs": {"holddown": "hold-down"},
	"tlsa":  {"holddown": "hold-down"},
}

// Option returns the option the controller is at (c.Val()) in its current
// spelling: a deprecated spelling of plugin's is translated, with a warning
// in the log that names the file and line.
func Option(c *caddy.Controller, plugin string) string {
	v := c.Val()
	if cur, ok := renamed[plugin][v]; ok {
		clog.NewWithPlugin(plugin).Warningf("%s:%d: option %q is deprecated and will be removed in the next release: write %q", c.File(), c.Line(), v, cur)
		return cur
	}
	return v
}

// Renamed returns the current spelling of a deprecated option of plugin
// ("" if old is not one).
func Renamed(plugin, old string) string { return renamed[plugin][old] }

// TTL reads a TTL in seconds ("60") or as a duration in whole seconds
// ("1m"), at least 1 second.
func TTL(s string) (uint32, error) {
	if n, err := strconv.ParseUint(s, 10, 32); err == nil && n > 0 && n <= 1<<31-1 {
		return uint32(n), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < time.Second || d%time.Second != 0 {
		return 0, fmt.Errorf("%q: want seconds (60) or a duration in whole seconds (1m)", s)
	}
	return uint32(d / time.Second), nil
}
