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
			one := func() (string, error) {
				if len(vals) != 1 {
					return "", c.Errf("%s: want one value, got %d", prop, len(vals))
				}
				return vals[0], nil
			}
			dur := func(min time.Duration) (time.Duration, error) {
				v, err := one()
				if err != nil {
					return 0, err
				}
				d, err := parseDuration(v)
				if err != nil || d < min {
					return 0, c.Errf("%s %q: want a duration of at least %s (such as 90s, 2h, 14d)", prop, v, min)
				}
				return d, nil
			}
			var err error
			switch prop {
			case "keys":
				zc.keyDir, err = one()
			case "algorithm":
				var v string
				if v, err = one(); err == nil {
					if zc.policy.Algorithm, err = parseAlgorithm(v); err != nil {
						err = c.Errf("%v", err)
					}
				}
			case "scheme":
				var v string
				if v, err = one(); err == nil {
					switch strings.ToLower(v) {
					case "csk":
						zc.policy.Scheme = SchemeCSK
					case "split", "ksk-zsk", "kskzsk":
						zc.policy.Scheme = SchemeSplit
					default:
						err = c.Errf("scheme %q: want csk (one combined key) or split (KSK and ZSK)", v)
					}
				}
			case "dnskey-ttl":
				zc.policy.DNSKEYTTL, err = dur(time.Second)
			case "propagation":
				zc.policy.Propagation, err = dur(0)
			case "zsk-lifetime":
				zc.policy.ZSKLifetime, err = dur(0)
			case "ksk-lifetime", "csk-lifetime":
				zc.policy.KSKLifetime, err = dur(0)
			case "max-zone-ttl":
				zc.policy.MaxZoneTTL, err = dur(time.Second)
			case "ds-ttl":
				zc.policy.DSTTL, err = dur(0)
			case "ds-wait":
				zc.policy.DSWait, err = dur(time.Second)
			case "ds-check":
				zc.dsCheck, err = dur(100 * time.Millisecond)
			case "parent":
				if len(vals) == 0 {
					return nil, c.ArgErr()
				}
				for _, v := range vals {
					addr, perr := parentAddr(v)
					if perr != nil {
						return nil, c.Errf("parent %q: %v", v, perr)
					}
					zc.parents = append(zc.parents, addr)
				}
			case "validity":
				zc.sig.validity, err = dur(time.Hour)
			case "inception":
				zc.sig.inception, err = dur(0)
			case "refresh":
				zc.sig.refresh, err = dur(time.Minute)
				refreshSet = true
			case "jitter":
				zc.sig.jitter, err = dur(0)
				jitterSet = true
			case "chain":
				var v string
				if v, err = one(); err == nil {
					switch strings.ToLower(v) {
					case chainNSEC, chainNSEC3:
						zc.sig.chain = strings.ToLower(v)
					default:
						err = c.Errf("chain %q: want nsec or nsec3 (the denial chain of signed transfers)", v)
					}
				}
			case "cache":
				if len(vals) < 1 || len(vals) > 2 {
					return nil, c.ArgErr()
				}
				n := make([]int, len(vals))
				for i, v := range vals {
					x, cerr := strconv.Atoi(v)
					if cerr != nil || x < 0 {
						return nil, c.Errf("cache %q: want a number of entries (0 disables caching)", v)
					}
					n[i] = x
				}
				zc.cacheSet, zc.cacheDen = n[0], n[0]
				if len(n) == 2 {
					zc.cacheDen = n[1]
				}
			case "cache-size":
				if len(vals) < 1 || len(vals) > 2 {
					return nil, c.ArgErr()
				}
				n := make([]int64, len(vals))
				for i, v := range vals {
					x, serr := size.Parse(v, 0)
					if serr != nil {
						return nil, c.Errf("cache-size %q: %v", v, serr)
					}
					n[i] = x
				}
				zc.cacheSetBytes, zc.cacheDenBytes = n[0], n[0]/2
				if len(n) == 2 {
					zc.cacheDenBytes = n[1]
				}
			default:
				return nil, c.Errf("unknown property %q", prop)
			}
			if err != nil {
				return nil, err
			}
		}
		if !refreshSet {
			zc.sig.refresh = zc.sig.validity / 3
		}
		if !jitterSet && zc.sig.jitter > zc.sig.validity/8 {
			zc.sig.jitter = zc.sig.validity / 8
		}
		if zc.sig.refresh+zc.sig.jitter >= zc.sig.validity {
			return nil, c.Errf("refresh (%s) plus jitter (%s) must be less than the validity (%s)", zc.sig.refresh, zc.sig.jitter, zc.sig.validity)
		}
		if zc.policy.Scheme == SchemeCSK && zc.policy.ZSKLifetime > 0 {
			zc.policy.ZSKLifetime = 0 // no ZSK in a CSK scheme
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
