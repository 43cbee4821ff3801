package acmechallenge

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/dnspki/dnspki/plugin/pkg/dnsaccount"
)

// Two ACME accounts' dns-account-01 owners of www and mail.
var (
	acct1  = "https://ca.example/acme/acct/1"
	acct2  = "https://ca.example/acme/acct/2"
	www1   = dnsaccount.Owner("www.example.test", acct1)
	www2   = dnsaccount.Owner("www.example.test", acct2)
	mail1  = dnsaccount.Owner("mail.example.test", acct1)
	mail2  = dnsaccount.Owner("mail.example.test", acct2)
	intra1 = dnsaccount.Owner("h.intra.example.test", acct1)
	api1   = dnsaccount.Owner("api.example.test", acct1)
)

// The grants of account labels: acme-www. may set the dns-account-01 record
// of www for any account, acme-md5. that of mail for account 1 only; the
// other grants (no `account`) keep today's rule: only _acme-challenge.
const accountGrants = `grant acme-www. name www.example.test account any
	grant acme-md5. name mail.example.test account ` + "https://ca.example/acme/acct/1" + `
	grant lego name api.example.test account any
	expire 1h`

func TestAccountLabels(t *testing.T) {
	f := newFixture(t, accountGrants)
	// Two accounts' records and the dns-01 one side by side at www.
	wantRcode(t, f.send(update(txtRR(www1, v1), txtRR(www2, v2), txtRR(wwwCh, v3)), &wwwKey), dns.RcodeSuccess)
	if !slices.Equal(f.txt(www1), []string{v1}) || !slices.Equal(f.txt(www2), []string{v2}) || !slices.Equal(f.txt(wwwCh), []string{v3}) {
		t.Fatalf("served: %v %v %v", f.txt(www1), f.txt(www2), f.txt(wwwCh))
	}
	// One account's cleanup leaves the other's record.
	del := new(dns.Msg)
	del.SetUpdate(origin)
	del.Remove([]dns.RR{txtRR(www1, v1)})
	wantRcode(t, f.send(del, &wwwKey), dns.RcodeSuccess)
	if f.txt(www1) != nil || !slices.Equal(f.txt(www2), []string{v2}) {
		t.Fatalf("after one cleanup: %v %v", f.txt(www1), f.txt(www2))
	}
	// Values are checked as for dns-01.
	s0 := f.serial()
	wantRcode(t, f.send(update(txtRR(www1, "not a digest")), &wwwKey), dns.RcodeRefused)
	// acme-md5.: its account only.
	wantRcode(t, f.send(update(txtRR(mail1, v1)), &md5Key), dns.RcodeSuccess)
	s1 := f.serial()
	for _, c := range []struct {
		what  string
		m     *dns.Msg
		k     *key
		owner string
	}{
		{"another account's label", update(txtRR(mail2, v1)), &md5Key, mail2},
		{"a name outside the grant", update(txtRR(dnsaccount.Owner("www.example.test", acct1), v2)), &md5Key, ""},
		{"no account grant (subdomain, default)", update(txtRR(intra1, v1)), &wwwKey, intra1},
		{"no account grant (self, default)", update(txtRR(dnsaccount.Owner("host.intra.example.test", acct1), v1)), &hostKey, dnsaccount.Owner("host.intra.example.test", acct1)},
		{"not an account label", update(txtRR("_x._acme-challenge.www.example.test.", v1)), &wwwKey, "_x._acme-challenge.www.example.test."},
	} {
		wantRcode(t, f.send(c.m, c.k), dns.RcodeRefused)
		if c.owner != "" && f.txt(c.owner) != nil {
			t.Errorf("%s: applied", c.what)
		}
		if f.serial() != s1 {
			t.Fatalf("%s: the serial moved", c.what)
		}
	}
	if s1 != s0+1 {
		t.Fatalf("serial %d -> %d for one accepted UPDATE", s0, s1)
	}
	// Prerequisites: only about owners the key may change.
	m := new(dns.Msg)
	m.SetUpdate(origin)
	m.NameUsed([]dns.RR{txtRR(mail2, "")})
	m.Insert([]dns.RR{txtRR(mail1, v2)})
	wantRcode(t, f.send(m, &md5Key), dns.RcodeRefused)
	m = new(dns.Msg)
	m.SetUpdate(origin)
	m.NameUsed([]dns.RR{txtRR(mail1, "")})
	m.Insert([]dns.RR{txtRR(mail1, v2)})
	wantRcode(t, f.send(m, &md5Key), dns.RcodeSuccess)

	// They expire like dns-01 records.
	f.z.expire(time.Now().Add(2 * time.Hour))
	for _, n := range []string{www2, wwwCh, mail1} {
		if f.txt(n) != nil {
			t.Fatalf("%s did not expire", n)
		}
	}
}

// The HTTP API takes account owners: lego httpreq's fqdn, and acme-dns's
// subdomain given as the full owner (not prefixed with _acme-challenge).
func TestAccountLabelsHTTP(t *testing.T) {
	f := newFixture(t, accountGrants)
	api := f.a.api
	if w := post(t, api.lego(true), `{"fqdn":"`+api1+`","value":"`+v1+`"}`, basic("lego", "lego-pass")); w.Code != 200 {
		t.Fatalf("httpreq present: %d %s", w.Code, w.Body)
	}
	if !slices.Equal(f.txt(api1), []string{v1}) {
		t.Fatalf("served %v", f.txt(api1))
	}
	hdr := map[string]string{"X-Api-User": "lego", "X-Api-Key": "lego-pass"}
	if w := post(t, api.acmeDNS, `{"subdomain":"`+strings.TrimSuffix(strings.ToUpper(api1), ".")+`","txt":"`+v2+`"}`, hdr); w.Code != 200 {
		t.Fatalf("acme-dns update: %d %s", w.Code, w.Body)
	}
	if got := f.txt(api1); len(got) != 2 || f.txt("_acme-challenge."+api1) != nil {
		t.Fatalf("acme-dns owner: %v / %v", got, f.txt("_acme-challenge."+api1))
	}
	// Not granted: another name's account owner.
	if w := post(t, api.lego(true), `{"fqdn":"`+www1+`","value":"`+v1+`"}`, basic("lego", "lego-pass")); w.Code != 403 {
		t.Fatalf("other name: %d %s", w.Code, w.Body)
	}
}

func TestAccountGrantSyntax(t *testing.T) {
	key := "key k. hmac-sha256 " + wwwSecret + "\n"
	a, err := parse(newController("acmechallenge example.test {\n" + key + "grant k. name www.example.test mail.example.test account _ujmmovf2vn55tgye https://ca.example/acme/acct/1\n}"))
	if err != nil {
		t.Fatal(err)
	}
	for _, owner := range []string{"_ujmmovf2vn55tgye._acme-challenge.www.example.test.", mail1, "_acme-challenge.mail.example.test."} {
		if a.policy.Find("k.", owner, dns.TypeTXT) == nil {
			t.Errorf("%s not granted", owner)
		}
	}
	if a.policy.Find("k.", mail2, dns.TypeTXT) != nil {
		t.Error("another account granted")
	}
	for _, c := range []struct{ in, want string }{
		{key + "grant k. name www.example.test account", "want any, or account labels"},
		{key + "grant k. name www.example.test account _x", "account \"_x\""},
		{key + "grant k. name www.example.test account any _ujmmovf2vn55tgye", "no labels beside it"},
		{key + "grant k. persist name www.example.test account any", "not validation records"},
		{key + "grant k. name account any", "which domains"},
	} {
		_, err := parse(newController("acmechallenge example.test {\n" + c.in + "\n}"))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want %q", c.in, err, c.want)
		}
	}
}
