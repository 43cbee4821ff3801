package tlsa

import (
	"bytes"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/pem"
	"testing"

	"github.com/dnspki/dnspki/test/harness"
)

// FuzzParseMaterial reads arbitrary certificate and key files (and bodies of
// the HTTP API, which go through the same parser). What parses is usable:
// every key is a valid SubjectPublicKeyInfo, the material's records compute
// and match it; the certificates written out again read back as the same
// chain; and a file cut inside its last PEM block is refused, never read as
// a shorter chain (a half-written file).
func FuzzParseMaterial(f *testing.F) {
	ca := harness.NewTestCA(f, "fuzz")
	k := harness.NewKey(f)
	chain := ca.Issue(f, k, 0, "a.test")
	f.Add(harness.CertsPEM(chain...))
	f.Add(append([]byte("subject=CN=a.test\nissuer=CN=x\n"), harness.CertsPEM(chain...)...))
	f.Add(harness.KeyPEM(f, k))
	f.Add(append(harness.CertsPEM(chain[0]), harness.KeyPEM(f, k)...))
	der, _ := x509.MarshalPKIXPublicKey(k.Public())
	f.Add(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	_, edk, _ := ed25519.GenerateKey(bytes.NewReader(make([]byte, 64)))
	edDER, _ := x509.MarshalPKCS8PrivateKey(edk)
	f.Add(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: edDER}))
	f.Add([]byte("-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n"))
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERT"))
	forms := []Form{{3, 1, 1}, {3, 1, 2}, {3, 0, 1}, {2, 0, 1}, {2, 1, 1}, {3, 1, 0}}
	f.Fuzz(func(t *testing.T, data []byte) {
		pc, err := parsePEM(data)
		if err != nil {
			if reasonOf(err) == "" {
				t.Fatalf("error without a reason: %v", err)
			}
			if _, err2 := ParseMaterial(data); err2 == nil {
				t.Fatal("ParseMaterial accepts what parsePEM refuses")
			}
			return
		}
		for _, s := range pc.spkis {
			if _, err := x509.ParsePKIXPublicKey(s); err != nil {
				t.Fatalf("key that is not a valid SPKI: %v", err)
			}
		}
		if len(pc.certs) > 0 {
			var out []byte
			for _, c := range pc.certs {
				out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
			}
			again, err := parsePEM(out)
			if err != nil || len(again.certs) != len(pc.certs) {
				t.Fatalf("certificates written out do not read back: %v", err)
			}
			for i := range pc.certs {
				if !again.certs[i].Equal(pc.certs[i]) {
					t.Fatalf("certificate %d reads back as another", i)
				}
			}
		}
		m, err := ParseMaterial(data)
		if err != nil {
			if len(pc.certs) > 0 || len(pc.spkis) > 0 {
				t.Fatalf("ParseMaterial refuses usable contents: %v", err)
			}
			return
		}
		if _, err := x509.ParsePKIXPublicKey(m.SPKI); err != nil {
			t.Fatalf("material's SPKI: %v", err)
		}
		recs, _ := currentRecords(m, forms)
		if len(recs) == 0 {
			t.Fatal("no record for the material")
		}
		for _, r := range recs {
			if !matches(m, r) {
				t.Fatalf("record %s does not match its material", r)
			}
			if rr := r.RR("_443._tcp.a.test.", 60); rr.Certificate != r.Data {
				t.Fatalf("record %s renders as %v", r, rr)
			}
		}
		// A file cut inside its last block is incomplete.
		last := bytes.LastIndex(data, beginMarker)
		if last < 0 {
			return
		}
		endAt := bytes.Index(data[last+len(beginMarker):], endMarker)
		if endAt < 0 {
			t.Fatal("accepted a block without its end")
		}
		cut := last + len(beginMarker) + endAt/2
		if p, err := parsePEM(data[:cut]); err == nil {
			t.Fatalf("a file cut inside its last block (at %d of %d) was read: %d certificates, %d keys", cut, len(data), len(p.certs), len(p.spkis))
		}
	})
}
