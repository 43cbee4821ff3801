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

// signedUpdate builds an UPDATE signed by key (with the ring's own HMAC, so
// hmac-md5 works) at time ts, encoded with or without name compression, and
// returns it as the server would see it: unpacked from the wire.
func signedUpdate(t *testing.T, r *Ring, key string, alg string, ts int64, compress bool) (*dns.Msg, []byte) {
	t.Helper()
	m := new(dns.Msg)
	m.SetUpdate("example.test.")
	rr, _ := dns.NewRR(`_acme-challenge.mail.example.test. 120 IN TXT "abc"`)
	m.Insert([]dns.RR{rr})
	m.Compress = compress
	m.SetTsig(key, alg, 300, ts)
	b, _, err := dns.TsigGenerateWithProvider(m, r.Provider(), "", false)
	if err != nil {
		t.Fatal(err)
	}
	got := new(dns.Msg)
	if err := got.Unpack(b); err != nil {
		t.Fatal(err)
	}
	return got, b
}

func TestVerifyMD5(t *testing.T) {
	r := NewRing()
	k, err := New("acme-md5.", "hmac-md5", "bWQ1LWtleS1mb3ItY2VydGJvdC10ZXN0cy0wMTIzNDU=")
	if err != nil {
		t.Fatal(err)
	}
	r.Add(k)
	now := time.Now().Unix()
	for _, compress := range []bool{true, false} {
		req, _ := signedUpdate(t, r, "acme-md5.", dns.HmacMD5, now, compress)
		// miekg/dns cannot check hmac-md5: the server's status is ErrKeyAlg.
		if key, f := r.Verify(req, dns.ErrKeyAlg); f != nil || key.Name != "acme-md5." {
			t.Fatalf("compress=%v: valid hmac-md5 request refused: %v", compress, f)
		}
		// The reply is signed so that the client can check it.
		reply := new(dns.Msg)
		reply.SetReply(req)
		b, err := r.Sign(reply, req)
		if err != nil {
			t.Fatal(err)
		}
		if err := dns.TsigVerifyWithProvider(b, r.Provider(), req.IsTsig().MAC, false); err != nil {
			t.Fatalf("signed reply does not verify: %v", err)
		}
	}
	// Tampered after signing.
	req, _ := signedUpdate(t, r, "acme-md5.", dns.HmacMD5, now, true)
	req.Ns[0].(*dns.TXT).Txt = []string{"abd"}
	if _, f := r.Verify(req, dns.ErrKeyAlg); f == nil || f.Rcode != dns.RcodeBadSig {
		t.Fatalf("tampered request: %v", f)
	}
	// Signed too long ago.
	req, _ = signedUpdate(t, r, "acme-md5.", dns.HmacMD5, now-3600, true)
	if _, f := r.Verify(req, dns.ErrKeyAlg); f == nil || f.Rcode != dns.RcodeBadTime {
		t.Fatalf("old request: %v", f)
	}
	// Signed with another secret.
	other := NewRing()
	k2, _ := New("acme-md5.", "hmac-md5", "b3RoZXItc2VjcmV0LW90aGVyLXNlY3JldA==")
	other.Add(k2)
	req, _ = signedUpdate(t, other, "acme-md5.", dns.HmacMD5, now, true)
	if _, f := r.Verify(req, dns.ErrKeyAlg); f == nil || f.Rcode != dns.RcodeBadSig {
		t.Fatalf("wrong secret: %v", f)
	}
}

func TestVerifyNameCase(t *testing.T) {
	r := NewRing()
	k, _ := New("acme-www.", "hmac-sha256", "c2VjcmV0LWFjbWUtd3d3LWtleS0wMTIzNDU2Nzg5YWI=")
	r.Add(k)
	// The server's secrets are keyed by the name as registered; a request
	// naming the key in upper case gets ErrSecret there and is checked here.
	req, _ := signedUpdate(t, r, "ACME-WWW.", dns.HmacSHA256, time.Now().Unix(), true)
	if key, f := r.Verify(req, dns.ErrSecret); f != nil || key.Name != "acme-www." {
		t.Fatalf("upper-case key name refused: %v", f)
	}
}
