package onlinesign

import (
	"strings"
	"testing"
	"time"

	"github.com/coredns/caddy"
	"github.com/miekg/dns"
)

func TestParse(t *testing.T) {
	c := caddy.NewTestController("dns", `onlinesign example.test other.test {
		keys /var/lib/dnspki/keys
		algorithm ED25519
		scheme split
		dnskey-ttl 300s
		propagation 1m
		zsk-lifetime 7d
		ksk-lifetime 1w
		parent 192.0.2.1 [2001:db8::1]:5353
		ds-check 30s
		validity 10d
		inception 2h
		refresh 3d
		jitter 1h
		cache 5000 2000
		chain NSEC3
	}`)
	cfgs, err := parse(c)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfgs) != 2 || cfgs[0].origin != "example.test." || cfgs[1].origin != "other.test." {
		t.Fatalf("zones: %+v", cfgs)
	}
	z := cfgs[0]
	if z.keyDir != "/var/lib/dnspki/keys" || z.policy.Algorithm != dns.ED25519 || z.policy.Scheme != SchemeSplit ||
		z.policy.DNSKEYTTL != 5*time.Minute || z.policy.ZSKLifetime != 7*24*time.Hour || z.policy.KSKLifetime != 7*24*time.Hour ||
		len(z.parents) != 2 || z.parents[0] != "192.0.2.1:53" || z.parents[1] != "[2001:db8::1]:5353" ||
		z.sig.validity != 10*24*time.Hour || z.sig.inception != 2*time.Hour || z.sig.refresh != 3*24*time.Hour ||
		z.cacheSet != 5000 || z.cacheDen != 2000 || z.sig.chain != chainNSEC3 {
		t.Fatalf("parsed %+v", z)
	}

	c = caddy.NewTestController("dns", `onlinesign`)
	c.ServerBlockKeys = []string{"example.test.:1053"}
	cfgs, err = parse(c)
	if err != nil || len(cfgs) != 1 || cfgs[0].origin != "example.test." {
		t.Fatalf("server block zone: %+v %v", cfgs, err)
	}
	d := cfgs[0]
	if d.policy.Algorithm != dns.ECDSAP256SHA256 || d.policy.Scheme != SchemeCSK || d.sig.validity != 14*24*time.Hour ||
		d.sig.inception != time.Hour || d.sig.refresh != d.sig.validity/3 || d.keyDir != "state/keys" || d.policy.ZSKLifetime != 0 ||
		d.sig.chain != chainNSEC {
		t.Fatalf("defaults: %+v", d)
	}
}

func TestParseErrors(t *testing.T) {
	for input, want := range map[string]string{
		"onlinesign example.test {\n algorithm RSAMD5\n}":         "not supported",
		"onlinesign example.test {\n scheme triple\n}":            "want csk",
		"onlinesign example.test {\n validity 1h\n refresh 2h\n}": "less than the validity",
		"onlinesign example.test {\n dnskey-ttl soon\n}":          "want a duration",
		"onlinesign example.test {\n parent nameserver\n}":        "IP address",
		"onlinesign example.test {\n bogus 1\n}":                  "unknown property",
		"onlinesign example.test\nonlinesign example.test":        "signed twice",
		"onlinesign example.test {\n cache -1\n}":                 "number of entries",
		"onlinesign example.test {\n chain nsec5\n}":              "want nsec or nsec3",
	} {
		c := caddy.NewTestController("dns", input)
		_, err := parse(c)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want %q", input, err, want)
			continue
		}
		if !strings.Contains(err.Error(), "Testfile:") {
			t.Errorf("%q: error %v does not say where", input, err)
		}
	}
}

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"14d": 14 * 24 * time.Hour, "2w": 14 * 24 * time.Hour, "1d12h": 36 * time.Hour, "90s": 90 * time.Second, "0": 0,
	} {
		if got, err := parseDuration(in); err != nil || got != want {
			t.Errorf("%s: %v %v, want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "d", "5x", "1d5"} {
		if _, err := parseDuration(in); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
}

func TestParseCacheSize(t *testing.T) {
	for input, want := range map[string][2]int64{
		"onlinesign example.test":                           {defaultCacheBytes, defaultDenialBytes},
		"onlinesign example.test {\n cache-size 32MB 8M\n}": {32 << 20, 8 << 20},
		"onlinesign example.test {\n cache-size 1G\n}":      {1 << 30, 1 << 29},
		"onlinesign example.test {\n cache-size 0\n}":       {0, 0},
	} {
		cfgs, err := parse(caddy.NewTestController("dns", input))
		if err != nil {
			t.Fatalf("%q: %v", input, err)
		}
		if got := [2]int64{cfgs[0].cacheSetBytes, cfgs[0].cacheDenBytes}; got != want {
			t.Errorf("%q: sizes %v, want %v", input, got, want)
		}
		if cfgs[0].cacheSet != noEntryBound || cfgs[0].cacheDen != noEntryBound {
			t.Errorf("%q: entry bounds %d %d without a cache line", input, cfgs[0].cacheSet, cfgs[0].cacheDen)
		}
	}
	for _, input := range []string{"onlinesign example.test {\n cache-size lots\n}", "onlinesign example.test {\n cache-size -1MB\n}", "onlinesign example.test {\n cache-size\n}"} {
		_, err := parse(caddy.NewTestController("dns", input))
		if err == nil || !strings.Contains(err.Error(), "Testfile:") {
			t.Errorf("%q: error %v, want one with the line", input, err)
		}
	}
}
