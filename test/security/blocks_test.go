package security

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/dnspki/dnspki/test/harness"
)

// Keys of other server blocks and of the stock tsig plugin.
var (
	keyOtherACME = &harness.TSIGKey{Name: "other-acme.", Algorithm: "hmac-sha256", Secret: "b3RoZXItYmxvY2stYWNtZS1rZXktc2VjdXJpdHktMDE="}
	keyOtherXFR  = &harness.TSIGKey{Name: "other-xfr.", Algorithm: "hmac-sha256", Secret: "b3RoZXItYmxvY2steGZyLWtleS1zZWN1cml0eS0wMQ=="}
	keyStock     = &harness.TSIGKey{Name: "stock-key.", Algorithm: "hmac-sha256", Secret: "c3RvY2stdHNpZy1wbHVnaW4ta2V5LXNlY3VyaXR5LTAx"}
)

func zoneFile(origin string) string {
	return fmt.Sprintf(`$ORIGIN %s
$TTL 300
@   IN SOA ns1 hostmaster 1 3600 600 86400 60
    IN NS  ns1
ns1 IN A   192.0.2.53
www IN A   192.0.2.200
`, origin)
}

// mustNotStart runs dnspki with corefile in dir and asserts that it exits
// with an error whose output matches every pattern.
func mustNotStart(t *testing.T, dir, corefile string, patterns ...string) {
	t.Helper()
	write(t, filepath.Join(dir, "Corefile"), corefile)
	out, err := harness.Run(t, 60*time.Second, dir, harness.Dnspki(t), "-conf", "Corefile")
	if err == nil || strings.Contains(err.Error(), "timed out") {
		t.Fatalf("dnspki started (or did not stop): %v\n%s", err, out)
	}
	for _, p := range patterns {
		if !regexp.MustCompile(p).MatchString(out) {
			t.Errorf("the startup error does not match %q:\n%s", p, out)
		}
	}
}

// TestKeysScopedToBlock: a TSIG key is valid in the server block that
// defines it and nowhere else. On one listener (one port, one address),
// block A serves example.test (acme-www., xfr-external.), block B
// other.test (other-acme., other-xfr.), block C third.test with the ACME
// key third-acme. and, for stock.test, the stock tsig plugin with
// stock-key. The DNS server holds all those secrets (one map per listener)
// and verifies their MACs, yet UPDATE, AXFR, IXFR and signed queries of
// example.test signed with B's or C's keys are BADKEY ("unknown TSIG key"),
// and those of third.test signed with the stock plugin's key or B's are
// BADKEY too ("not a key of this server block's dnspki plugins"); each is
// logged with the key, the name and why, and nothing changes. Each key
// works where it is defined. A view selector naming another block's key,
// or the stock plugin's, does not start.
func TestKeysScopedToBlock(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "public.zone"), publicZone)
	for _, z := range []string{"other", "third", "stock"} {
		write(t, filepath.Join(dir, z+".zone"), zoneFile(z+".test."))
	}
	keyThird := &harness.TSIGKey{Name: "third-acme.", Algorithm: "hmac-sha256", Secret: "dGhpcmQtYmxvY2stYWNtZS1rZXktc2VjdXJpdHktMDE="}
	port, mp := harness.FreePort(t), harness.FreePort(t)
	blocks := func(extraA string) string {
		return fmt.Sprintf(`example.test:%[1]d {
    bind 127.0.0.1
    prometheus 127.0.0.1:%[2]d
    acmechallenge example.test {
        key %[3]s %[4]s %[5]s
        grant %[3]s name www.example.test
    }
    authzone example.test {
        file public.zone
        key %[6]s %[7]s %[8]s
        transfer to * key %[6]s
    }
%[9]s
}
other.test:%[1]d {
    bind 127.0.0.1
    acmechallenge other.test {
        key %[10]s %[11]s %[12]s
        grant %[10]s name www.other.test
    }
    authzone other.test {
        file other.zone
        key %[13]s %[14]s %[15]s
        transfer to * key %[13]s
    }
}
third.test:%[1]d stock.test:%[1]d {
    bind 127.0.0.1
    tsig stock.test {
        secret %[16]s %[17]s
    }
    acmechallenge third.test {
        key %[18]s %[19]s %[20]s
        grant %[18]s name www.third.test
    }
    authzone third.test {
        file third.zone
    }
    authzone stock.test {
        file stock.zone
    }
}
`, port, mp, keyWWW.Name, keyWWW.Algorithm, keyWWW.Secret, keyExt.Name, keyExt.Algorithm, keyExt.Secret, extraA,
			keyOtherACME.Name, keyOtherACME.Algorithm, keyOtherACME.Secret, keyOtherXFR.Name, keyOtherXFR.Algorithm, keyOtherXFR.Secret,
			keyStock.Name, keyStock.Secret, keyThird.Name, keyThird.Algorithm, keyThird.Secret)
	}

	// Another block's key, or the stock plugin's, cannot select a view
	// here: startup errors naming the key.
	for _, k := range []*harness.TSIGKey{keyOtherXFR, keyStock, keyThird} {
		mustNotStart(t, dir, blocks(fmt.Sprintf("    horizon {\n        view a {\n            key %s\n        }\n        view b\n    }", k.Name)),
			`view a selects by key `+regexp.QuoteMeta(k.Name)+`, which no dnspki plugin of this server block defines`)
	}

	s := harness.StartDnspki(t, dir, blocks(""), port)
	for _, z := range []string{zone, "other.test.", "third.test."} {
		harness.WaitDNS(t, s.Addr, z, 30*time.Second, s.Proc)
	}
	metrics := fmt.Sprintf("http://127.0.0.1:%d/metrics", mp)
	c := harness.NewClient("127.0.0.2", port)
	serials := map[string]uint32{}
	for _, z := range []string{zone, "third.test."} {
		serials[z] = harness.MustSerial(t, s.Addr, z)
	}
	changes := harness.Metric(t, metrics, "coredns_dnspki_zone_changes_total", nil)

	var pc pacer
	for _, a := range []struct {
		zone string
		keys []*harness.TSIGKey
		why  func(k *harness.TSIGKey) string
	}{
		{zone, []*harness.TSIGKey{keyOtherACME, keyOtherXFR, keyStock, keyThird}, func(k *harness.TSIGKey) string {
			return `unknown TSIG key ` + regexp.QuoteMeta(k.Name)
		}},
		{"third.test.", []*harness.TSIGKey{keyStock, keyOtherACME, keyWWW}, func(k *harness.TSIGKey) string {
			return `TSIG key ` + regexp.QuoteMeta(k.Name) + ` is not a key of this server block's dnspki plugins`
		}},
	} {
		origin := regexp.QuoteMeta(a.zone)
		for _, k := range a.keys {
			upd := addTXT("_acme-challenge.www."+a.zone, val1)
			upd.Question[0].Name = a.zone
			axfr, ixfr := new(dns.Msg), new(dns.Msg)
			axfr.SetAxfr(a.zone)
			ixfr.SetIxfr(a.zone, serials[a.zone]-1, "ns1."+a.zone, "hostmaster."+a.zone)
			for _, m := range []struct {
				msg *dns.Msg
				log string
			}{
				{upd, `UPDATE ` + origin},
				{axfr, `AXFR ` + origin},
				{ixfr, `IXFR ` + origin},
				{queryMsg("www."+a.zone, dns.TypeA), `A www\.` + origin},
			} {
				for _, tcp := range []bool{false, true} {
					pc.take(1)
					mark := s.LogMark()
					b, _ := signNow(t, m.msg, k)
					r, _ := rawExchange(t, c, b, tcp)
					ts := r.IsTsig()
					if r.Rcode != dns.RcodeNotAuth || ts == nil || ts.Error != dns.RcodeBadKey || ts.MACSize != 0 || len(r.Answer) > 0 {
						t.Errorf("%s signed with %s (tcp=%v): %s, want NOTAUTH/BADKEY, unsigned", m.msg.Question[0].String(), k.Name, tcp, describe(r))
					}
					logged(t, s.Proc, mark, 1, `plugin/dnspki-tsig: `+m.log+` from `+src(c)+`, key `+regexp.QuoteMeta(k.Name)+`: refused \(NOTAUTH/BADKEY\): `+a.why(k))
				}
			}
		}
	}
	for z, serial := range serials {
		if got := harness.MustSerial(t, s.Addr, z); got != serial {
			t.Errorf("the serial of %s moved %d -> %d", z, serial, got)
		}
		if got := harness.TXTValues(t, s.Addr, "_acme-challenge.www."+z); got != nil {
			t.Errorf("the challenge of %s was set: %v", z, got)
		}
	}
	if got := harness.Metric(t, metrics, "coredns_dnspki_zone_changes_total", nil); got != changes {
		t.Errorf("zone_changes_total %v -> %v", changes, got)
	}
	if rrs, err := c.Transfer(ixfrMsg(serials[zone]), keyExt); err != nil || len(rrs) != 1 {
		t.Errorf("IXFR from %d (the journal must not have moved): %v %v", serials[zone], rrs, err)
	}

	// Each key works where it is defined.
	for _, k := range []struct {
		k    *harness.TSIGKey
		zone string
	}{{keyWWW, zone}, {keyOtherACME, "other.test."}, {keyThird, "third.test."}} {
		m := addTXT("_acme-challenge.www."+k.zone, val2)
		m.Question[0].Name = k.zone
		b, mac := signNow(t, m, k.k)
		r, raw := rawExchange(t, c, b, false)
		if r.Rcode != dns.RcodeSuccess || verifyReply(t, raw, k.k, mac) != nil {
			t.Errorf("%s on %s: %s", k.k.Name, k.zone, describe(r))
		}
	}
	axfr := new(dns.Msg)
	axfr.SetAxfr("other.test.")
	if rrs, err := c.Transfer(axfr, keyOtherXFR); err != nil || len(rrs) < 4 {
		t.Errorf("AXFR of other.test with other-xfr.: %v %v", rrs, err)
	}
	b, mac := signNow(t, queryMsg("www.stock.test.", dns.TypeA), keyStock)
	if r, raw := rawExchange(t, c, b, false); r.Rcode != dns.RcodeSuccess || verifyReply(t, raw, keyStock, mac) != nil {
		t.Errorf("a query of stock.test signed with the stock plugin's key: %s", describe(r))
	}
}

// TestConflictingKeySecretsDoNotStart: the DNS server keeps one secret per
// key name and listener, so two server blocks on one listener that define
// one key name with two secrets would verify one block's key with the
// other's secret. dnspki does not start, and says which key, where, and
// the fix; with one secret the configuration starts.
func TestConflictingKeySecretsDoNotStart(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "public.zone"), publicZone)
	write(t, filepath.Join(dir, "other.zone"), zoneFile("other.test."))
	port := harness.FreePort(t)
	conf := func(secretB string) string {
		return fmt.Sprintf(`example.test:%[1]d {
    bind 127.0.0.1
    acmechallenge example.test {
        key shared. hmac-sha256 %[2]s
        grant shared. name www.example.test
    }
    authzone example.test {
        file public.zone
    }
}
other.test:%[1]d {
    bind 127.0.0.1
    authzone other.test {
        file other.zone
        key shared. hmac-sha256 %[3]s
        transfer to * key shared.
    }
}
`, port, keyWWW.Secret, secretB)
	}
	mustNotStart(t, dir, conf(keyOtherACME.Secret),
		`TSIG key shared\. has different secrets in two server blocks on the same listener \(acmechallenge.*Corefile:\d+ and authzone.*Corefile:\d+\).*give each secret its own key name`)
	s := harness.StartDnspki(t, dir, conf(keyWWW.Secret), port)
	harness.WaitDNS(t, s.Addr, "other.test.", 30*time.Second, s.Proc)
}
