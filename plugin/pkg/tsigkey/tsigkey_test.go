package tsigkey

import (
	"testing"
	"time"

	"github.com/miekg/dns"
)

func TestParseBIND(t *testing.T) {
	keys, err := ParseBIND(`# tsig-keygen -a hmac-sha256 acme-www.
key "acme-www." {
	algorithm hmac-sha256;
	secret "c2VjcmV0LWFjbWUtd3d3LWtleS0wMTIzNDU2Nzg5YWI=";
};
/* a second key */
key md5key { algorithm HMAC-MD5.SIG-ALG.REG.INT; secret "bWQ1LWtleS1mb3ItY2VydGJvdC10ZXN0cy0wMTIzNDU="; };
`)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 || keys[0].Name != "acme-www." || keys[0].Algorithm != dns.HmacSHA256 || keys[1].Algorithm != dns.HmacMD5 || keys[1].Name != "md5key." {
		t.Fatalf("keys: %+v", keys)
	}
	for _, bad := range []string{
		`key "x" { algorithm hmac-sha256; };`,
		`key "x" { algorithm hmac-foo; secret "YWJj"; };`,
		`key "x" { algorithm hmac-sha256; secret "not base64!"; };`,
		`key "x" { algorithm hmac-sha256; secret "YWJj" };`,
		``,
	} {
		if _, err := ParseBIND(bad); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

func TestKeyProviderBinding(t *testing.T) {
	k, err := New("acme-www", "hmac-sha256", "c2VjcmV0LWFjbWUtd3d3LWtleS0wMTIzNDU2Nzg5YWI=")
	if err != nil {
		t.Fatal(err)
	}
	m := new(dns.Msg)
	m.SetQuestion("example.test.", dns.TypeSOA)
	m.SetTsig("ACME-WWW.", dns.HmacSHA256, 300, time.Now().Unix())
	b, _, err := dns.TsigGenerateWithProvider(m.Copy(), k.Provider(), "", false)
	if err != nil {
		t.Fatalf("name in another case: %v", err)
	}
	if err := dns.TsigVerifyWithProvider(b, k.Provider(), "", false); err != nil {
		t.Fatalf("own signature does not verify: %v", err)
	}
	for _, tc := range []struct{ name, alg string }{{"acme-www.", dns.HmacSHA512}, {"other.", dns.HmacSHA256}} {
		m.Extra = nil
		m.SetTsig(tc.name, tc.alg, 300, time.Now().Unix())
		if _, _, err := dns.TsigGenerateWithProvider(m.Copy(), k.Provider(), "", false); err == nil {
			t.Errorf("%s %s: signed with a key bound to another name/algorithm", tc.name, tc.alg)
		}
	}
	// hmac-md5, which miekg/dns no longer implements.
	md, _ := New("acme-md5.", "hmac-md5", "bWQ1LWtleS1mb3ItY2VydGJvdC10ZXN0cy0wMTIzNDU=")
	m.Extra = nil
	m.SetTsig("acme-md5.", dns.HmacMD5, 300, time.Now().Unix())
	b, _, err = dns.TsigGenerateWithProvider(m.Copy(), md.Provider(), "", false)
	if err != nil {
		t.Fatal(err)
	}
	if err := dns.TsigVerifyWithProvider(b, md.Provider(), "", false); err != nil {
		t.Fatalf("hmac-md5: %v", err)
	}
	b[len(b)-20] ^= 1 // inside the MAC
	if err := dns.TsigVerifyWithProvider(b, md.Provider(), "", false); err == nil {
		t.Fatal("hmac-md5: damaged MAC verifies")
	}
}
