package dnspersist

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/plugin"
	clog "github.com/coredns/coredns/plugin/pkg/log"
	"github.com/miekg/dns"

	"github.com/dnspki/dnspki/plugin/pkg/corefile"
	"github.com/dnspki/dnspki/plugin/pkg/persist"
	"github.com/dnspki/dnspki/plugin/pkg/zonemodel"
)

const pluginName = "dnspersist"

var log = clog.NewWithPlugin(pluginName)

func init() { plugin.Register(pluginName, setup) }

// authorization is one `authorize` block: validation records at name (and the
// `also` names) for each issuer, and optionally the matching CAA at name.
type authorization struct {
	names      []string // the authorized names; the first is where CAA goes
	also       []string // extra names that get the same record (exact-name CAs)
	issuers    []string
	accountURI string
	form       persist.AccountForm
	caaAccount string // the account URL for CAA when accountURI is a hashed URI
	// hash: the records carry draft -02 hashed URIs computed from accountURI
	// (the account URL) for each name; nil: accountURI as it is.
	hash     *persist.Hashing
	wildcard bool
	until    time.Time     // absolute persistUntil, or zero
	rolling  time.Duration // persistUntil relative to publication, renewed
	caa      bool
	ttl      uint32
	line     int
}

type config struct {
	origin string
	views  []string
	ttl    uint32
	caa    bool
	auths  []*authorization
	file   string
}

// warnWindow: a persistUntil closer than this is warned about.
const warnWindow = 30 * 24 * time.Hour

func setup(c *caddy.Controller) error {
	cfgs, err := parse(c, time.Now())
	if err != nil {
		return err
	}
	for _, cfg := range cfgs {
		register(c, &Persist{cfg: cfg})
	}
	return nil
}

func parse(c *caddy.Controller, now time.Time) ([]*config, error) {
	var out []*config
	for c.Next() {
		origins := plugin.OriginsFromArgsOrServerBlock(c.RemainingArgs(), c.ServerBlockKeys)
		if len(origins) != 1 {
			return nil, c.Errf("dnspersist serves one zone per directive; got %d", len(origins))
		}
		cfg := &config{origin: zonemodel.Fqdn(origins[0]), ttl: 3600, file: c.File()}
		for c.NextBlock() {
			switch c.Val() {
			case "ttl":
				t, err := parseTTL(c)
				if err != nil {
					return nil, err
				}
				cfg.ttl = t
			case "caa":
				v, err := onOff(c)
				if err != nil {
					return nil, err
				}
				cfg.caa = v
			case "view":
				cfg.views = c.RemainingArgs()
				if len(cfg.views) == 0 {
					return nil, c.ArgErr()
				}
			case "authorize":
				a, err := parseAuthorization(c, cfg, now)
				if err != nil {
					return nil, err
				}
				cfg.auths = append(cfg.auths, a)
			default:
				return nil, c.Errf("unknown property %q", c.Val())
			}
		}
		if len(cfg.auths) == 0 {
			return nil, c.Errf("dnspersist %s: no 'authorize' block", cfg.origin)
		}
		seen := map[string]int{}
		for _, a := range cfg.auths {
			for _, n := range append(append([]string{}, a.names...), a.also...) {
				if !zonemodel.InZone(n, cfg.origin) {
					return nil, corefile.Errorf(cfg.file, a.line, "%s is not in zone %s", n, cfg.origin)
				}
				for _, iss := range a.issuers {
					k := n + " " + iss
					if l, dup := seen[k]; dup {
						return nil, corefile.Errorf(cfg.file, a.line, "%s is authorized for %s twice (also at line %d); one account per issuer and name", n, iss, l)
					}
					seen[k] = a.line
				}
			}
		}
		out = append(out, cfg)
	}
	return out, nil
}

// parseAuthorization reads `authorize NAME... { ... }` and checks it as a
// whole (checkAuthorization).
func parseAuthorization(c *caddy.Controller, cfg *config, now time.Time) (*authorization, error) {
	a := &authorization{line: c.Line(), ttl: cfg.ttl, caa: cfg.caa}
	for _, n := range c.RemainingArgs() {
		name, err := domainName(c, n)
		if err != nil {
			return nil, err
		}
		a.names = append(a.names, name)
	}
	if len(a.names) == 0 {
		return nil, c.Errf("authorize needs the name(s) to authorize")
	}
	for c.NextBlock() {
		f, ok := authorizeProperties[c.Val()]
		if !ok {
			return nil, c.Errf("unknown property %q in authorize", c.Val())
		}
		if err := f(c, a, now); err != nil {
			return nil, err
		}
	}
	if err := checkAuthorization(a, now); err != nil {
		return nil, c.Errf("%v", err)
	}
	return a, nil
}

// authorizeProperties read the properties of an authorize block; the
// controller is at the property's name.
var authorizeProperties = map[string]func(c *caddy.Controller, a *authorization, now time.Time) error{
	"issuer": func(c *caddy.Controller, a *authorization, _ time.Time) error {
		a.issuers = append(a.issuers, c.RemainingArgs()...)
		return nil
	},
	"accounturi": func(c *caddy.Controller, a *authorization, _ time.Time) (err error) {
		a.accountURI, err = oneURI(c)
		return err
	},
	"caa-accounturi": func(c *caddy.Controller, a *authorization, _ time.Time) (err error) {
		a.caaAccount, err = oneURI(c)
		return err
	},
	"policy": func(c *caddy.Controller, a *authorization, _ time.Time) error {
		args := c.RemainingArgs()
		if len(args) != 1 || !strings.EqualFold(args[0], "wildcard") {
			return c.Errf("policy: the only policy is wildcard")
		}
		a.wildcard = true
		return nil
	},
	"persist-until": readPersistUntil,
	"account-hash": func(c *caddy.Controller, a *authorization, _ time.Time) error {
		args := c.RemainingArgs()
		if len(args) < 2 || len(args) > 3 || (len(args) == 3 && args[2] != "any-name") {
			return c.Errf("account-hash PREFIX THUMBPRINT [any-name]: the CA's accountHashPrefix and the account key's JWK thumbprint (draft -02 §4.1)")
		}
		a.hash = &persist.Hashing{Prefix: args[0], Thumbprint: args[1], AnyName: len(args) == 3}
		if err := a.hash.Check(); err != nil {
			return c.Errf("account-hash: %v", err)
		}
		return nil
	},
	"also": func(c *caddy.Controller, a *authorization, _ time.Time) error {
		args := c.RemainingArgs()
		if len(args) == 0 {
			return c.ArgErr()
		}
		for _, n := range args {
			name, err := domainName(c, n)
			if err != nil {
				return err
			}
			a.also = append(a.also, name)
		}
		return nil
	},
	"caa": func(c *caddy.Controller, a *authorization, _ time.Time) (err error) {
		a.caa, err = onOff(c)
		return err
	},
	"ttl": func(c *caddy.Controller, a *authorization, _ time.Time) (err error) {
		t, err := parseTTL(c)
		if err == nil {
			a.ttl = t
		}
		return err
	},
}

// oneURI reads the one URI of accounturi or caa-accounturi.
func oneURI(c *caddy.Controller) (string, error) {
	name := c.Val()
	args := c.RemainingArgs()
	if len(args) != 1 {
		return "", c.Errf("%s takes one URI (got %d values; is the environment variable set?)", name, len(args))
	}
	return args[0], nil
}

// readPersistUntil reads a rolling (a duration, at least a day) or an
// absolute persistUntil (not past).
func readPersistUntil(c *caddy.Controller, a *authorization, now time.Time) error {
	args := c.RemainingArgs()
	if len(args) != 1 {
		return c.ArgErr()
	}
	if d, err := parseDuration(args[0]); err == nil {
		if d < 24*time.Hour {
			return c.Errf("persist-until %s: a rolling persistUntil under one day would expire between renewals", args[0])
		}
		a.rolling = d
		return nil
	}
	t, err := parseTime(args[0])
	if err != nil {
		return c.Errf("persist-until %q: want an RFC 3339 time (2027-01-31T00:00:00Z), a Unix time, or a duration from now (90d, 2160h)", args[0])
	}
	if !t.After(now) {
		return c.Errf("persist-until %s is already past: the CA would refuse this record", t.Format(time.RFC3339))
	}
	a.until = t
	return nil
}

// checkAuthorization checks a whole authorization: its issuers, its
// account URI (and the hashing and CAA that go with it), the records as the
// CA will read them, and its also names.
func checkAuthorization(a *authorization, now time.Time) error {
	if len(a.issuers) == 0 {
		return fmt.Errorf("authorize %s: no issuer (the CA's issuer-domain-name, e.g. letsencrypt.org)", a.names[0])
	}
	seen := map[string]bool{}
	for _, iss := range a.issuers {
		if err := persist.ValidateIssuer(iss); err != nil {
			return fmt.Errorf("authorize %s: %v", a.names[0], err)
		}
		if seen[iss] {
			return fmt.Errorf("authorize %s: issuer %s listed twice", a.names[0], iss)
		}
		seen[iss] = true
	}
	form, err := persist.ValidateAccountURI(a.accountURI)
	if err != nil {
		return fmt.Errorf("authorize %s: %v", a.names[0], err)
	}
	if a.hash != nil && form != persist.AccountURL {
		return fmt.Errorf("authorize %s: with account-hash, accounturi is the account URL the hashed URIs are computed from, not a hashed URI", a.names[0])
	}
	a.form = form
	if err := checkCAAAccount(a.caa, form, a.caaAccount); err != nil {
		return fmt.Errorf("authorize %s: %v", a.names[0], err)
	}
	// The records as the CA will see them must parse.
	for _, r := range a.records(now) {
		if err := r.Validate(); err != nil {
			return fmt.Errorf("authorize %s: the record %q would be rejected by the CA: %v", a.names[0], r.String(), err)
		}
	}
	for _, n := range a.also {
		if !isBelowAny(n, a.names) {
			return fmt.Errorf("also %s: not below %s (also names are subdomains covered by policy wildcard)", n, strings.Join(a.names, " "))
		}
		if !a.wildcard {
			return fmt.Errorf("also %s: needs 'policy wildcard' (without it the authorization covers %s only)", n, a.names[0])
		}
	}
	return nil
}

// domainName is a name of an authorize line, lower case and fully
// qualified; a string that is no domain name (an empty label: ".example.test"
// or "a..b") is an error.
func domainName(c *caddy.Controller, n string) (string, error) {
	name := zonemodel.Fqdn(n)
	if _, ok := dns.IsDomainName(name); !ok {
		return "", c.Errf("%q is not a domain name", n)
	}
	return name, nil
}

// checkCAAAccount checks the account the CAA records name. RFC 8657's CAA
// accounturi is the account URL; a draft -02 hashed URI there would match no
// account and stop the CA from issuing at all (draft -02 §7.7: the two
// parameters need not have the same value). So with CAA and a hashed
// accounturi the account URL must be given apart (caa-accounturi).
func checkCAAAccount(caa bool, form persist.AccountForm, caaAccount string) error {
	if caaAccount != "" {
		f, err := persist.ValidateAccountURI(caaAccount)
		if err != nil {
			return fmt.Errorf("caa-accounturi: %v", err)
		}
		if f != persist.AccountURL {
			return fmt.Errorf("caa-accounturi %s: CAA names the account URL (RFC 8657 §3), not a hashed URI", caaAccount)
		}
		return nil
	}
	if caa && form == persist.AccountHash {
		return fmt.Errorf("the accounturi is a draft -02 hashed URI, but CAA's accounturi is the account URL (RFC 8657 §3; a hashed URI in CAA would stop the CA from issuing): give caa-accounturi ACCOUNT-URL, or caa off")
	}
	return nil
}

// accountFor is the accounturi of the record at name: the configured one,
// or the draft -02 hashed URI computed for name.
func (a *authorization) accountFor(name string) string {
	if a.hash == nil {
		return a.accountURI
	}
	return a.hash.URI(name, a.accountURI)
}

// caaAccountURI is the account URI the authorization's CAA records name.
func (a *authorization) caaAccountURI() string {
	if a.caaAccount != "" {
		return a.caaAccount
	}
	return a.accountURI
}

func isBelowAny(n string, parents []string) bool {
	for _, p := range parents {
		if n != p && zonemodel.InZone(n, p) {
			return true
		}
	}
	return false
}

func parseTTL(c *caddy.Controller) (uint32, error) {
	if !c.NextArg() {
		return 0, c.ArgErr()
	}
	n, err := strconv.ParseUint(c.Val(), 10, 32)
	if err != nil || n > 1<<31-1 {
		return 0, c.Errf("ttl %q: want seconds", c.Val())
	}
	return uint32(n), nil
}

func onOff(c *caddy.Controller) (bool, error) {
	args := c.RemainingArgs()
	if len(args) == 0 {
		return true, nil
	}
	switch args[0] {
	case "on", "yes", "true":
		return true, nil
	case "off", "no", "false":
		return false, nil
	}
	return false, c.Errf("%q: want on or off", args[0])
}

// parseDuration accepts Go durations and a day suffix (90d).
func parseDuration(s string) (time.Duration, error) {
	if strings.HasSuffix(s, "d") {
		n, err := strconv.Atoi(strings.TrimSuffix(s, "d"))
		if err != nil || n <= 0 {
			return 0, fmt.Errorf("bad duration")
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("bad duration")
	}
	return d, nil
}

func parseTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t.UTC(), nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return time.Time{}, fmt.Errorf("bad time")
	}
	return time.Unix(n, 0).UTC(), nil
}
