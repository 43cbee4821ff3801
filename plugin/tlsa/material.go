package tlsa

import (
	"bytes"
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"
)

// Material is public key material TLSA records are made from: a certificate
// chain (leaf first, as a server sends it) or a bare public key (a staged next
// key that has no certificate yet).
type Material struct {
	// Chain is the certificate chain, leaf first; nil for a bare key.
	Chain []*x509.Certificate
	// SPKI is the DER SubjectPublicKeyInfo of the leaf or of the bare key.
	SPKI []byte
}

// IsKey reports whether m is a bare public key (no certificate).
func (m Material) IsKey() bool { return len(m.Chain) == 0 }

// Leaf returns the end-entity certificate, or nil for a bare key.
func (m Material) Leaf() *x509.Certificate {
	if len(m.Chain) == 0 {
		return nil
	}
	return m.Chain[0]
}

// ChainMaterial makes material from a certificate chain, leaf first.
func ChainMaterial(chain []*x509.Certificate) (Material, error) {
	if len(chain) == 0 || chain[0] == nil {
		return Material{}, errors.New("empty certificate chain")
	}
	return Material{Chain: chain, SPKI: chain[0].RawSubjectPublicKeyInfo}, nil
}

// KeyMaterial makes material from a public key (or a private key's public
// half: pass priv.Public()).
func KeyMaterial(pub crypto.PublicKey) (Material, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return Material{}, err
	}
	return Material{SPKI: der}, nil
}

// ParseMaterial reads PEM data holding certificates (a chain, leaf first), a
// public key or a private key (only its public half is kept).
func ParseMaterial(data []byte) (Material, error) {
	pc, err := parsePEM(data)
	if err != nil {
		return Material{}, err
	}
	if len(pc.certs) > 0 {
		return ChainMaterial(pc.certs)
	}
	if len(pc.spkis) > 0 {
		return Material{SPKI: pc.spkis[0]}, nil
	}
	return Material{}, &readError{reason: reasonGarbage, err: errors.New("no certificate or key in the PEM data")}
}

// Error reasons, the reason label of coredns_dnspki_tlsa_errors_total.
const (
	reasonMissing     = "missing"      // file does not exist
	reasonUnreadable  = "unreadable"   // file exists but cannot be read (permissions)
	reasonEmpty       = "empty"        // file is empty
	reasonIncomplete  = "incomplete"   // a PEM block without its end: half written
	reasonGarbage     = "garbage"      // not PEM, or PEM that does not parse
	reasonNoCert      = "no_cert"      // PEM without a certificate
	reasonEncrypted   = "encrypted"    // encrypted private key
	reasonKeyMismatch = "key_mismatch" // key file does not belong to the certificate
	reasonExpired     = "expired"      // the certificate's notAfter has passed
	reasonNoIssuer    = "no_issuer"    // 2 x x form but the issuer is not in the file
	reasonNextInvalid = "next_invalid" // a next-key file does not parse
	reasonRefused     = "refused"      // the zone model refused the records
	reasonStore       = "store"        // storing the change failed
)

// readError is why an input file was not usable.
type readError struct {
	reason string
	path   string
	err    error
	sum    [32]byte // of the content that failed (to tell one bad file from the next)
}

func (e *readError) Error() string {
	if e.path == "" {
		return e.err.Error()
	}
	return e.path + ": " + e.err.Error()
}

func (e *readError) Unwrap() error { return e.err }

// pemContents is what a PEM file holds.
type pemContents struct {
	certs []*x509.Certificate
	spkis [][]byte // public keys (PUBLIC KEY blocks and the public half of private keys)
	keys  int      // private keys among spkis
}

var (
	beginMarker = []byte("-----BEGIN ")
	endMarker   = []byte("-----END ")
)

// parsePEM reads PEM data strictly: every block that begins must end and
// decode (a half-written file is refused, not read as a shorter chain); text
// between blocks (openssl's "subject=" lines) is allowed.
func parsePEM(data []byte) (*pemContents, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, &readError{reason: reasonEmpty, err: errors.New("empty")}
	}
	pc := &pemContents{}
	rest := data
	blocks := 0
	for {
		i := bytes.Index(rest, beginMarker)
		if i < 0 {
			// Text may follow the last block, but no piece of a PEM line: a
			// file cut inside a "-----BEGIN" line is incomplete, not a
			// shorter chain.
			if bytes.Contains(rest, []byte("-----")) || bytes.HasSuffix(bytes.TrimSpace(rest), []byte("-")) {
				return nil, &readError{reason: reasonIncomplete, err: errors.New("a PEM line cut short (file incomplete?)")}
			}
			break
		}
		if bytes.Contains(rest[:i], []byte("-----")) {
			return nil, &readError{reason: reasonGarbage, err: errors.New("a PEM line outside a block")}
		}
		rest = rest[i:]
		j := bytes.Index(rest[len(beginMarker):], endMarker)
		if j < 0 {
			return nil, &readError{reason: reasonIncomplete, err: errors.New("PEM block without its end line (file incomplete?)")}
		}
		end := len(beginMarker) + j + len(endMarker)
		// The end line runs to "-----" and the line break.
		k := bytes.Index(rest[end:], []byte("-----"))
		if k < 0 {
			return nil, &readError{reason: reasonIncomplete, err: errors.New("PEM end line cut short (file incomplete?)")}
		}
		end += k + 5
		if end < len(rest) && rest[end] == '\r' {
			end++
		}
		if end < len(rest) && rest[end] == '\n' {
			end++
		}
		block, tail := pem.Decode(rest[:end])
		if block == nil || len(bytes.TrimSpace(tail)) != 0 {
			return nil, &readError{reason: reasonGarbage, err: fmt.Errorf("PEM block %d does not decode", blocks+1)}
		}
		rest = rest[end:]
		blocks++
		if err := pc.add(block); err != nil {
			return nil, err
		}
	}
	if blocks == 0 {
		return nil, &readError{reason: reasonGarbage, err: errors.New("no PEM data")}
	}
	return pc, nil
}

func (pc *pemContents) add(b *pem.Block) error {
	if _, enc := b.Headers["Proc-Type"]; enc || b.Type == "ENCRYPTED PRIVATE KEY" {
		return &readError{reason: reasonEncrypted, err: errors.New("encrypted private key (dnspki reads unencrypted keys only)")}
	}
	switch b.Type {
	case "CERTIFICATE":
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return &readError{reason: reasonGarbage, err: fmt.Errorf("certificate %d: %v", len(pc.certs)+1, err)}
		}
		pc.certs = append(pc.certs, c)
	case "PUBLIC KEY":
		if _, err := x509.ParsePKIXPublicKey(b.Bytes); err != nil {
			return &readError{reason: reasonGarbage, err: fmt.Errorf("public key: %v", err)}
		}
		pc.spkis = append(pc.spkis, bytes.Clone(b.Bytes))
	case "PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY":
		pub, err := publicOf(b)
		if err != nil {
			return &readError{reason: reasonGarbage, err: fmt.Errorf("private key: %v", err)}
		}
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			return &readError{reason: reasonGarbage, err: fmt.Errorf("private key: %v", err)}
		}
		pc.spkis = append(pc.spkis, der)
		pc.keys++
	case "EC PARAMETERS":
		// openssl ecparam -genkey writes the curve before the key.
	default:
		// Other blocks (DH parameters, ...) are not ours.
	}
	return nil
}

// publicOf returns the public half of a private key block.
func publicOf(b *pem.Block) (crypto.PublicKey, error) {
	var k any
	var err error
	switch b.Type {
	case "RSA PRIVATE KEY":
		k, err = x509.ParsePKCS1PrivateKey(b.Bytes)
	case "EC PRIVATE KEY":
		k, err = x509.ParseECPrivateKey(b.Bytes)
	default:
		k, err = x509.ParsePKCS8PrivateKey(b.Bytes)
	}
	if err != nil {
		return nil, err
	}
	switch k := k.(type) {
	case *rsa.PrivateKey:
		return k.Public(), nil
	case *ecdsa.PrivateKey:
		return k.Public(), nil
	case ed25519.PrivateKey:
		return k.Public(), nil
	case *ecdh.PrivateKey:
		return k.Public(), nil
	}
	return nil, fmt.Errorf("unsupported key type %T", k)
}

// readPEMFile reads and parses one file. A file that does not exist gives a
// readError with reasonMissing; one that exists but cannot be read (not
// readable by dnspki's user) reasonUnreadable: that is never taken for an
// absent file.
func readPEMFile(path string) (*pemContents, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		reason := reasonMissing
		if !errors.Is(err, fs.ErrNotExist) {
			reason = reasonUnreadable
			err = fmt.Errorf("%w (can dnspki's user read it? see \"Who reads which files\" in the tlsa README)", err)
		}
		return nil, &readError{reason: reason, path: path, err: err}
	}
	pc, err := parsePEM(data)
	if err != nil {
		var re *readError
		if !errors.As(err, &re) {
			re = &readError{reason: reasonGarbage, err: err}
		}
		re.path = path
		re.sum = sha256.Sum256(data)
		return nil, re
	}
	return pc, nil
}

// certMaterial checks a parsed certificate file: it has a certificate, the
// leaf is not expired.
func certMaterial(pc *pemContents, path string, now time.Time) (Material, error) {
	if len(pc.certs) == 0 {
		return Material{}, &readError{reason: reasonNoCert, path: path, err: errors.New("no certificate in the file")}
	}
	m, _ := ChainMaterial(pc.certs)
	if leaf := m.Leaf(); now.After(leaf.NotAfter) {
		return Material{}, &readError{reason: reasonExpired, path: path, err: fmt.Errorf("certificate %s expired at %s", leaf.Subject, leaf.NotAfter.UTC().Format(time.RFC3339))}
	}
	return m, nil
}

// issuerOf returns the certificate in the chain that signed the leaf, or nil.
func issuerOf(chain []*x509.Certificate) *x509.Certificate {
	if len(chain) < 2 {
		return nil
	}
	leaf := chain[0]
	for _, c := range chain[1:] {
		if bytes.Equal(c.RawSubject, leaf.RawIssuer) && leaf.CheckSignatureFrom(c) == nil {
			return c
		}
	}
	return nil
}
