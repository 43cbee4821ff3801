package tlsa

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/coredns/caddy"
	"github.com/dnspki/dnspki/plugin/pkg/corefile"
)

// RecordOption reads one of the properties that say which TLSA records a
// certificate gets (its owner names, forms, TTL, hold-down and views) into
// cfg: `service PORT/PROTO HOST...`, `name OWNER...`, `form U S M`, `ttl
// TTL`, `hold-down DURATION`, `view VIEW...`. abs makes a host or owner name
// absolute. It reports false for any other property. The tlsa plugin's `cert`
// blocks and the certs plugin's (where `name` is `tlsa-name`) both read them
// here.
func RecordOption(c *caddy.Controller, prop string, args []string, abs func(string) string, cfg *CertConfig) (bool, error) {
	f, ok := recordOptions[prop]
	if !ok {
		return false, nil
	}
	if len(args) < f.min || (f.max > 0 && len(args) > f.max) {
		return true, c.ArgErr()
	}
	return true, f.read(c, args, abs, cfg)
}

type recordOption struct {
	min, max int // argument count; max 0: no maximum
	read     func(c *caddy.Controller, args []string, abs func(string) string, cfg *CertConfig) error
}

var recordOptions = map[string]recordOption{
	"service":   {2, 0, readService},
	"name":      {1, 0, readName},
	"form":      {0, 0, readForm},
	"ttl":       {0, 0, readTTL},
	"hold-down": {1, 1, readHoldDown},
	"view":      {1, 0, readViews},
	"views":     {1, 0, readViews},
}

func readService(c *caddy.Controller, args []string, abs func(string) string, cfg *CertConfig) error {
	pp := strings.SplitN(args[0], "/", 2)
	if len(pp) != 2 {
		return c.Errf("service %q: want PORT/PROTO, such as 25/tcp or 443/tcp", args[0])
	}
	port, err := strconv.ParseUint(pp[0], 10, 16)
	if err != nil || port == 0 {
		return c.Errf("service %q: bad port", args[0])
	}
	proto := strings.ToLower(pp[1])
	if proto != "tcp" && proto != "udp" && proto != "sctp" {
		return c.Errf("service %q: protocol must be tcp, udp or sctp", args[0])
	}
	for _, h := range args[1:] {
		cfg.Names = append(cfg.Names, fmt.Sprintf("_%d._%s.%s", port, proto, abs(h)))
	}
	return nil
}

func readName(c *caddy.Controller, args []string, abs func(string) string, cfg *CertConfig) error {
	for _, n := range args {
		cfg.Names = append(cfg.Names, abs(n))
	}
	return nil
}

func readForm(c *caddy.Controller, args []string, _ func(string) string, cfg *CertConfig) error {
	f, err := ParseForm(args)
	if err != nil {
		return c.Errf("form: %v", err)
	}
	if slices.Contains(cfg.Forms, f) {
		return c.Errf("form %s listed twice", f)
	}
	cfg.Forms = append(cfg.Forms, f)
	return nil
}

func readTTL(c *caddy.Controller, args []string, _ func(string) string, cfg *CertConfig) error {
	t, err := ttlOf(args)
	if err != nil {
		return c.Errf("ttl: %v", err)
	}
	cfg.TTL = t
	return nil
}

func readHoldDown(c *caddy.Controller, args []string, _ func(string) string, cfg *CertConfig) error {
	d, err := time.ParseDuration(args[0])
	if err != nil || d <= 0 {
		return c.Errf("hold-down %q: want a duration such as 2h or 120s", args[0])
	}
	cfg.HoldDown = d
	return nil
}

func readViews(c *caddy.Controller, args []string, _ func(string) string, cfg *CertConfig) error {
	cfg.Views = append(cfg.Views, args...)
	return nil
}

// ttlOf reads one TTL (corefile.TTL).
func ttlOf(args []string) (uint32, error) {
	if len(args) != 1 {
		return 0, fmt.Errorf("want one TTL")
	}
	return corefile.TTL(args[0])
}

// SetRecordDefaults fills in the defaults of the record properties (form 3
// 1 1, TTL 3600, a hold-down of twice the TTL, rounded up to whole seconds)
// and refuses a hold-down shorter than twice the TTL. Validate calls it; the
// certs plugin too, for its certificates with TLSA owners.
func (c *CertConfig) SetRecordDefaults() error {
	if len(c.Forms) == 0 {
		c.Forms = []Form{DefaultForm}
	}
	if c.TTL == 0 {
		c.TTL = 3600
	}
	if c.HoldDown == 0 {
		c.HoldDown = 2 * time.Duration(c.TTL) * time.Second
	}
	if c.HoldDown < 2*time.Duration(c.TTL)*time.Second {
		return fmt.Errorf("certificate %s: hold-down %s is shorter than twice the TTL (%ds): resolvers may still hold the old records (RFC 7671 §8.1)", c.ID, c.HoldDown, c.TTL)
	}
	if c.HoldDown%time.Second != 0 {
		c.HoldDown = c.HoldDown.Truncate(time.Second) + time.Second
	}
	return nil
}
