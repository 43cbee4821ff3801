package certs

import (
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/coredns/caddy"
	"github.com/miekg/dns"

	"github.com/dnspki/dnspki/plugin/pkg/persist"
	"github.com/dnspki/dnspki/plugin/tlsa"
)

// blockProperty reads one property of a certs block (args: its values).
type blockProperty func(c *caddy.Controller, args []string, b *blockConfig) error

// blockProperties are the properties of a certs block besides `cert`.
var blockProperties = map[string]blockProperty{
	"directory": oneValue(func(c *caddy.Controller, v string, b *blockConfig) error {
		u, err := url.Parse(v)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return c.Errf("directory %q: want the CA's ACME directory URL, e.g. https://acme-v02.api.letsencrypt.org/directory", v)
		}
		b.directory = v
		return nil
	}),
	"ca-root": func(c *caddy.Controller, args []string, b *blockConfig) error {
		if len(args) != 1 {
			return c.Errf("ca-root takes one PEM file (got %d values; is the environment variable set?)", len(args))
		}
		b.caRoot = fixPath(c, args[0])
		return nil
	},
	"contact": oneValue(func(c *caddy.Controller, v string, b *blockConfig) error {
		v = strings.TrimPrefix(v, "mailto:")
		if !strings.Contains(v, "@") {
			return c.Errf("contact %q: want an e-mail address", v)
		}
		b.contact = v
		return nil
	}),
	"account-key": oneValue(func(c *caddy.Controller, v string, b *blockConfig) error {
		b.accountKey = fixPath(c, v)
		return nil
	}),
	"eab": func(c *caddy.Controller, args []string, b *blockConfig) error {
		if len(args) != 2 {
			return c.Errf("eab KID HMAC: the key id and the base64url MAC key the CA gave")
		}
		b.eabKID, b.eabHMAC = args[0], args[1]
		return nil
	},
	"profile": oneValue(func(c *caddy.Controller, v string, b *blockConfig) error {
		b.profile = v
		return nil
	}),
	"state": oneValue(func(c *caddy.Controller, v string, b *blockConfig) error {
		b.stateDir = fixPath(c, v)
		return nil
	}),
	"out": oneValue(func(c *caddy.Controller, v string, b *blockConfig) error {
		b.outBase = fixPath(c, v)
		return nil
	}),
	"check": readChecks,
	"resolver": oneValue(func(c *caddy.Controller, v string, b *blockConfig) (err error) {
		if b.resolver, err = hostPort(v, "53"); err != nil {
			return c.Errf("resolver %q: want ADDRESS[:PORT]", v)
		}
		return nil
	}),
	"propagation-timeout": func(c *caddy.Controller, args []string, b *blockConfig) (err error) {
		b.propagation, err = duration(c, args)
		return err
	},
	"challenge-ttl": func(c *caddy.Controller, args []string, b *blockConfig) error {
		v, err := ttl(c, args)
		if err == nil {
			b.challengeTTL = v
		}
		return err
	},
	"backoff": readBackoff,
	"order-timeout": func(c *caddy.Controller, args []string, b *blockConfig) (err error) {
		b.orderTimeout, err = duration(c, args)
		return err
	},
	"concurrency": oneValue(func(c *caddy.Controller, v string, b *blockConfig) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 64 {
			return c.Errf("concurrency %q: want the number of certificates ordered at once, 1 to 64", v)
		}
		b.concurrency = n
		return nil
	}),
	"http": func(c *caddy.Controller, args []string, b *blockConfig) error {
		if len(args) > 1 {
			return c.ArgErr()
		}
		b.httpAddr = DefaultHTTPAddr
		if len(args) == 1 {
			b.httpAddr = args[0]
		}
		if err := checkLoopback(b.httpAddr); err != nil {
			return c.Errf("http: %v", err)
		}
		return nil
	},
	"persist-accounturi": oneValue(func(c *caddy.Controller, v string, b *blockConfig) error {
		switch v {
		case persistFormAuto, persistFormURL, persistFormHash, persistFormHashAny:
			b.persistForm = v
			return nil
		}
		return c.Errf("persist-accounturi %q: want auto, url, hash or hash-any-name", v)
	}),
}

// oneValue is a property with exactly one value.
func oneValue(f func(c *caddy.Controller, v string, b *blockConfig) error) blockProperty {
	return func(c *caddy.Controller, args []string, b *blockConfig) error {
		if len(args) != 1 {
			return c.ArgErr()
		}
		return f(c, args[0], b)
	}
}

func readChecks(c *caddy.Controller, args []string, b *blockConfig) error {
	if len(args) == 0 {
		return c.ArgErr()
	}
	for _, a := range args {
		switch a {
		case checkNotify, checkNS, checkNone:
			b.checks = append(b.checks, a)
		default:
			hp, err := hostPort(a, "53")
			if err != nil {
				return c.Errf("check %q: want notify, ns, none or ADDRESS[:PORT]", a)
			}
			b.checks = append(b.checks, hp)
		}
	}
	return nil
}

func readBackoff(c *caddy.Controller, args []string, b *blockConfig) (err error) {
	if len(args) != 2 {
		return c.Errf("backoff MIN MAX: the first and the longest wait between failed attempts")
	}
	if b.backoffMin, err = duration(c, args[:1]); err != nil {
		return err
	}
	if b.backoffMax, err = duration(c, args[1:]); err != nil {
		return err
	}
	if b.backoffMax < b.backoffMin {
		return c.Errf("backoff: the maximum %s is below the minimum %s", b.backoffMax, b.backoffMin)
	}
	return nil
}

// certProperty reads one property of a `cert` block.
type certProperty func(c *caddy.Controller, args []string, cc *certConfig) error

// certProperties are the properties of a `cert` block besides the TLSA
// ones, which the tlsa plugin reads (tlsa.RecordOption).
var certProperties = map[string]certProperty{
	"names": readNames,
	"name":  readNames,
	"challenge": func(c *caddy.Controller, args []string, cc *certConfig) error {
		if len(args) != 1 || (args[0] != methodDNS01 && args[0] != methodPersist01 && args[0] != methodAccount01) {
			return c.Errf("challenge: want dns-01, dns-account-01 or dns-persist-01")
		}
		cc.method = args[0]
		return nil
	},
	"key-type": certValue(func(c *caddy.Controller, v string, cc *certConfig) error {
		kt, ok := keyTypes[strings.ToLower(v)]
		if !ok {
			return c.Errf("key-type %q: want ec256 (default), ec384, rsa2048, rsa3072 or rsa4096", v)
		}
		cc.keyType = kt
		return nil
	}),
	"reuse-key": noValue(func(cc *certConfig) { cc.reuseKey = true }),
	"out": certValue(func(c *caddy.Controller, v string, cc *certConfig) error {
		cc.out = fixPath(c, v)
		return nil
	}),
	"deploy": func(c *caddy.Controller, args []string, cc *certConfig) error {
		if len(args) == 0 {
			return c.ArgErr()
		}
		cc.deploy = args
		return nil
	},
	"deploy-timeout": func(c *caddy.Controller, args []string, cc *certConfig) (err error) {
		cc.deployTO, err = duration(c, args)
		return err
	},
	"profile": certValue(func(c *caddy.Controller, v string, cc *certConfig) error {
		cc.profile = v
		return nil
	}),
	"issuer": func(c *caddy.Controller, args []string, cc *certConfig) error {
		if len(args) == 0 {
			return c.ArgErr()
		}
		for _, iss := range args {
			if err := persist.ValidateIssuer(iss); err != nil {
				return c.Errf("issuer: %v", err)
			}
		}
		cc.issuers = args
		return nil
	},
	"persist-until": certValue(readPersistUntil),
	"caa":           noValue(func(cc *certConfig) { cc.caa = true }),
}

// certValue is a cert property with exactly one value.
func certValue(f func(c *caddy.Controller, v string, cc *certConfig) error) certProperty {
	return func(c *caddy.Controller, args []string, cc *certConfig) error {
		if len(args) != 1 {
			return c.ArgErr()
		}
		return f(c, args[0], cc)
	}
}

// noValue is a cert property without values.
func noValue(set func(cc *certConfig)) certProperty {
	return func(c *caddy.Controller, args []string, cc *certConfig) error {
		if len(args) != 0 {
			return c.ArgErr()
		}
		set(cc)
		return nil
	}
}

func readNames(c *caddy.Controller, args []string, cc *certConfig) error {
	if len(args) == 0 {
		return c.ArgErr()
	}
	for _, n := range args {
		n = strings.ToLower(strings.TrimSuffix(n, "."))
		base := strings.TrimPrefix(n, "*.")
		if _, ok := dns.IsDomainName(base); !ok || base == "" || strings.Contains(base, "*") {
			return c.Errf("names: %q is not a host name (a wildcard is *.NAME)", n)
		}
		if slices.Contains(cc.names, n) {
			return c.Errf("names: %s listed twice", n)
		}
		cc.names = append(cc.names, n)
	}
	return nil
}

func readPersistUntil(c *caddy.Controller, v string, cc *certConfig) error {
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		n, nerr := strconv.ParseInt(v, 10, 64)
		if nerr != nil {
			return c.Errf("persist-until %q: want an RFC 3339 time or a Unix time", v)
		}
		t = time.Unix(n, 0)
	}
	if !t.After(time.Now()) {
		return c.Errf("persist-until %s is past: the CA would refuse the record", t.UTC().Format(time.RFC3339))
	}
	cc.until = t.UTC()
	return nil
}

// tlsaOption reads a TLSA property of a `cert` block (`service`,
// `tlsa-name`, `form`, `ttl`, `hold-down`, `view`) through the tlsa plugin,
// which owns which records a certificate gets; false for another property.
func tlsaOption(c *caddy.Controller, prop string, args []string, b *blockConfig, rec *tlsa.CertConfig) (bool, error) {
	switch prop {
	case "name":
		return false, nil // the certificate's names here
	case "tlsa-name":
		prop = "name"
	}
	return tlsa.RecordOption(c, prop, args, b.absName, rec)
}
