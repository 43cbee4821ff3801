package certs

import (
	"strings"
	"testing"
	"time"

	"github.com/coredns/caddy"
	"github.com/go-acme/lego/v5/certcrypto"

	"github.com/dnspki/dnspki/plugin/tlsa"
)

func TestParse(t *testing.T) {
	c := caddy.NewTestController("dns", `certs example.test {
		directory https://127.0.0.1:14000/dir
		contact mailto:hostmaster@example.test
		profile shortlived
		check notify 127.0.0.1:5300 ::1
		resolver 127.0.0.1:1053
		propagation-timeout 30s
		challenge-ttl 30
		backoff 5s 10m
		cert www {
			names www.example.test mail.example.test
			service 443/tcp www.example.test
			service 25/tcp mail
			form 3 1 1
			form DANE-EE SPKI SHA2-512
			ttl 300
			deploy systemctl reload nginx
		}
		cert intra {
			names intra.example.test *.intra.example.test
			challenge dns-persist-01
			key-type rsa2048
			reuse-key
			issuer letsencrypt.org
			out /etc/tls/intra
		}
	}`)
	c.ServerBlockKeys = []string{"example.test:1053"}
	bs, err := parse(c)
	if err != nil {
		t.Fatal(err)
	}
	b := bs[0]
	if b.directory != "https://127.0.0.1:14000/dir" || b.contact != "hostmaster@example.test" || b.profile != "shortlived" ||
		b.propagation != 30*time.Second || b.challengeTTL != 30 || b.backoffMin != 5*time.Second || b.backoffMax != 10*time.Minute ||
		b.resolver != "127.0.0.1:1053" || strings.Join(b.checks, ",") != "notify,127.0.0.1:5300,[::1]:53" {
		t.Fatalf("block: %+v", b)
	}
	www, intra := b.certs[0], b.certs[1]
	if www.method != methodDNS01 || www.keyType != certcrypto.EC256 || www.out != "state/certs/www" || www.profile != "shortlived" ||
		strings.Join(www.tlsaNames, ",") != "_443._tcp.www.example.test.,_25._tcp.mail.example.test." ||
		len(www.forms) != 2 || www.forms[1] != (tlsa.Form{Usage: 3, Selector: 1, MatchingType: 2}) ||
		www.ttl != 300 || www.holddown != 600*time.Second || strings.Join(www.deploy, " ") != "systemctl reload nginx" || www.deployTO != defaultDeployTO {
		t.Fatalf("www: %+v", www)
	}
	if intra.method != methodPersist01 || intra.keyType != certcrypto.RSA2048 || !intra.reuseKey || intra.out != "/etc/tls/intra" ||
		strings.Join(intra.names, ",") != "intra.example.test,*.intra.example.test" || intra.issuers[0] != "letsencrypt.org" {
		t.Fatalf("intra: %+v", intra)
	}

	bad := map[string]string{
		"cert a {\nnames www.example.test\n}":                                                                                         "no 'directory'",
		"directory https://ca/dir":                                                                                                    "no 'cert' block",
		"directory ftp://ca/dir\ncert a {\nnames www.example.test\n}":                                                                 "ACME directory URL",
		"directory https://ca/dir\ncert a {\nnames www.example.org\n}":                                                                "none of the zones",
		"directory https://ca/dir\ncert a {\n}":                                                                                       "no 'names'",
		"directory https://ca/dir\ncert a {\nnames www.example.test\nchallenge http-01\n}":                                            "dns-01, dns-account-01 or dns-persist-01",
		"directory https://ca/dir\ncert a {\nnames www.example.test\nkey-type dsa\n}":                                                 "key-type",
		"directory https://ca/dir\ncert a {\nnames www.example.test\nservice 443/tcp www\nttl 60\nholddown 60s\n}":                    "shorter than twice",
		"directory https://ca/dir\ncert a {\nnames www.example.test\nttl 60\n}":                                                       "add 'service'",
		"directory https://ca/dir\ncert a {\nnames www.example.test\nissuer letsencrypt.org\n}":                                       "for challenge dns-persist-01",
		"directory https://ca/dir\ncert a {\nnames www.example.test\nchallenge dns-persist-01\nissuer LE.org\n}":                      "lowercase",
		"directory https://ca/dir\ncert a {\nnames www.example.test\nservice 443/tcp www.example.org.\n}":                             "TLSA owner",
		"directory https://ca/dir\ncert a {\nnames www.example.test\nservice 443 www\n}":                                              "PORT/PROTO",
		"directory https://ca/dir\ncert a {\nnames www.example.test\nform 1 1 1\nservice 443/tcp www\n}":                              "not supported",
		"directory https://ca/dir\ncert a {\nnames www.example.test www.example.test\n}":                                              "listed twice",
		"directory https://ca/dir\ncert a {\nnames w*w.example.test\n}":                                                               "not a host name",
		"directory https://ca/dir\ncert a/b {\nnames www.example.test\n}":                                                             "without spaces or slashes",
		"directory https://ca/dir\ncert a {\nnames www.example.test\n}\ncert a {\nnames api.example.test\n}":                          "already used",
		"directory https://ca/dir\ncert a {\nnames www.example.test\nfrob\n}":                                                         "unknown property",
		"directory https://ca/dir\nfrob\ncert a {\nnames www.example.test\n}":                                                         "unknown property",
		"directory https://ca/dir\ncheck somewhere\ncert a {\nnames www.example.test\n}":                                              "want notify, ns, none",
		"directory https://ca/dir\nbackoff 1m 1s\ncert a {\nnames www.example.test\n}":                                                "below the minimum",
		"directory https://ca/dir\nca-root\ncert a {\nnames www.example.test\n}":                                                      "environment variable",
		"directory https://ca/dir\ncert a {\nnames www.example.test\nchallenge dns-persist-01\npersist-until 2001-01-01T00:00:00Z\n}": "past",
		"directory https://ca/dir\npersist-accounturi hashed\ncert a {\nnames www.example.test\n}":                                    "want auto, url, hash or hash-any-name",
		"directory https://ca/dir\nconcurrency 0\ncert a {\nnames www.example.test\n}":                                                "1 to 64",
		"directory https://ca/dir\nhttp 0.0.0.0:8554\ncert a {\nnames www.example.test\n}":                                            "loopback",
		"directory https://ca/dir\nhttp 127.0.0.1:1 x\ncert a {\nnames www.example.test\n}":                                           "Wrong argument count",
	}
	for body, want := range bad {
		c := caddy.NewTestController("dns", "certs example.test {\n"+body+"\n}")
		if _, err := parse(c); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want it to contain %q", body, err, want)
		}
	}
}

func TestParseUnclosed(t *testing.T) {
	c := caddy.NewTestController("dns", "certs example.test {\ndirectory https://ca/dir\ncert a {\nnames www.example.test")
	if _, err := parse(c); err == nil || !strings.Contains(err.Error(), "not closed") {
		t.Fatalf("unclosed cert block: %v", err)
	}
}

func TestZoneOf(t *testing.T) {
	b := &blockConfig{origins: []string{"example.test.", "intra.example.test."}}
	for name, want := range map[string]string{
		"www.example.test": "example.test.", "a.intra.example.test": "intra.example.test.",
		"intra.example.test.": "intra.example.test.", "example.org": "",
	} {
		if got := b.zoneOf(name); got != want {
			t.Errorf("zoneOf(%s) = %q, want %q", name, got, want)
		}
	}
}
