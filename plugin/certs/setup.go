package certs

import (
	"fmt"
	"net"
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

	"github.com/dnspki/dnspki/plugin/pkg/corefile"
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
			return corefile.Errorf(b.file, b.line, "%v", err)
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
		b, err := parseBlock(c, ids)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}

// parseBlock reads one certs directive; ids are the certificate ids of the
// configuration so far (unique across blocks), with their lines.
func parseBlock(c *caddy.Controller, ids map[string]int) (*blockConfig, error) {
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
		f, ok := blockProperties[prop]
		if !ok {
			return nil, c.Errf("unknown property %q", prop)
		}
		if err := f(c, c.RemainingArgs(), b); err != nil {
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
			return nil, corefile.Errorf(b.file, cc.line, "%v", err)
		}
	}
	return b, nil
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
		// The tlsa plugin's defaults and hold-down rule.
		rec := tlsa.CertConfig{ID: cc.id, Forms: cc.forms, TTL: cc.ttl, HoldDown: cc.holddown}
		if err := rec.SetRecordDefaults(); err != nil {
			return err
		}
		cc.forms, cc.ttl, cc.holddown = rec.Forms, rec.TTL, rec.HoldDown
	} else if len(cc.forms) > 0 || cc.ttl != 0 || cc.holddown != 0 || len(cc.views) > 0 {
		return fmt.Errorf("cert %s: form, ttl, hold-down and view are for TLSA records: add 'service' or 'tlsa-name'", cc.id)
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

// parseCert reads `cert ID { ... }`.
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
	var rec tlsa.CertConfig // the TLSA properties
	closed := false
	for c.Next() {
		if c.Val() == "}" {
			closed = true
			break
		}
		prop := corefile.Option(c, pluginName)
		args := c.RemainingArgs()
		if ok, err := tlsaOption(c, prop, args, b, &rec); ok {
			if err != nil {
				return nil, err
			}
			continue
		}
		f, ok := certProperties[prop]
		if !ok {
			return nil, c.Errf("cert %s: unknown property %q", cc.id, prop)
		}
		if err := f(c, args, cc); err != nil {
			return nil, err
		}
	}
	if !closed {
		return nil, c.Errf("cert %s: block not closed", cc.id)
	}
	cc.tlsaNames, cc.forms, cc.ttl, cc.holddown, cc.views = rec.Names, rec.Forms, rec.TTL, rec.HoldDown, rec.Views
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
	t, err := corefile.TTL(args[0])
	if err != nil {
		return 0, c.Errf("ttl %v", err)
	}
	return t, nil
}

// exists reports whether a file exists.
func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
