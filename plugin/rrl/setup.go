package rrl

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/plugin"

	"github.com/dnspki/dnspki/plugin/pkg/tsigauth"
)

const pluginName = "rrl"

func init() { plugin.Register(pluginName, setup) }

func setup(c *caddy.Controller) error {
	l, err := parse(c, time.Now)
	if err != nil {
		return err
	}
	// The block's TSIG gate goes first: it decides who signed a request
	// before rrl exempts a verified signature.
	tsigauth.ForBlock(c)
	cfg := dnsserver.GetConfig(c)
	c.OnStartup(func() error {
		l.traced = cfg.Handler("trace") != nil
		return nil
	})
	cfg.AddPlugin(func(next plugin.Handler) plugin.Handler {
		l.Next = next
		return l
	})
	return nil
}

// Defaults (see README.md).
const (
	defaultRate      = 20
	defaultSlip      = 2
	defaultV4Bits    = 24
	defaultV6Bits    = 56
	defaultTableSize = 100000
	maxRate          = 1000000
	maxTableSize     = 1 << 26
)

// rateProps maps the Corefile's per-category rates to their categories
// (the names BIND uses).
var rateProps = map[string]Category{
	"responses-per-second": Answer,
	"nodata-per-second":    NoData,
	"nxdomains-per-second": NXDomain,
	"referrals-per-second": Referral,
	"errors-per-second":    Error,
}

func parse(c *caddy.Controller, now func() time.Time) (*RRL, error) {
	var l *RRL
	for c.Next() {
		if l != nil {
			return nil, c.Err("rrl is configured once per server block")
		}
		p := rrlParser{c: c, l: &RRL{slip: defaultSlip, v4Bits: defaultV4Bits, v6Bits: defaultV6Bits, now: now}, size: defaultTableSize, seen: map[string]bool{}}
		p.rates[Answer] = defaultRate
		switch args := c.RemainingArgs(); len(args) {
		case 0:
		case 1:
			n, err := number(args[0], 0, maxRate)
			if err != nil {
				return nil, c.Errf("rrl %s: responses per second: %v", args[0], err)
			}
			p.rates[Answer], p.set[Answer] = n, true
		default:
			return nil, c.ArgErr()
		}
		for c.NextBlock() {
			if err := p.property(); err != nil {
				return nil, err
			}
		}
		l = p.finish(now())
	}
	return l, nil
}

// rrlParser is the state of one rrl block being read.
type rrlParser struct {
	c     *caddy.Controller
	l     *RRL
	rates [nCategories]int
	set   [nCategories]bool // rates given
	size  int
	seen  map[string]bool
}

// property reads one property line.
func (p *rrlParser) property() error {
	c, l := p.c, p.l
	prop := c.Val()
	vals := c.RemainingArgs()
	if p.seen[prop] {
		return c.Errf("%s given twice", prop)
	}
	p.seen[prop] = true
	if len(vals) == 0 {
		return c.Errf("%s wants a value", prop)
	}
	var err error
	if cat, ok := rateProps[prop]; ok {
		if p.set[cat] {
			return c.Errf("%s: the rate of %s answers is given twice (rrl RATE is responses-per-second)", prop, cat)
		}
		p.rates[cat], err = one(vals, 0, maxRate)
		p.set[cat] = true
	} else {
		switch prop {
		case "slip":
			var n int
			n, err = one(vals, 0, 10)
			l.slip = uint32(n)
		case "ipv4-prefix-length":
			l.v4Bits, err = one(vals, 1, 32)
		case "ipv6-prefix-length":
			l.v6Bits, err = one(vals, 1, 128)
		case "table-size":
			p.size, err = one(vals, ways*shardN, maxTableSize)
		case "exempt":
			for _, v := range vals {
				pf, perr := parsePrefix(v)
				if perr != nil {
					return c.Errf("exempt %s: %v", v, perr)
				}
				l.exempt = append(l.exempt, pf)
			}
		default:
			return c.Errf("unknown property %q (want responses-per-second, nodata-per-second, nxdomains-per-second, referrals-per-second, errors-per-second, slip, ipv4-prefix-length, ipv6-prefix-length, table-size or exempt)", prop)
		}
	}
	if err != nil {
		return c.Errf("%s %s: %v", prop, strings.Join(vals, " "), err)
	}
	return nil
}

// finish gives a category without a rate of its own the answers' rate (as
// in BIND; 0 is no limit) and makes the table.
func (p *rrlParser) finish(now time.Time) *RRL {
	for cat := range p.rates {
		if !p.set[cat] {
			p.rates[cat] = p.rates[Answer]
		}
		if p.rates[cat] > 0 {
			p.l.interval[cat] = int64(time.Second) / int64(p.rates[cat])
		}
	}
	p.l.table = newTable(p.size, now)
	return p.l
}

func one(vals []string, lo, hi int) (int, error) {
	if len(vals) != 1 {
		return 0, errorf("want one number")
	}
	return number(vals[0], lo, hi)
}

func number(s string, lo, hi int) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, errorf("not a number")
	}
	if n < lo || n > hi {
		return 0, errorf("want %d to %d", lo, hi)
	}
	return n, nil
}

func errorf(format string, a ...any) error { return fmt.Errorf(format, a...) }

// parsePrefix reads an address or a network (masked).
func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return p, err
		}
		if a := p.Addr(); a.Is4In6() {
			if p.Bits() < 96 {
				return p, fmt.Errorf("an IPv4-mapped network shorter than /96")
			}
			p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}
