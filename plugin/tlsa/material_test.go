package tlsa

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"testing"

	"github.com/dnspki/dnspki/test/harness"
)

func reasonOf(err error) string {
	var re *readError
	if errors.As(err, &re) {
		return re.reason
	}
	return ""
}

func TestParsePEM(t *testing.T) {
	ca := harness.NewTestCA(t, "pem")
	k := harness.NewKey(t)
	chain := ca.Issue(t, k, 0, "a.test")
	good := harness.CertsPEM(chain...)
	pc, err := parsePEM(append([]byte("subject=CN=a.test\nissuer=CN=x\n"), good...))
	if err != nil || len(pc.certs) != 2 {
		t.Fatalf("chain with openssl text lines: %v", err)
	}
	// combined key + chain (danebot's combo.pem)
	pc, err = parsePEM(append(harness.KeyPEM(t, k), good...))
	if err != nil || len(pc.certs) != 2 || pc.keys != 1 {
		t.Fatalf("combo: %v %+v", err, pc)
	}
	for i := 1; i < len(good); i += 37 {
		if _, err := parsePEM(good[:i]); err == nil {
			// Cut exactly after a complete block it is a valid shorter file.
			if p, _ := parsePEM(good[:i]); len(p.certs) == 2 {
				t.Fatalf("a file cut at %d of %d parsed as the whole chain", i, len(good))
			}
			continue
		} else if r := reasonOf(err); r != reasonIncomplete && r != reasonGarbage {
			t.Fatalf("cut at %d: reason %q (%v)", i, r, err)
		}
	}
	for _, c := range []struct {
		in     string
		reason string
	}{
		{"", reasonEmpty},
		{" \n\t", reasonEmpty},
		{"garbage", reasonGarbage},
		{"-----END CERTIFICATE-----\n", reasonIncomplete},
		{"-----BEGIN CERTIFICATE-----\nMIIB\n", reasonIncomplete},
		{"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n", reasonGarbage},
		{"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", reasonGarbage},
		{"-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00000000000000000000000000000000\n\nAAAA\n-----END RSA PRIVATE KEY-----\n", reasonEncrypted},
		{"-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n", reasonEncrypted},
	} {
		_, err := parsePEM([]byte(c.in))
		if reasonOf(err) != c.reason {
			t.Errorf("%q: %v (reason %q), want %q", c.in, err, reasonOf(err), c.reason)
		}
	}
}

func TestKeyTypes(t *testing.T) {
	rk, _ := rsa.GenerateKey(rand.Reader, 2048)
	_, ek, _ := ed25519.GenerateKey(rand.Reader)
	ec := harness.NewKey(t)
	ecDER, _ := x509.MarshalECPrivateKey(ec)
	for name, block := range map[string]*pem.Block{
		"pkcs1":   {Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rk)},
		"sec1":    {Type: "EC PRIVATE KEY", Bytes: ecDER},
		"ed25519": {Type: "PRIVATE KEY", Bytes: mustPKCS8(t, ek)},
		"pkcs8":   {Type: "PRIVATE KEY", Bytes: mustPKCS8(t, rk)},
	} {
		pc, err := parsePEM(pem.EncodeToMemory(block))
		if err != nil || pc.keys != 1 || len(pc.spkis) != 1 {
			t.Errorf("%s: %v", name, err)
		}
	}
	// openssl ecparam -genkey writes EC PARAMETERS first.
	params := "-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n"
	pc, err := parsePEM(append([]byte(params), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: ecDER})...))
	if err != nil || pc.keys != 1 {
		t.Errorf("ecparam output: %v", err)
	}
}

func mustPKCS8(t *testing.T, k any) []byte {
	b, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRecords(t *testing.T) {
	ca := harness.NewTestCA(t, "rec")
	k := harness.NewKey(t)
	chain := ca.Issue(t, k, 0, "a.test")
	m, _ := ChainMaterial(chain)
	forms := []Form{{3, 1, 1}, {3, 0, 1}, {3, 1, 2}, {2, 1, 1}, {2, 0, 2}}
	recs, noIssuer := currentRecords(m, forms)
	if noIssuer || len(recs) != 5 {
		t.Fatalf("%v %v", recs, noIssuer)
	}
	h := func(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }
	h5 := func(b []byte) string { s := sha512.Sum512(b); return hex.EncodeToString(s[:]) }
	want := []string{
		"3 1 1 " + h(chain[0].RawSubjectPublicKeyInfo),
		"3 0 1 " + h(chain[0].Raw),
		"3 1 2 " + h5(chain[0].RawSubjectPublicKeyInfo),
		"2 1 1 " + h(chain[1].RawSubjectPublicKeyInfo),
		"2 0 2 " + h5(chain[1].Raw),
	}
	for i, r := range recs {
		if r.String() != want[i] {
			t.Errorf("record %d: %s, want %s", i, r, want[i])
		}
		if !matches(m, r) {
			t.Errorf("%s does not match its own chain", r)
		}
	}
	// A bare key: 3 1 m for each DANE-EE matching type.
	km, _ := KeyMaterial(k.Public())
	next := nextRecords(km, forms)
	if len(next) != 2 || next[0].String() != want[0] || next[1].String() != want[2] {
		t.Fatalf("next records %v", next)
	}
	if matches(km, recs[1]) || matches(km, recs[3]) {
		t.Fatal("a bare key matched a 3 0 x or 2 x x record")
	}
	// The leaf alone: no issuer.
	leafOnly, _ := ChainMaterial(chain[:1])
	if recs, noIssuer := currentRecords(leafOnly, forms); !noIssuer || len(recs) != 3 {
		t.Fatalf("leaf only: %v %v", recs, noIssuer)
	}
}
