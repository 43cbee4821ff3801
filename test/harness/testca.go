package harness

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// TestCA is a certificate authority for tests: a root and an intermediate
// (ECDSA P-256) that issue end-entity certificates the way a public ACME CA
// does (leaf signed by the intermediate, the chain sent without the root).
type TestCA struct {
	Root, Inter       *x509.Certificate
	RootKey, InterKey *ecdsa.PrivateKey
}

var serials atomic.Int64

func serial() *big.Int { return big.NewInt(time.Now().UnixNano() + serials.Add(1)) }

// NewKey returns a new ECDSA P-256 key.
func NewKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// NewTestCA makes a root and an intermediate named after name.
func NewTestCA(t testing.TB, name string) *TestCA {
	t.Helper()
	ca := &TestCA{RootKey: NewKey(t), InterKey: NewKey(t)}
	now := time.Now()
	root := &x509.Certificate{
		SerialNumber: serial(), Subject: pkix.Name{CommonName: name + " Root"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(10 * 365 * 24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, root, root, ca.RootKey.Public(), ca.RootKey)
	if err != nil {
		t.Fatal(err)
	}
	ca.Root, _ = x509.ParseCertificate(der)
	ca.Inter = ca.issueCA(t, name+" Intermediate", ca.InterKey)
	return ca
}

func (ca *TestCA) issueCA(t testing.TB, cn string, key *ecdsa.PrivateKey) *x509.Certificate {
	t.Helper()
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial(), Subject: pkix.Name{CommonName: cn},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(5 * 365 * 24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, MaxPathLenZero: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Root, key.Public(), ca.RootKey)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return c
}

// Issue returns a server certificate for the DNS names with key's public
// key, valid from an hour ago for validity (90 days if 0), and its chain
// (leaf, intermediate).
func (ca *TestCA) Issue(t testing.TB, key crypto.Signer, validity time.Duration, names ...string) []*x509.Certificate {
	t.Helper()
	return ca.IssueAt(t, key, time.Now().Add(-time.Hour), validity, names...)
}

// IssueAt is Issue with an explicit notBefore.
func (ca *TestCA) IssueAt(t testing.TB, key crypto.Signer, notBefore time.Time, validity time.Duration, names ...string) []*x509.Certificate {
	t.Helper()
	if validity == 0 {
		validity = 90 * 24 * time.Hour
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(), Subject: pkix.Name{CommonName: names[0]}, DNSNames: names,
		NotBefore: notBefore, NotAfter: notBefore.Add(validity),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Inter, key.Public(), ca.InterKey)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	return []*x509.Certificate{leaf, ca.Inter}
}

// CertsPEM encodes certificates as PEM.
func CertsPEM(certs ...*x509.Certificate) []byte {
	var out []byte
	for _, c := range certs {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return out
}

// KeyPEM encodes a private key as PKCS#8 PEM.
func KeyPEM(t testing.TB, key crypto.Signer) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// WriteFile writes data to path (creating its folder) by writing a temporary
// file beside it and renaming it over path: readers never see a partial file.
func WriteFile(t testing.TB, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// SPKI311 is the TLSA "3 1 1" record data (SHA-256 of the
// SubjectPublicKeyInfo, lowercase hex) of a public key, computed here with
// the standard library, independently of the plugins under test.
func SPKI311(pub crypto.PublicKey) string {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		panic(err)
	}
	s := sha256.Sum256(der)
	return "3 1 1 " + hex.EncodeToString(s[:])
}

// ParseCerts reads the certificates of a PEM file, in order.
func ParseCerts(t testing.TB, data []byte) []*x509.Certificate {
	t.Helper()
	var out []*x509.Certificate
	for rest := data; ; {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			return out
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
	}
}
