package acmechallenge

import (
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/plugin"
	"github.com/coredns/coredns/plugin/tsig"
	"github.com/miekg/dns"

	"github.com/dnspki/dnspki/plugin/authzone"
	"github.com/dnspki/dnspki/plugin/pkg/corefile"
	"github.com/dnspki/dnspki/plugin/pkg/dnsaccount"
	"github.com/dnspki/dnspki/plugin/pkg/grants"
	"github.com/dnspki/dnspki/plugin/pkg/persist"
	"github.com/dnspki/dnspki/plugin/pkg/tsigauth"
	"github.com/dnspki/dnspki/plugin/pkg/tsigkey"
	"github.com/dnspki/dnspki/plugin/pkg/zonemodel"
)

func init() { plugin.Register(pluginName, setup) }

func setup(c *caddy.Controller) error {
	a, err := parse(c)
	if err != nil {
		return err
	}
	cfg := dnsserver.GetConfig(c)
	cfg.AllowOpcode(dns.OpcodeUpdate)
	// The keys are the server block's (tsigauth): its gate verifies
	// every request signed with them, and authzone answers the clients'
	// signed queries (SOA lookups) with them too.
	block := tsigauth.ForBlock(c)
	for _, n := range a.ring.Names() {
		k, _ := a.ring.Get(n)
		if err := block.AddKey(k, fmt.Sprintf("acmechallenge at %s:%d", a.file, a.line)); err != nil {
			return c.Errf("%v", err)
		}
	}
	for _, o := range a.origins {
		z := a.zones[o]
		authzone.Bind(c, o, zonemodel.Binding{Plugin: pluginName, Attach: z.attach, Started: z.started})
	}
	c.OnShutdown(func() error {
		for _, z := range a.zones {
			z.shutdown()
		}
		return nil
	})
	// Checked once the server has built the plugin chain (the registry of
	// handlers is not there before).
	c.OnStartup(func() error { return a.checkTsigPlugin(dnsserver.GetConfig(c).Handler("tsig")) })
	if a.api != nil {
		// The listener is closed before a reload builds the next
		// configuration (which listens again) and reopened if that fails.
		c.OnStartup(a.api.start)
		c.OnRestart(a.api.stop)
		c.OnRestartFailed(a.api.start)
		c.OnShutdown(a.api.stop)
	}
	cfg.AddPlugin(func(next plugin.Handler) plugin.Handler {
		a.Next = next
		return a
	})
	return nil
}

// checkTsigPlugin refuses a configuration where CoreDNS's tsig plugin (h, the
// server block's "tsig" handler or nil) covers one of the plugin's zones. That
// plugin comes first in the chain; it verifies a signed request with the
// algorithm the request names (so a key's algorithm is not enforced, and
// hmac-md5, which miekg/dns dropped, always fails with BADSIG) and removes the
// TSIG record before passing the request on: every UPDATE would then arrive
// here unsigned and be refused, whatever key signed it.
func (a *AcmeChallenge) checkTsigPlugin(h plugin.Handler) error {
	t, ok := h.(*tsig.TSIGServer)
	if !ok {
		return nil
	}
	for _, o := range a.origins {
		if z := plugin.Zones(t.Zones).Matches(o); z != "" {
			return corefile.Errorf(a.file, a.line, "acmechallenge zone %s is also covered by the tsig plugin (zone %s) of this server block, which removes the TSIG of a request before acmechallenge can check it against its keys (algorithm included): define the UPDATE keys in acmechallenge only and limit the tsig plugin to other zones, or move those zones to another server block", o, z)
		}
	}
	return nil
}

type grantLine struct {
	who      string
	kind     kind
	match    grants.Match
	domains  []string
	accounts *grants.Accounts // dns-account-01 labels besides _acme-challenge
	line     int
}

// parseAccounts reads the values after `account` in a grant line: `any`, or
// account labels (_ and 16 base32 characters) or ACME account URLs (their
// label is computed).
func parseAccounts(args []string) (*grants.Accounts, error) {
	if len(args) == 0 {
		return nil, fmt.Errorf("account: want any, or account labels or account URLs")
	}
	a := &grants.Accounts{}
	for _, v := range args {
		switch {
		case strings.EqualFold(v, "any"):
			a.Any = true
		case strings.HasPrefix(v, "https://"):
			a.Labels = append(a.Labels, dnsaccount.Label(v))
		case dnsaccount.IsLabel(strings.ToLower(v)):
			a.Labels = append(a.Labels, strings.ToLower(v))
		default:
			return nil, fmt.Errorf("account %q: want any, an account label (_ and 16 base32 characters, e.g. _ujmmovf2vn55tgye) or the account URL (https://...)", v)
		}
	}
	if a.Any && len(a.Labels) > 0 {
		return nil, fmt.Errorf("account any already covers every account: no labels beside it")
	}
	return a, nil
}

func parse(c *caddy.Controller) (*AcmeChallenge, error) {
	p := &parser{c: c, a: &AcmeChallenge{
		cfg:    defaultConfig(),
		zones:  map[string]*zone{},
		ring:   tsigkey.NewRing(),
		users:  map[string]string{},
		policy: grants.New(),
	}}
	directives := 0
	for c.Next() {
		p.a.file, p.a.line = c.File(), c.Line()
		directives++
		if directives > 1 {
			return nil, c.Err("acmechallenge is given twice in this server block: list every zone in one directive")
		}
		if err := p.zones(); err != nil {
			return nil, err
		}
		for c.NextBlock() {
			if err := p.property(); err != nil {
				return nil, err
			}
		}
	}
	if err := p.finish(); err != nil {
		return nil, err
	}
	if err := p.addGrants(); err != nil {
		return nil, err
	}
	if len(p.a.policy.Identities()) == 0 {
		return nil, c.Err("no grant: nobody could change anything")
	}
	return p.a, nil
}

// parser is the state of one acmechallenge directive being read.
type parser struct {
	c      *caddy.Controller
	a      *AcmeChallenge
	glines []grantLine // resolved once every key and user is known
}

// zones reads the directive's zones (its arguments, or the server block's).
func (p *parser) zones() error {
	for _, o := range plugin.OriginsFromArgsOrServerBlock(p.c.RemainingArgs(), p.c.ServerBlockKeys) {
		o = zonemodel.Fqdn(o)
		if p.a.zones[o] != nil {
			return p.c.Errf("zone %s listed twice", o)
		}
		p.a.zones[o] = &zone{p: p.a, origin: o, stop: make(chan struct{})}
		p.a.origins = append(p.a.origins, o)
	}
	return nil
}

// intProperty is a property with one integer in [min, max].
type intProperty struct {
	min, max int
	set      func(*config, int)
}

var intProperties = map[string]intProperty{
	"ttl":         {1, 86400, func(c *config, n int) { c.ttl = uint32(n) }},
	"persist-ttl": {1, 604800, func(c *config, n int) { c.persistTTL = uint32(n) }},
	"max-values":  {1, 1000, func(c *config, n int) { c.maxValues = n }},
	"max-records": {1, 1000000, func(c *config, n int) { c.maxRecords = n }},
	"max-size":    {512, 65535, func(c *config, n int) { c.maxSize = n }},
}

// properties are the other properties of the block, one function each; the
// controller is at the property's name.
var properties = map[string]func(*parser) error{
	"key":          (*parser).key,
	"key-file":     (*parser).keyFile,
	"user":         (*parser).user,
	"grant":        (*parser).grant,
	"view":         func(p *parser) error { return p.views(&p.a.cfg.views) },
	"persist-view": func(p *parser) error { return p.views(&p.a.cfg.persistViews) },
	"http":         (*parser).http,
	"expire":       (*parser).expire,
	"values":       (*parser).values,
}

// property reads one line of the block.
func (p *parser) property() error {
	name := corefile.Option(p.c, pluginName)
	if ip, ok := intProperties[name]; ok {
		n, err := intArg(p.c, ip.min, ip.max)
		if err != nil {
			return err
		}
		ip.set(&p.a.cfg, n)
		return nil
	}
	if f, ok := properties[name]; ok {
		return f(p)
	}
	return p.c.Errf("unknown property %q", p.c.Val())
}

func (p *parser) key() error {
	args := p.c.RemainingArgs()
	if len(args) != 3 {
		return p.c.Errf("key: want NAME ALGORITHM SECRET, got %d arguments", len(args))
	}
	k, err := tsigkey.New(args[0], args[1], args[2])
	if err != nil {
		return p.c.Errf("%v", err)
	}
	if err := p.a.ring.Add(k); err != nil {
		return p.c.Errf("%v", err)
	}
	return nil
}

func (p *parser) keyFile() error {
	opt := p.c.Val() // as written (key-file, or the deprecated keyfile)
	args := p.c.RemainingArgs()
	if len(args) != 1 {
		return p.c.ArgErr()
	}
	path := args[0]
	if root := dnsserver.GetConfig(p.c).Root; !filepath.IsAbs(path) && root != "" {
		path = filepath.Join(root, path)
	}
	keys, err := tsigkey.LoadFile(path)
	if err != nil {
		return p.c.Errf("%s: %v", opt, err)
	}
	for _, k := range keys {
		if err := p.a.ring.Add(k); err != nil {
			return p.c.Errf("%s %s: %v", opt, path, err)
		}
	}
	return nil
}

func (p *parser) user() error {
	args := p.c.RemainingArgs()
	if len(args) != 2 {
		return p.c.Errf("user: want NAME PASSWORD, got %d arguments", len(args))
	}
	if _, dup := p.a.users[args[0]]; dup {
		return p.c.Errf("user %s defined twice", args[0])
	}
	if len(args[1]) < 8 {
		return p.c.Errf("user %s: password shorter than 8 characters", args[0])
	}
	p.a.users[args[0]] = args[1]
	return nil
}

// grant reads `grant KEY|USER [challenge|persist] name|subdomain|self
// [DOMAIN...] [account any|LABEL|URL...]`; it is resolved by addGrants.
func (p *parser) grant() error {
	c := p.c
	args := c.RemainingArgs()
	if len(args) < 2 {
		return c.Errf("grant: want KEY|USER [challenge|persist] name|subdomain|self [DOMAIN...] [account any|LABEL|URL...]")
	}
	who, k := args[0], kindChallenge
	args = args[1:]
	switch strings.ToLower(args[0]) {
	case "challenge":
		args = args[1:]
	case "persist":
		k = kindPersist
		args = args[1:]
	}
	if len(args) == 0 {
		return c.Errf("grant %s: want name, subdomain or self", who)
	}
	m, err := grants.ParseMatch(args[0])
	if err != nil {
		return c.Errf("grant %s: %v", who, err)
	}
	var accounts *grants.Accounts
	for i, v := range args {
		if strings.EqualFold(v, "account") {
			if k == kindPersist {
				return c.Errf("grant %s persist: account labels are for dns-account-01 challenges, not validation records", who)
			}
			if accounts, err = parseAccounts(args[i+1:]); err != nil {
				return c.Errf("grant %s: %v", who, err)
			}
			args = args[:i]
			break
		}
	}
	if m == grants.Self && len(args) > 1 {
		return c.Errf("grant %s self: takes no domains (the key's own name is the domain)", who)
	}
	if m != grants.Self && len(args) == 1 {
		return c.Errf("grant %s %s: which domains?", who, args[0])
	}
	p.glines = append(p.glines, grantLine{who: who, kind: k, match: m, domains: args[1:], accounts: accounts, line: c.Line()})
	return nil
}

// views reads a list of view names into dst.
func (p *parser) views(dst *[]string) error {
	args := p.c.RemainingArgs()
	if len(args) == 0 {
		return p.c.ArgErr()
	}
	*dst = args
	return nil
}

func (p *parser) http() error {
	c := p.c
	args := c.RemainingArgs()
	if len(args) != 1 && (len(args) != 4 || args[1] != "tls") {
		return c.Errf("http: want ADDRESS [tls CERT KEY]")
	}
	if _, _, err := net.SplitHostPort(args[0]); err != nil {
		return c.Errf("http: address %q: %v (want HOST:PORT)", args[0], err)
	}
	h := &httpConfig{addr: args[0]}
	if len(args) == 4 {
		h.certFile, h.keyFile = args[2], args[3]
	}
	p.a.cfg.http = h
	if err := checkPlainHTTP(h); err != nil {
		return c.Errf("%v", err)
	}
	return nil
}

func (p *parser) expire() error {
	c := p.c
	if !c.NextArg() {
		return c.ArgErr()
	}
	d, err := time.ParseDuration(c.Val())
	if err != nil || d < 0 {
		return c.Errf("expire %q: want a duration such as 1h (0 disables expiry)", c.Val())
	}
	if d > 0 && d < time.Second {
		return c.Errf("expire %s: at least 1s", d)
	}
	p.a.cfg.expire = d
	return nil
}

func (p *parser) values() error {
	c := p.c
	if !c.NextArg() {
		return c.ArgErr()
	}
	switch c.Val() {
	case "digest":
		p.a.cfg.anyValue = false
	case "any":
		p.a.cfg.anyValue = true
	default:
		return c.Errf("values %q: want digest or any", c.Val())
	}
	return nil
}

// finish checks the directive as a whole once its block is read.
func (p *parser) finish() error {
	a, c := p.a, p.c
	if len(a.origins) == 0 {
		return c.Err("no zone")
	}
	if len(a.ring.Names()) == 0 && len(a.users) == 0 {
		return c.Err("no key and no user: nobody could change anything")
	}
	if len(a.users) > 0 && a.cfg.http == nil {
		return c.Err("users are defined but no 'http' address: the HTTP API is off")
	}
	if a.cfg.http != nil {
		if len(a.users) == 0 {
			return c.Err("'http' without any 'user': nobody could use the HTTP API")
		}
		a.api = newHTTPAPI(a, a.cfg.http)
	}
	return nil
}

// addGrants resolves the grant lines (their keys and users are all known
// now) into the policy.
func (p *parser) addGrants() error {
	var validate grants.Validator
	if !p.a.cfg.anyValue {
		validate = digestValidator
	}
	for _, g := range p.glines {
		if err := p.addGrant(g, validate); err != nil {
			return corefile.Errorf(p.c.File(), g.line, "%v", err)
		}
	}
	return nil
}

// addGrant adds the grants of one grant line.
func (p *parser) addGrant(g grantLine, validate grants.Validator) error {
	a := p.a
	id, err := a.identity(g.who)
	if err != nil {
		return fmt.Errorf("grant: %v", err)
	}
	gr := grants.Grant{Identity: id, Match: g.match, Label: Label, Types: []uint16{dns.TypeTXT}, Validate: validate, Accounts: g.accounts}
	if g.kind == kindPersist {
		if strings.HasPrefix(id, "http:") {
			return fmt.Errorf("grant %s persist: only TSIG keys can set validation records (RFC 2136 UPDATE); the HTTP API sets challenges only", g.who)
		}
		gr.Label, gr.Validate = persist.Label, persistValidator
	}
	if g.match == grants.Self {
		if strings.HasPrefix(id, "http:") {
			return fmt.Errorf("grant %s self: only TSIG keys can have self grants (their name is the domain)", g.who)
		}
		if a.enclosing(id) == nil {
			return fmt.Errorf("grant %s self: the key's name is in none of the zones %s", g.who, strings.Join(a.origins, " "))
		}
		return a.policy.Add(gr)
	}
	for _, d := range g.domains {
		gr.Domain = zonemodel.Fqdn(d)
		if a.enclosing(gr.Domain) == nil {
			return fmt.Errorf("grant %s: %s is in none of the zones %s", g.who, gr.Domain, strings.Join(a.origins, " "))
		}
		if err := a.policy.Add(gr); err != nil {
			return err
		}
	}
	return nil
}

// identity resolves the name in a grant line to a TSIG key or an HTTP user.
func (a *AcmeChallenge) identity(who string) (string, error) {
	k, isKey := a.ring.Get(who)
	_, isUser := a.users[who]
	switch {
	case isKey && isUser:
		return "", fmt.Errorf("%s is both a key and a user; rename one", who)
	case isKey:
		return k.Name, nil
	case isUser:
		return userIdentity(who), nil
	}
	return "", fmt.Errorf("no key or user named %s (define it with key, key-file or user)", who)
}

func intArg(c *caddy.Controller, min, max int) (int, error) {
	name := c.Val()
	if !c.NextArg() {
		return 0, c.ArgErr()
	}
	n, err := strconv.Atoi(c.Val())
	if err != nil || n < min || n > max {
		return 0, c.Errf("%s %q: want an integer from %d to %d", name, c.Val(), min, max)
	}
	if c.NextArg() {
		return 0, c.ArgErr()
	}
	return n, nil
}

// validateDigest checks that v is an ACME dns-01 value: the base64url
// encoding (no padding) of a SHA-256 digest, 43 characters (RFC 8555 §8.4).
func validateDigest(v string) error {
	if len(v) != 43 {
		return fmt.Errorf("value %q is not an ACME dns-01 digest (43 base64url characters)", v)
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return fmt.Errorf("value %q is not an ACME dns-01 digest (43 base64url characters)", v)
		}
	}
	return nil
}

// digestValidator accepts a TXT record holding one ACME digest.
func digestValidator(rr dns.RR) error {
	t, ok := rr.(*dns.TXT)
	if !ok {
		return fmt.Errorf("not a TXT record")
	}
	if len(t.Txt) != 1 {
		return fmt.Errorf("%d strings; an ACME challenge is one", len(t.Txt))
	}
	return validateDigest(t.Txt[0])
}
