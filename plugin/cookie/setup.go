package cookie

import (
	"encoding/hex"
	"fmt"
	"time"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/plugin"

	"github.com/dnspki/dnspki/plugin/pkg/tsigauth"
)

const pluginName = "cookie"

func init() { plugin.Register(pluginName, setup) }

func setup(c *caddy.Controller) error {
	ck, err := parse(c, time.Now)
	if err != nil {
		return err
	}
	// The block's TSIG gate goes first in the chain: it refuses messages
	// with two OPT records (FORMERR) before this plugin reads the one.
	tsigauth.ForBlock(c)
	cfg := dnsserver.GetConfig(c)
	c.OnStartup(func() error {
		ck.traced = cfg.Handler("trace") != nil
		return nil
	})
	cfg.AddPlugin(func(next plugin.Handler) plugin.Handler {
		ck.Next = next
		return ck
	})
	return nil
}

// config is what the Corefile says.
type config struct {
	secret  *Secret
	accept  keys
	rotate  time.Duration
	require bool
}

func parse(c *caddy.Controller, now func() time.Time) (*Cookie, error) {
	var cfg *config
	for c.Next() {
		if cfg != nil {
			return nil, c.Err("cookie is configured once per server block")
		}
		cfg = &config{}
		if len(c.RemainingArgs()) > 0 {
			return nil, c.ArgErr()
		}
		rotateSet := false
		for c.NextBlock() {
			prop := c.Val()
			args := c.RemainingArgs()
			switch prop {
			case "secret":
				if len(args) != 1 {
					return nil, c.Errf("secret wants one secret (32 hex digits)")
				}
				if cfg.secret != nil {
					return nil, c.Errf("secret given twice (accept other secrets with: accept HEX)")
				}
				s, err := parseSecret(args[0])
				if err != nil {
					return nil, c.Errf("secret: %v", err)
				}
				cfg.secret = s
			case "accept":
				if len(args) == 0 {
					return nil, c.Errf("accept wants one or more secrets (32 hex digits each)")
				}
				for _, a := range args {
					s, err := parseSecret(a)
					if err != nil {
						return nil, c.Errf("accept %s: %v", a, err)
					}
					cfg.accept = append(cfg.accept, s)
				}
			case "rotate":
				if len(args) != 1 {
					return nil, c.Errf("rotate wants a duration (e.g. 24h)")
				}
				d, err := time.ParseDuration(args[0])
				if err != nil {
					return nil, c.Errf("rotate %s: %v", args[0], err)
				}
				if d < minRotate {
					return nil, c.Errf("rotate %s: at least %s (a cookie lives an hour; a shorter period would reject cookies before they expire)", args[0], minRotate)
				}
				cfg.rotate, rotateSet = d, true
			case "require":
				if len(args) != 0 {
					return nil, c.ArgErr()
				}
				cfg.require = true
			default:
				return nil, c.Errf("unknown property %q (want secret, accept, rotate or require)", prop)
			}
		}
		if cfg.secret != nil && rotateSet {
			return nil, c.Errf("rotate applies to the generated secret; a configured secret is rolled over by hand (secret NEW, accept OLD; see the manual)")
		}
	}
	ck := &Cookie{Require: cfg.require, now: now}
	switch {
	case cfg.secret != nil:
		ck.ring = staticRing(cfg.secret, cfg.accept)
	case len(cfg.accept) > 0:
		ck.ring = randomRing(rotateOr(cfg.rotate), cfg.accept, now())
	default:
		ck.ring = sharedRandomRing(rotateOr(cfg.rotate), now())
	}
	return ck, nil
}

func rotateOr(d time.Duration) time.Duration {
	if d == 0 {
		return defaultRotate
	}
	return d
}

func parseSecret(s string) (*Secret, error) {
	b, err := hex.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("not hex: %v", err)
	}
	var k Secret
	if len(b) != len(k) {
		return nil, fmt.Errorf("%d octets, want 16 (32 hex digits; e.g. from: openssl rand -hex 16)", len(b))
	}
	copy(k[:], b)
	return &k, nil
}

// NewForTest returns the handler a Corefile's cookie block configures, in
// front of next, with the clock now: for other packages' tests that put it
// in a chain.
func NewForTest(c *caddy.Controller, next plugin.Handler, now func() time.Time) (plugin.Handler, error) {
	ck, err := parse(c, now)
	if err != nil {
		return nil, err
	}
	ck.Next = next
	return ck, nil
}
