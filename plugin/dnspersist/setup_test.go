package dnspersist

import (
	"strings"
	"testing"
	"time"

	"github.com/coredns/caddy"
	"github.com/miekg/dns"

	"github.com/dnspki/dnspki/plugin/pkg/persist"
	"github.com/dnspki/dnspki/plugin/pkg/zonemodel"
)

var now = time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)

// A draft -02 hashed accounturi (draft §10.2's).
const hashed = "5SQm7n6tPh2-PlLbCKGnViTXX5z19SCN4cPGQHSk-kw"

func TestParse(t *testing.T) {
	ok := `dnspersist example.test {
		ttl 600
		caa
		authorize intra.example.test {
			issuer pebble.letsencrypt.org letsencrypt.org
			accounturi https://127.0.0.1:14000/my-account/1
			policy wildcard
			persist-until 90d
			also host.intra.example.test
		}
		authorize www.example.test {
			issuer letsencrypt.org
			accounturi https://acme-v02.api.letsencrypt.org/acme/acct/12345
			persist-until 2027-06-01T00:00:00Z
			caa off
		}
	}`
	cfgs, err := parse(caddy.NewTestController("dns", ok), now)
	if err != nil {
		t.Fatal(err)
	}
	a := cfgs[0].auths
	if len(a) != 2 || !a[0].wildcard || a[0].rolling != 90*24*time.Hour || !a[0].caa || a[1].caa || a[0].ttl != 600 || len(a[0].issuers) != 2 {
		t.Fatalf("parsed: %+v %+v", a[0], a[1])
	}
	bad := map[string]string{
		"authorize x.example.test {\nissuer ca.example\n}":                                                                                                     "accounturi is mandatory",
		"authorize x.example.test {\naccounturi https://ca/1\n}":                                                                                               "no issuer",
		"authorize x.example.test {\nissuer CA.example\naccounturi https://ca/1\n}":                                                                            "lowercase",
		"authorize x.example.test {\nissuer ca.example.\naccounturi https://ca/1\n}":                                                                           "trailing dot",
		"authorize x.example.test {\nissuer ca.example\naccounturi http://ca/1\n}":                                                                             "https",
		"authorize x.example.test {\nissuer ca.example\naccounturi\n}":                                                                                         "environment variable",
		"authorize x.example.test {\nissuer ca.example\naccounturi https://ca/1\npersist-until 2020-01-01\n}":                                                  "already past",
		"authorize x.example.test {\nissuer ca.example\naccounturi https://ca/1\npersist-until soon\n}":                                                        "persist-until",
		"authorize x.example.test {\nissuer ca.example\naccounturi https://ca/1\npolicy subdomains\n}":                                                         "only policy",
		"authorize x.example.test {\nissuer ca.example\naccounturi https://ca/1\nalso y.example.test\n}":                                                       "not below",
		"authorize x.example.test {\nissuer ca.example\naccounturi https://ca/1\nalso a.x.example.test\n}":                                                     "needs 'policy wildcard'",
		"authorize x.example.org {\nissuer ca.example\naccounturi https://ca/1\n}":                                                                             "not in zone",
		"authorize .example.test {\nissuer ca.example\naccounturi https://ca/1\n}":                                                                             "not a domain name",
		"authorize x.example.test {\nissuer ca.example\naccounturi https://ca/1\npolicy wildcard\nalso a..x.example.test\n}":                                   "not a domain name",
		"authorize x.example.test {\nissuer ca.example ca.example\naccounturi https://ca/1\n}":                                                                 "listed twice",
		"caa\nauthorize x.example.test {\nissuer ca.example\naccounturi https://ca/h/sha-256/" + hashed + "\n}":                                                "give caa-accounturi ACCOUNT-URL, or caa off",
		"authorize x.example.test {\nissuer ca.example\naccounturi https://ca/1\ncaa-accounturi https://ca/h/sha-256/" + hashed + "\n}":                        "not a hashed URI",
		"authorize x.example.test {\nissuer ca.example\naccounturi https://ca/1\ncaa-accounturi http://ca/1\n}":                                                "caa-accounturi: accounturi \"http://ca/1\": an account URL is an https URL",
		"authorize x.example.test {\nissuer ca.example\naccounturi https://ca/1\n}\nauthorize x.example.test {\nissuer ca.example\naccounturi https://ca/2\n}": "twice",
		"authorize x.example.test {\nissuer ca.example\naccounturi https://ca/1\naccount-hash https://ca/h/\n}":                                                "account-hash PREFIX THUMBPRINT",
		"authorize x.example.test {\nissuer ca.example\naccounturi https://ca/1\naccount-hash https://ca/h/ short\n}":                                          "thumbprint",
		"authorize x.example.test {\nissuer ca.example\naccounturi https://ca/1\naccount-hash https://ca/h/ " + hashed + " every\n}":                           "[any-name]",
		"authorize x.example.test {\nissuer ca.example\naccounturi https://ca/h/sha-256/" + hashed + "\naccount-hash https://ca/h/ " + hashed + "\n}":          "not a hashed URI",
	}
	for body, want := range bad {
		_, err := parse(caddy.NewTestController("dns", "dnspersist example.test {\n"+body+"\n}"), now)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want %q", body, err, want)
		}
	}
	if _, err := parse(caddy.NewTestController("dns", "dnspersist example.test {\n}"), now); err == nil {
		t.Error("no authorization accepted")
	}
}

const zoneText = `$ORIGIN example.test.
$TTL 300
@ IN SOA ns1 hostmaster 1 3600 600 86400 60
  IN NS ns1
  IN CAA 0 issue "pebble.letsencrypt.org"
ns1 IN A 192.0.2.53
`

func TestPublish(t *testing.T) {
	dir := t.TempDir()
	open := func() (*zonemodel.Zone, *Persist) {
		cfgs, err := parse(caddy.NewTestController("dns", `dnspersist example.test {
			caa
			authorize intra.example.test example.test {
				issuer pebble.letsencrypt.org
				accounturi https://127.0.0.1:14000/my-account/1
				policy wildcard
				persist-until 90d
				also host.intra.example.test
			}
		}`), now)
		if err != nil {
			t.Fatal(err)
		}
		z := zonemodel.New(zonemodel.Config{Origin: "example.test", StateDir: dir})
		base, _ := z.AddSource("file", zonemodel.SourceOptions{Base: true})
		zd, err := zonemodel.ParseZone(strings.NewReader(zoneText), "example.test.", "z")
		if err != nil {
			t.Fatal(err)
		}
		base.SetInitial(nil, zd.RRs)
		p := &Persist{cfg: cfgs[0]}
		if err := p.attach(z); err != nil {
			t.Fatal(err)
		}
		if err := z.Open(); err != nil {
			t.Fatal(err)
		}
		if err := p.publish(now); err != nil {
			t.Fatal(err)
		}
		return z, p
	}
	z, _ := open()
	s := z.View("").Snapshot()
	for _, name := range []string{"_validation-persist.intra.example.test.", "_validation-persist.host.intra.example.test.", "_validation-persist.example.test."} {
		set := s.Get(name, dns.TypeTXT)
		if set == nil || len(set.RRs) != 1 {
			t.Fatalf("%s: %v", name, set)
		}
		r, err := persist.Parse(persist.Value(set.RRs[0].(*dns.TXT)))
		if err != nil {
			t.Fatalf("%s: published record does not parse: %v", name, err)
		}
		if r.Policy != "wildcard" || r.PersistUntil != now.Add(90*24*time.Hour) {
			t.Fatalf("%s: %+v", name, r)
		}
	}
	caa := s.Get("intra.example.test.", dns.TypeCAA)
	if caa == nil || len(caa.RRs) != 2 {
		t.Fatalf("CAA at intra: %v", caa)
	}
	// At the apex the zone file's CAA and the generated ones are merged.
	if apex := s.Get("example.test.", dns.TypeCAA); apex == nil || len(apex.RRs) != 3 {
		t.Fatalf("apex CAA: %v", apex)
	}
	serial := s.Serial
	// Publishing again (a restart, an hourly check) changes nothing.
	z.Close()
	z2, p2 := open()
	if got := z2.View("").Snapshot().Serial; got != serial {
		t.Fatalf("restart moved the serial %d -> %d", serial, got)
	}
	// Two thirds of the rolling window later the persistUntil is renewed.
	later := now.Add(61 * 24 * time.Hour)
	if err := p2.publish(later); err != nil {
		t.Fatal(err)
	}
	set := z2.View("").Snapshot().Get("_validation-persist.intra.example.test.", dns.TypeTXT)
	r, _ := persist.Parse(persist.Value(set.RRs[0].(*dns.TXT)))
	if r.PersistUntil != later.Add(90*24*time.Hour) {
		t.Fatalf("not renewed: %v", r.PersistUntil)
	}
	z2.Close()
}
