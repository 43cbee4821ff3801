package tsigkey

import (
	"testing"

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

func TestVerifyAlgorithmBinding(t *testing.T) {
	r := NewRing()
	k, err := New("acme-www", "hmac-sha256", "c2VjcmV0LWFjbWUtd3d3LWtleS0wMTIzNDU2Nzg5YWI=")
	if err != nil {
		t.Fatal(err)
	}
	r.Add(k)
	m := new(dns.Msg)
	m.SetQuestion("example.test.", dns.TypeSOA)
	m.SetTsig("acme-www.", dns.HmacSHA256, 300, 0)
	if key, f := r.Verify(m, nil); f != nil || key.Name != "acme-www." {
		t.Fatalf("valid request refused: %v", f)
	}
	m.Extra = nil
	m.SetTsig("acme-www.", dns.HmacMD5, 300, 0)
	if _, f := r.Verify(m, nil); f == nil || f.Rcode != dns.RcodeBadKey {
		t.Fatalf("algorithm mismatch accepted: %v", f)
	}
	m.Extra = nil
	m.SetTsig("other.", dns.HmacSHA256, 300, 0)
	if _, f := r.Verify(m, nil); f == nil || f.Rcode != dns.RcodeBadKey {
		t.Fatalf("unknown key accepted: %v", f)
	}
	m.Extra = nil
	m.SetTsig("acme-www.", dns.HmacSHA256, 300, 0)
	if _, f := r.Verify(m, dns.ErrTime); f == nil || f.Rcode != dns.RcodeBadTime {
		t.Fatalf("bad time: %v", f)
	}
	if _, f := r.Verify(m, dns.ErrSig); f == nil || f.Rcode != dns.RcodeBadSig {
		t.Fatalf("bad sig: %v", f)
	}
}
