package xotls

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/dnspki/dnspki/plugin/pkg/atomicfile"
)

// SelfSigned returns the certificate in dir (xot.crt, xot.key), generating
// a self-signed one (ECDSA P-256, valid 10 years, for names and the
// loopback addresses) on first use. created tells whether it was made now.
// Secondaries authenticate it by its SPKI pin (strict) or not at all
// (opportunistic).
func SelfSigned(dir string, names []string) (cert tls.Certificate, certPath string, created bool, err error) {
	certPath, keyPath := filepath.Join(dir, "xot.crt"), filepath.Join(dir, "xot.key")
	cert, err = tls.LoadX509KeyPair(certPath, keyPath)
	if err == nil {
		return cert, certPath, false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return cert, certPath, false, fmt.Errorf("%s, %s: %w", certPath, keyPath, err)
	}
	if _, e1 := os.Stat(certPath); e1 == nil {
		return cert, certPath, false, fmt.Errorf("%s exists but %s does not", certPath, keyPath)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return cert, certPath, false, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return cert, certPath, false, err
	}
	cn := "dnspki XoT"
	if len(names) > 0 {
		cn = names[0]
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		DNSNames:              names,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return cert, certPath, false, err
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return cert, certPath, false, err
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return cert, certPath, false, err
	}
	// The key first, then the certificate: a crash in between leaves no
	// certificate, and the next start makes both again.
	if err := atomicfile.Write(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		return cert, certPath, false, err
	}
	if err := atomicfile.Write(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return cert, certPath, false, err
	}
	cert, err = tls.LoadX509KeyPair(certPath, keyPath)
	return cert, certPath, true, err
}

// LeafPin returns the SPKI pin of a loaded certificate's leaf.
func LeafPin(c tls.Certificate) (string, error) {
	if len(c.Certificate) == 0 {
		return "", errors.New("empty certificate")
	}
	leaf, err := x509.ParseCertificate(c.Certificate[0])
	if err != nil {
		return "", err
	}
	return Pin(leaf), nil
}
