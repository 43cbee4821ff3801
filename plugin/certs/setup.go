package certs

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/plugin"
	"github.com/go-acme/lego/v5/certcrypto"
	"github.com/miekg/dns"

	"github.com/dnspki/dnspki/plugin/pkg/persist"
	"github.com/dnspki/dnspki/plugin/pkg/zonemodel"
	"github.com/dnspki/dnspki/plugin/tlsa"
)

func init() { plugin.Register(pluginName, setup) }

// Challenge methods.
const (
	methodDNS01     = "dns-01"
	methodPersist01 = "dns-persist-01"
	methodAccount01 = "dns-account-01"
)

// Defaults.
const (
	defaultStateDir     = "state/acme"
	defaultOutDir       = "state/certs"
	defaultPropagation  = 2 * time.Minute
	defaultChallengeTTL = 60
	defaultBackoffMin   = time.Minute
	defaultBackoffMax   = time.Hour
	defaultOrderTimeout = 10 * time.Minute
	defaultDeployTO     = 5 * time.Minute
	defaultConcurrency  = 4
)

// Check sources: which servers besides dnspki's own model must serve a
// change before a CA is asked to look (or a next key is used).
const (
	checkNotify = "notify" // authzone's notify targets of the zone
	checkNS     = "ns"     // the zone's NS hosts (in-zone addresses), port 53
	checkNone   = "none"   // dnspki's own model only
)

// How dns-persist-01 records name the account (persist-accounturi).
const (
	persistFormAuto    = "auto"          // hashed when the CA advertises accountHashPrefix
	persistFormURL     = "url"           // the account URL (draft -01)
	persistFormHash    = "hash"          // hashed, bound to each name (draft -02)
	persistFormHashAny = "hash-any-name" // hashed, the cross-domain value (draft -02)
)

// blockConfig is one certs directive: an ACME account at one CA and the
// certificates it obtains.
type blockConfig struct {
	file         string
	line         int
	origins      []string
	directory    string
	caRoot       string
	contact      string
	accountKey   string
	eabKID       string
	eabHMAC      string
	profile      string
	stateDir     string
	outBase      string
	checks       []string // checkNotify, checkNS, checkNone or host:port
	resolver     string   // where lego's own lookups go; "" = this server
	propagation  time.Duration
	challengeTTL uint32
	backoffMin   time.Duration
	backoffMax   time.Duration
	orderTimeout time.Duration
	persistForm  string
	concurrency  int    // certificates stepped (ordering) at once
	httpAddr     string // the status endpoint; "" off
	certs        []*certConfig
}

// certConfig is one `cert` block.
type certConfig struct {
	id       string
	line     int
	names    []string // as ordered: lowercase, no trailing dot, "*." for wildcards
	method   string
	keyType  certcrypto.KeyType
	reuseKey bool
	out      string
	deploy   []string
	deployTO time.Duration
	profile  string
	issuers  []string // dns-persist-01: issuer-domain-names to publish (default: the CA's caaIdentities)
	until    time.Time
	caa      bool
	// TLSA (published by the tlsa plugin's manager).
	tlsaNames []string
	forms     []tlsa.Form
	ttl       uint32
	holddown  time.Duration
	views     []string
}

func setup(c *caddy.Controller) error {
	blocks, err := parse(c)
	if err != nil {
		return err
	}
	cfg := dnsserver.GetConfig(c)
	h := &Handler{}
	for _, b := range blocks {
		if b.resolver == "" {
			b.resolver = selfAddress(cfg)
		}
		m, err := newManager(c, b)
		if err != nil {
			return plugin.Error(pluginName, fmt.Errorf("%s:%d - %v", b.file, b.line, err))
		}
		h.managers = append(h.managers, m)
	}
	cfg.AddPlugin(func(next plugin.Handler) plugin.Handler {
		h.Next = next
		return h
	})
	return nil
}

// selfAddress is where this server block answers, for lego's own lookups.
func selfAddress(cfg *dnsserver.Config) string {
	host := "127.0.0.1"
	if len(cfg.ListenHosts) > 0 && cfg.ListenHosts[0] != "" {
		host = cfg.ListenHosts[0]
		if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
			host = "127.0.0.1"
			if ip.To4() == nil {
				host = "::1"
			}
		}
	}
	port := cfg.Port
	if port == "" {
		port = "53"
	}
	return net.JoinHostPort(host, port)
}

func parse(c *caddy.Controller) ([]*blockConfig, error) {
	var out []*blockConfig
	ids := map[string]int{}
	for c.Next() {
		b := &blockConfig{
			file: c.File(), line: c.Line(),
			stateDir: defaultStateDir, outBase: defaultOutDir,
			propagation: defaultPropagation, challengeTTL: defaultChallengeTTL,
			backoffMin: defaultBackoffMin, backoffMax: defaultBackoffMax,
			orderTimeout: defaultOrderTimeout, persistForm: persistFormAuto, concurrency: defaultConcurrency,
		}
		for _, o := range plugin.OriginsFromArgsOrServerBlock(c.RemainingArgs(), c.ServerBlockKeys) {
			b.origins = append(b.origins, zonemodel.Fqdn(o))
		}
		for c.NextBlock() {
			prop := c.Val()
			if prop == "cert" {
				cc, err := parseCert(c, b)
				if err != nil {
					return nil, err
				}
				if l, dup := ids[cc.id]; dup {
					return nil, c.Errf("cert %s: the id is already used at line %d", cc.id, l)
				}
				ids[cc.id] = cc.line
				b.certs = append(b.certs, cc)
				continue
			}
			args := c.RemainingArgs()
			one := func() (string, error) {
				if len(args) != 1 {
					return "", c.ArgErr()
				}
				return args[0], nil
			}
			var err error
			switch prop {
			case "directory":
				var v string
				if v, err = one(); err == nil {
					u, perr := url.Parse(v)
					if perr != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
						return nil, c.Errf("directory %q: want the CA's ACME directory URL, e.g. https://acme-v02.api.letsencrypt.org/directory", v)
					}
					b.directory = v
				}
			case "ca-root":
				if len(args) != 1 {
					return nil, c.Errf("ca-root takes one PEM file (got %d values; is the environment variable set?)", len(args))
				}
				b.caRoot = fixPath(c, args[0])
			case "contact":
				var v string
				if v, err = one(); err == nil {
					v = strings.TrimPrefix(v, "mailto:")
					if !strings.Contains(v, "@") {
						return nil, c.Errf("contact %q: want an e-mail address", v)
					}
					b.contact = v
				}
			case "account-key":
				var v string
				if v, err = one(); err == nil {
					b.accountKey = fixPath(c, v)
				}
			case "eab":
				if len(args) != 2 {
					return nil, c.Errf("eab KID HMAC: the key id and the base64url MAC key the CA gave")
				}
				b.eabKID, b.eabHMAC = args[0], args[1]
			case "profile":
				b.profile, err = one()
			case "state":
				var v string
				if v, err = one(); err == nil {
					b.stateDir = fixPath(c, v)
				}
			case "out":
				var v string
				if v, err = one(); err == nil {
					b.outBase = fixPath(c, v)
				}
			case "check":
				if len(args) == 0 {
					return nil, c.ArgErr()
				}
				for _, a := range args {
					switch a {
					case checkNotify, checkNS, checkNone:
						b.checks = append(b.checks, a)
					default:
						hp, err := hostPort(a, "53")
						if err != nil {
							return nil, c.Errf("check %q: want notify, ns, none or ADDRESS[:PORT]", a)
						}
						b.checks = append(b.checks, hp)
					}
				}
			case "resolver":
				var v string
				if v, err = one(); err == nil {
					if b.resolver, err = hostPort(v, "53"); err != nil {
						return nil, c.Errf("resolver %q: want ADDRESS[:PORT]", v)
					}
				}
			case "propagation-timeout":
				b.propagation, err = duration(c, args)
			case "challenge-ttl":
				var v uint32
				if v, err = ttl(c, args); err == nil {
					b.challengeTTL = v
				}
			case "backoff":
				if len(args) != 2 {
					return nil, c.Errf("backoff MIN MAX: the first and the longest wait between failed attempts")
				}
				if b.backoffMin, err = duration(c, args[:1]); err == nil {
					b.backoffMax, err = duration(c, args[1:])
				}
				if err == nil && b.backoffMax < b.backoffMin {
					return nil, c.Errf("backoff: the maximum %s is below the minimum %s", b.backoffMax, b.backoffMin)
				}
			case "order-timeout":
				b.orderTimeout, err = duration(c, args)
			case "concurrency":
				var v string
				if v, err = one(); err == nil {
					n, perr := strconv.Atoi(v)
					if perr != nil || n < 1 || n > 64 {
						return nil, c.Errf("concurrency %q: want the number of certificates ordered at once, 1 to 64", v)
					}
					b.concurrency = n
				}
			case "http":
				if len(args) > 1 {
					return nil, c.ArgErr()
				}
				b.httpAddr = DefaultHTTPAddr
				if len(args) == 1 {
					b.httpAddr = args[0]
				}
				if err := checkLoopback(b.httpAddr); err != nil {
					return nil, c.Errf("http: %v", err)
				}
			case "persist-accounturi":
				var v string
				if v, err = one(); err == nil {
					switch v {
					case persistFormAuto, persistFormURL, persistFormHash, persistFormHashAny:
						b.persistForm = v
					default:
						return nil, c.Errf("persist-accounturi %q: want auto, url, hash or hash-any-name", v)
					}
				}
			default:
				return nil, c.Errf("unknown property %q", prop)
			}
			if err != nil {
				return nil, err
			}
		}
		if b.directory == "" {
			return nil, c.Errf("certs: no 'directory' (the CA's ACME directory URL)")
		}
		if len(b.certs) == 0 {
			return nil, c.Errf("certs: no 'cert' block")
		}
		if len(b.checks) == 0 {
			b.checks = []string{checkNotify}
		}
		for _, cc := range b.certs {
			if err := b.finish(cc); err != nil {
				return nil, fmt.Errorf("%s:%d - Error during parsing: %v", b.file, cc.line, err)
			}
		}
		out = append(out, b)
	}
	return out, nil
}

// finish checks a certificate against the block and fills in defaults.
func (b *blockConfig) finish(cc *certConfig) error {
	if len(cc.names) == 0 {
		return fmt.Errorf("cert %s: no 'names'", cc.id)
	}
	for _, n := range cc.names {
		if b.zoneOf(strings.TrimPrefix(n, "*.")) == "" {
			return fmt.Errorf("cert %s: %s is in none of the zones of this certs block (%s); dnspki publishes the challenges of its own zones only", cc.id, n, strings.Join(b.origins, " "))
		}
	}
	for _, n := range cc.tlsaNames {
		if b.zoneOf(n) == "" {
			return fmt.Errorf("cert %s: TLSA owner %s is in none of the zones of this certs block (%s)", cc.id, n, strings.Join(b.origins, " "))
		}
	}
	if cc.method == "" {
		cc.method = methodDNS01
	}
	if cc.method != methodPersist01 && (len(cc.issuers) > 0 || !cc.until.IsZero() || cc.caa) {
		return fmt.Errorf("cert %s: issuer, persist-until and caa are for challenge dns-persist-01", cc.id)
	}
	if cc.keyType == "" {
		cc.keyType = certcrypto.EC256
	}
	if cc.out == "" {
		cc.out = filepath.Join(b.outBase, cc.id)
	}
	if cc.profile == "" {
		cc.profile = b.profile
	}
	if len(cc.tlsaNames) > 0 {
		if len(cc.forms) == 0 {
			cc.forms = []tlsa.Form{tlsa.DefaultForm}
		}
		if cc.ttl == 0 {
			cc.ttl = 3600
		}
		if cc.holddown == 0 {
			cc.holddown = 2 * time.Duration(cc.ttl) * time.Second
		}
		if cc.holddown < 2*time.Duration(cc.ttl)*time.Second {
			return fmt.Errorf("cert %s: hold-down %s is shorter than twice the TLSA TTL (%ds) (RFC 7671 §8.1)", cc.id, cc.holddown, cc.ttl)
		}
	} else if len(cc.forms) > 0 || cc.ttl != 0 || cc.holddown != 0 || len(cc.views) > 0 {
		return fmt.Errorf("cert %s: form, ttl, holddown and view are for TLSA records: add 'service' or 'tlsa-name'", cc.id)
	}
	return nil
}

// absName makes a TLSA host name absolute: NAME. is absolute, @ is the
// (first) zone, a name ending in one of the block's zones is taken as
// absolute, anything else is relative to the first zone.
func (b *blockConfig) absName(n string) string {
	origin := "."
	if len(b.origins) > 0 {
		origin = b.origins[0]
	}
	if n == "@" {
		return origin
	}
	if dns.IsFqdn(n) {
		return zonemodel.Fqdn(n)
	}
	l := zonemodel.Fqdn(n)
	for _, o := range b.origins {
		if zonemodel.InZone(l, o) {
			return l
		}
	}
	return zonemodel.Fqdn(strings.ToLower(n) + "." + origin)
}

// zoneOf returns the block's zone that holds name (the longest match).
func (b *blockConfig) zoneOf(name string) string {
	name = zonemodel.Fqdn(name)
	best := ""
	for _, o := range b.origins {
		if zonemodel.InZone(name, o) && len(o) > len(best) {
			best = o
		}
	}
	return best
}

func parseCert(c *caddy.Controller, b *blockConfig) (*certConfig, error) {
	cc := &certConfig{line: c.Line()}
	a := c.RemainingArgs()
	if len(a) != 1 {
		return nil, c.Errf("cert ID { ... }: want one id (it names the certificate's folder, its metrics and its TLSA state)")
	}
	cc.id = a[0]
	if cc.id == "" || strings.ContainsAny(cc.id, " /\\\t") || cc.id[0] == '.' {
		return nil, c.Errf("cert %q: want a short name without spaces or slashes", cc.id)
	}
	if !c.NextArg() || c.Val() != "{" {
		return nil, c.Errf("cert %s: a block with at least 'names' must follow", cc.id)
	}
	closed := false
	for c.Next() {
		if c.Val() == "}" {
			closed = true
			break
		}
		prop := c.Val()
		args := c.RemainingArgs()
		need := func(n int) error {
			if len(args) < n {
				return c.ArgErr()
			}
			return nil
		}
		var err error
		switch prop {
		case "names", "name":
			if err = need(1); err != nil {
				return nil, err
			}
			for _, n := range args {
				n = strings.ToLower(strings.TrimSuffix(n, "."))
				base := strings.TrimPrefix(n, "*.")
				if _, ok := dns.IsDomainName(base); !ok || base == "" || strings.Contains(base, "*") {
					return nil, c.Errf("names: %q is not a host name (a wildcard is *.NAME)", n)
				}
				for _, x := range cc.names {
					if x == n {
						return nil, c.Errf("names: %s listed twice", n)
					}
				}
				cc.names = append(cc.names, n)
			}
		case "challenge":
			if len(args) != 1 || (args[0] != methodDNS01 && args[0] != methodPersist01 && args[0] != methodAccount01) {
				return nil, c.Errf("challenge: want dns-01, dns-account-01 or dns-persist-01")
			}
			cc.method = args[0]
		case "key-type":
			if len(args) != 1 {
				return nil, c.ArgErr()
			}
			kt, ok := keyTypes[strings.ToLower(args[0])]
			if !ok {
				return nil, c.Errf("key-type %q: want ec256 (default), ec384, rsa2048, rsa3072 or rsa4096", args[0])
			}
			cc.keyType = kt
		case "reuse-key":
			if len(args) != 0 {
				return nil, c.ArgErr()
			}
			cc.reuseKey = true
		case "out":
			if len(args) != 1 {
				return nil, c.ArgErr()
			}
			cc.out = fixPath(c, args[0])
		case "deploy":
			if err = need(1); err != nil {
				return nil, err
			}
			cc.deploy = args
		case "deploy-timeout":
			cc.deployTO, err = duration(c, args)
		case "profile":
			if len(args) != 1 {
				return nil, c.ArgErr()
			}
			cc.profile = args[0]
		case "issuer":
			if err = need(1); err != nil {
				return nil, err
			}
			for _, iss := range args {
				if err := persist.ValidateIssuer(iss); err != nil {
					return nil, c.Errf("issuer: %v", err)
				}
			}
			cc.issuers = args
		case "persist-until":
			if len(args) != 1 {
				return nil, c.ArgErr()
			}
			t, err := time.Parse(time.RFC3339, args[0])
			if err != nil {
				n, nerr := strconv.ParseInt(args[0], 10, 64)
				if nerr != nil {
					return nil, c.Errf("persist-until %q: want an RFC 3339 time or a Unix time", args[0])
				}
				t = time.Unix(n, 0)
			}
			if !t.After(time.Now()) {
				return nil, c.Errf("persist-until %s is past: the CA would refuse the record", t.UTC().Format(time.RFC3339))
			}
			cc.until = t.UTC()
		case "caa":
			if len(args) != 0 {
				return nil, c.ArgErr()
			}
			cc.caa = true
		case "service":
			if err = need(2); err != nil {
				return nil, err
			}
			pp := strings.SplitN(args[0], "/", 2)
			port, perr := strconv.ParseUint(pp[0], 10, 16)
			if len(pp) != 2 || perr != nil || port == 0 {
				return nil, c.Errf("service %q: want PORT/PROTO, such as 443/tcp or 25/tcp", args[0])
			}
			proto := strings.ToLower(pp[1])
			if proto != "tcp" && proto != "udp" && proto != "sctp" {
				return nil, c.Errf("service %q: protocol must be tcp, udp or sctp", args[0])
			}
			for _, h := range args[1:] {
				cc.tlsaNames = append(cc.tlsaNames, fmt.Sprintf("_%d._%s.%s", port, proto, b.absName(h)))
			}
		case "tlsa-name":
			if err = need(1); err != nil {
				return nil, err
			}
			for _, n := range args {
				cc.tlsaNames = append(cc.tlsaNames, b.absName(n))
			}
		case "form":
			f, ferr := tlsa.ParseForm(args)
			if ferr != nil {
				return nil, c.Errf("form: %v", ferr)
			}
			cc.forms = append(cc.forms, f)
		case "ttl":
			cc.ttl, err = ttl(c, args)
		case "holddown":
			cc.holddown, err = duration(c, args)
		case "view", "views":
			if err = need(1); err != nil {
				return nil, err
			}
			cc.views = append(cc.views, args...)
		default:
			return nil, c.Errf("cert %s: unknown property %q", cc.id, prop)
		}
		if err != nil {
			return nil, err
		}
	}
	if !closed {
		return nil, c.Errf("cert %s: block not closed", cc.id)
	}
	if cc.deploy != nil && cc.deployTO == 0 {
		cc.deployTO = defaultDeployTO
	}
	return cc, nil
}

var keyTypes = map[string]certcrypto.KeyType{
	"ec256": certcrypto.EC256, "p256": certcrypto.EC256, "ec384": certcrypto.EC384, "p384": certcrypto.EC384,
	"rsa2048": certcrypto.RSA2048, "rsa3072": certcrypto.RSA3072, "rsa4096": certcrypto.RSA4096,
}

func fixPath(c *caddy.Controller, p string) string {
	if root := dnsserver.GetConfig(c).Root; root != "" && !filepath.IsAbs(p) {
		return filepath.Join(root, p)
	}
	return p
}

func hostPort(s, defPort string) (string, error) {
	if ip := net.ParseIP(strings.Trim(s, "[]")); ip != nil {
		return net.JoinHostPort(ip.String(), defPort), nil
	}
	h, p, err := net.SplitHostPort(s)
	if err != nil {
		return "", err
	}
	if net.ParseIP(h) == nil {
		return "", fmt.Errorf("not an IP address")
	}
	if n, err := strconv.ParseUint(p, 10, 16); err != nil || n == 0 {
		return "", fmt.Errorf("bad port")
	}
	return net.JoinHostPort(h, p), nil
}

func duration(c *caddy.Controller, args []string) (time.Duration, error) {
	if len(args) != 1 {
		return 0, c.ArgErr()
	}
	d, err := time.ParseDuration(args[0])
	if err != nil || d <= 0 {
		return 0, c.Errf("%q: want a duration such as 30s, 5m or 2h", args[0])
	}
	return d, nil
}

func ttl(c *caddy.Controller, args []string) (uint32, error) {
	if len(args) != 1 {
		return 0, c.ArgErr()
	}
	if n, err := strconv.ParseUint(args[0], 10, 32); err == nil && n > 0 && n <= 1<<31-1 {
		return uint32(n), nil
	}
	d, err := time.ParseDuration(args[0])
	if err != nil || d < time.Second || d%time.Second != 0 {
		return 0, c.Errf("ttl %q: want seconds (60) or a duration in whole seconds (1m)", args[0])
	}
	return uint32(d / time.Second), nil
}

// exists reports whether a file exists.
func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
