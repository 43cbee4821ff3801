// Package onlinesign is dnspki's online DNSSEC signer: it keeps each signed
// zone's keys (generation, BIND-format files, rollovers with persisted
// state), publishes DNSKEY, CDS and CDNSKEY in the zone model (source
// "dnssec"), and signs every answer to a DO query as it is served, with
// RFC 9824 compact denial of existence and a bounded signature cache.
package onlinesign

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/plugin"
	clog "github.com/coredns/coredns/plugin/pkg/log"
	"github.com/miekg/dns"

	"github.com/dnspki/dnspki/plugin/authzone"
	"github.com/dnspki/dnspki/plugin/pkg/cli"
	"github.com/dnspki/dnspki/plugin/pkg/size"
	"github.com/dnspki/dnspki/plugin/pkg/zonemodel"
)

const pluginName = "onlinesign"

var log = clog.NewWithPlugin(pluginName)

func init() {
	plugin.Register(pluginName, setup)
	cli.Register(dsCommand)
}

func defaultConfig() zoneConfig {
	return zoneConfig{
		keyDir: "state/keys",
		policy: Policy{
			Algorithm:   dns.ECDSAP256SHA256,
			Scheme:      SchemeCSK,
			DNSKEYTTL:   time.Hour,
			Propagation: time.Hour,
			ZSKLifetime: 30 * 24 * time.Hour,
			DSTTL:       24 * time.Hour,
		},
		sig: sigConfig{
			validity:  14 * 24 * time.Hour,
			inception: time.Hour,
			jitter:    12 * time.Hour,
			chain:     chainNSEC,
		},
		dsCheck:       10 * time.Minute,
		cacheSet:      noEntryBound,
		cacheDen:      noEntryBound,
		cacheSetBytes: defaultCacheBytes,
		cacheDenBytes: defaultDenialBytes,
	}
}

func setup(c *caddy.Controller) error {
	cfgs, err := parse(c)
	if err != nil {
		return err
	}
	for _, zc := range cfgs {
		zc := zc
		var m *manager
		authzone.Bind(c, zc.origin, zonemodel.Binding{
			Plugin: pluginName,
			Attach: func(z *zonemodel.Zone) error {
				var err error
				if m, err = acquireManager(zc); err != nil {
					return fmt.Errorf("zone %s: %w", zc.origin, err)
				}
				return m.attach(z)
			},
			Started: func(z *zonemodel.Zone) error {
				m.started(z)
				return nil
			},
		})
		c.OnShutdown(func() error {
			if m != nil {
				m.release()
				m = nil
			}
			return nil
		})
	}
	return nil
}

func parse(c *caddy.Controller) ([]zoneConfig, error) {
	var out []zoneConfig
	seen := map[string]bool{}
	for c.Next() {
		args := c.RemainingArgs()
		origins := plugin.OriginsFromArgsOrServerBlock(args, c.ServerBlockKeys)
		zc := defaultConfig()
		refreshSet, jitterSet := false, false
		for c.NextBlock() {
			prop := c.Val()
			vals := c.RemainingArgs()
			if dp, ok := durationProps[prop]; ok {
				d, err := durationValue(c, prop, vals, dp.min)
				if err != nil {
					return nil, err
				}
				*dp.field(&zc) = d
				refreshSet = refreshSet || prop == "refresh"
				jitterSet = jitterSet || prop == "jitter"
				continue
			}
			var err error
			switch prop {
			case "keys":
				zc.keyDir, err = oneValue(c, prop, vals)
			case "algorithm":
				var v string
				if v, err = oneValue(c, prop, vals); err == nil {
					if zc.policy.Algorithm, err = parseAlgorithm(v); err != nil {
						err = c.Errf("%v", err)
					}
				}
			case "scheme":
				zc.policy.Scheme, err = parseScheme(c, vals)
			case "parent":
				zc.parents, err = parseParents(c, vals, zc.parents)
			case "chain":
				zc.sig.chain, err = parseChain(c, vals, zc.sig.chain)
			case "cache":
				zc.cacheSet, zc.cacheDen, err = parseCacheEntries(c, vals)
			case "cache-size":
				zc.cacheSetBytes, zc.cacheDenBytes, err = parseCacheSize(c, vals)
			default:
				return nil, c.Errf("unknown property %q", prop)
			}
			if err != nil {
				return nil, err
			}
		}
		if err := finishSig(c, &zc, refreshSet, jitterSet); err != nil {
			return nil, err
		}
		for _, o := range origins {
			o = zonemodel.Fqdn(o)
			if seen[o] {
				return nil, c.Errf("zone %s is signed twice", o)
			}
			seen[o] = true
			x := zc
			x.origin = o
			out = append(out, x)
		}
	}
	return out, nil
}

// parseCacheEntries parses "cache SETS [DENIALS]": the caches' bounds in
// entries (0 disables caching; one number bounds both).
func parseCacheEntries(c *caddy.Controller, vals []string) (sets, denials int, err error) {
	if len(vals) < 1 || len(vals) > 2 {
		return 0, 0, c.ArgErr()
	}
	n := make([]int, len(vals))
	for i, v := range vals {
		x, cerr := strconv.Atoi(v)
		if cerr != nil || x < 0 {
			return 0, 0, c.Errf("cache %q: want a number of entries (0 disables caching)", v)
		}
		n[i] = x
	}
	return n[0], n[len(n)-1], nil
}

// parseCacheSize parses "cache-size SETS [DENIALS]": the caches' bounds in
// bytes (one size: the signatures' cache, and half of it for denials).
func parseCacheSize(c *caddy.Controller, vals []string) (sets, denials int64, err error) {
	if len(vals) < 1 || len(vals) > 2 {
		return 0, 0, c.ArgErr()
	}
	n := make([]int64, len(vals))
	for i, v := range vals {
		x, serr := size.Parse(v, 0)
		if serr != nil {
			return 0, 0, c.Errf("cache-size %q: %v", v, serr)
		}
		n[i] = x
	}
	if len(n) == 1 {
		return n[0], n[0] / 2, nil
	}
	return n[0], n[1], nil
}

// durationProp is a property with one duration of at least min, and where
// it goes.
type durationProp struct {
	min   time.Duration
	field func(*zoneConfig) *time.Duration
}

var durationProps = map[string]durationProp{
	"dnskey-ttl":   {time.Second, func(z *zoneConfig) *time.Duration { return &z.policy.DNSKEYTTL }},
	"propagation":  {0, func(z *zoneConfig) *time.Duration { return &z.policy.Propagation }},
	"zsk-lifetime": {0, func(z *zoneConfig) *time.Duration { return &z.policy.ZSKLifetime }},
	"ksk-lifetime": {0, func(z *zoneConfig) *time.Duration { return &z.policy.KSKLifetime }},
	"csk-lifetime": {0, func(z *zoneConfig) *time.Duration { return &z.policy.KSKLifetime }},
	"max-zone-ttl": {time.Second, func(z *zoneConfig) *time.Duration { return &z.policy.MaxZoneTTL }},
	"ds-ttl":       {0, func(z *zoneConfig) *time.Duration { return &z.policy.DSTTL }},
	"ds-wait":      {time.Second, func(z *zoneConfig) *time.Duration { return &z.policy.DSWait }},
	"ds-check":     {100 * time.Millisecond, func(z *zoneConfig) *time.Duration { return &z.dsCheck }},
	"validity":     {time.Hour, func(z *zoneConfig) *time.Duration { return &z.sig.validity }},
	"inception":    {0, func(z *zoneConfig) *time.Duration { return &z.sig.inception }},
	"refresh":      {time.Minute, func(z *zoneConfig) *time.Duration { return &z.sig.refresh }},
	"jitter":       {0, func(z *zoneConfig) *time.Duration { return &z.sig.jitter }},
}

// oneValue is the one value of a property.
func oneValue(c *caddy.Controller, prop string, vals []string) (string, error) {
	if len(vals) != 1 {
		return "", c.Errf("%s: want one value, got %d", prop, len(vals))
	}
	return vals[0], nil
}

// durationValue is the one duration of a property, at least min.
func durationValue(c *caddy.Controller, prop string, vals []string, min time.Duration) (time.Duration, error) {
	v, err := oneValue(c, prop, vals)
	if err != nil {
		return 0, err
	}
	d, err := parseDuration(v)
	if err != nil || d < min {
		return 0, c.Errf("%s %q: want a duration of at least %s (such as 90s, 2h, 14d)", prop, v, min)
	}
	return d, nil
}

// parseScheme reads `scheme csk|split` (ksk-zsk and kskzsk are split).
func parseScheme(c *caddy.Controller, vals []string) (string, error) {
	v, err := oneValue(c, "scheme", vals)
	if err != nil {
		return "", err
	}
	switch strings.ToLower(v) {
	case "csk":
		return SchemeCSK, nil
	case "split", "ksk-zsk", "kskzsk":
		return SchemeSplit, nil
	}
	return "", c.Errf("scheme %q: want csk (one combined key) or split (KSK and ZSK)", v)
}

// parseParents adds the addresses of a `parent` line to parents.
func parseParents(c *caddy.Controller, vals, parents []string) ([]string, error) {
	if len(vals) == 0 {
		return nil, c.ArgErr()
	}
	for _, v := range vals {
		addr, err := parentAddr(v)
		if err != nil {
			return nil, c.Errf("parent %q: %v", v, err)
		}
		parents = append(parents, addr)
	}
	return parents, nil
}

// parseChain reads `chain nsec|nsec3` (cur is kept on an error).
func parseChain(c *caddy.Controller, vals []string, cur string) (string, error) {
	v, err := oneValue(c, "chain", vals)
	if err != nil {
		return cur, err
	}
	switch strings.ToLower(v) {
	case chainNSEC, chainNSEC3:
		return strings.ToLower(v), nil
	}
	return cur, c.Errf("chain %q: want nsec or nsec3 (the denial chain of signed transfers)", v)
}

// finishSig derives the signature timing not given (refresh a third of the
// validity, jitter at most an eighth of it) and checks it; a CSK scheme has
// no ZSK lifetime.
func finishSig(c *caddy.Controller, zc *zoneConfig, refreshSet, jitterSet bool) error {
	if !refreshSet {
		zc.sig.refresh = zc.sig.validity / 3
	}
	if !jitterSet && zc.sig.jitter > zc.sig.validity/8 {
		zc.sig.jitter = zc.sig.validity / 8
	}
	if zc.sig.refresh+zc.sig.jitter >= zc.sig.validity {
		return c.Errf("refresh (%s) plus jitter (%s) must be less than the validity (%s)", zc.sig.refresh, zc.sig.jitter, zc.sig.validity)
	}
	if zc.policy.Scheme == SchemeCSK && zc.policy.ZSKLifetime > 0 {
		zc.policy.ZSKLifetime = 0 // no ZSK in a CSK scheme
	}
	return nil
}

// parentAddr accepts host or host:port (port 53 by default).
func parentAddr(s string) (string, error) {
	if _, _, err := net.SplitHostPort(s); err == nil {
		return s, nil
	}
	if ip := net.ParseIP(s); ip == nil {
		return "", fmt.Errorf("want an IP address, optionally with :port")
	}
	return net.JoinHostPort(s, "53"), nil
}

// parseDuration accepts Go durations plus days (d) and weeks (w): 14d, 2w,
// 1d12h.
func parseDuration(s string) (time.Duration, error) {
	var total time.Duration
	rest := s
	for rest != "" {
		i := 0
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
		if i == 0 || i == len(rest) {
			break
		}
		unit := rest[i]
		if unit != 'd' && unit != 'w' {
			break
		}
		n, err := strconv.Atoi(rest[:i])
		if err != nil {
			return 0, err
		}
		d := time.Duration(n) * 24 * time.Hour
		if unit == 'w' {
			d *= 7
		}
		total += d
		rest = rest[i+1:]
	}
	if rest == "" {
		if s == "" {
			return 0, fmt.Errorf("empty duration")
		}
		return total, nil
	}
	d, err := time.ParseDuration(rest)
	if err != nil {
		return 0, err
	}
	return total + d, nil
}
