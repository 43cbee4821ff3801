package certs

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/go-acme/lego/v5/certcrypto"
)

// writeError is a failure to write output or state files (a full disk, a
// read-only folder): nothing already in place was changed.
type writeError struct{ err error }

func (e *writeError) Error() string { return e.err.Error() }
func (e *writeError) Unwrap() error { return e.err }

// fileSpec is one file of a set written together.
type fileSpec struct {
	path string
	data []byte
	mode os.FileMode
}

// writeFiles writes a set of files in two phases: every file goes to a
// temporary file beside it (written, synced), and only when all of them are
// written are they renamed into place, then the folders synced. A failure in
// the first phase (a full disk) leaves every existing file as it was.
func writeFiles(files []fileSpec) error {
	type staged struct{ tmp, path string }
	var done []staged
	cleanup := func() {
		for _, s := range done {
			os.Remove(s.tmp)
		}
	}
	for _, f := range files {
		dir := filepath.Dir(f.path)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			cleanup()
			return &writeError{err}
		}
		tmp, err := os.CreateTemp(dir, "."+filepath.Base(f.path)+".tmp-*")
		if err != nil {
			cleanup()
			return &writeError{err}
		}
		done = append(done, staged{tmp.Name(), f.path})
		err = tmp.Chmod(f.mode)
		if err == nil {
			_, err = tmp.Write(f.data)
		}
		if err == nil {
			err = tmp.Sync()
		}
		if cerr := tmp.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			cleanup()
			return &writeError{fmt.Errorf("writing %s: %w", f.path, err)}
		}
	}
	dirs := map[string]bool{}
	for i, s := range done {
		if err := os.Rename(s.tmp, s.path); err != nil {
			for _, r := range done[i:] {
				os.Remove(r.tmp)
			}
			return &writeError{fmt.Errorf("renaming into %s: %w", s.path, err)}
		}
		dirs[filepath.Dir(s.path)] = true
	}
	for d := range dirs {
		if f, err := os.Open(d); err == nil {
			f.Sync()
			f.Close()
		}
	}
	return nil
}

// certbot's file names in a certificate's folder.
const (
	fileCert      = "cert.pem"
	fileChain     = "chain.pem"
	fileFullchain = "fullchain.pem"
	filePrivkey   = "privkey.pem"
)

// issued is a certificate with its key.
type issued struct {
	chain []*x509.Certificate // leaf first
	key   crypto.Signer
}

func (is *issued) leaf() *x509.Certificate { return is.chain[0] }

func certsPEM(certs []*x509.Certificate) []byte {
	var b bytes.Buffer
	for _, c := range certs {
		pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	return b.Bytes()
}

func keyPEM(k crypto.Signer) []byte { return certcrypto.PEMEncode(k) }

// outputFiles is the certbot layout of a certificate: cert.pem (the leaf),
// chain.pem (the intermediates), fullchain.pem (both), privkey.pem (0600).
func outputFiles(dir string, is *issued) []fileSpec {
	return []fileSpec{
		{filepath.Join(dir, filePrivkey), keyPEM(is.key), 0o600},
		{filepath.Join(dir, fileCert), certsPEM(is.chain[:1]), 0o644},
		{filepath.Join(dir, fileChain), certsPEM(is.chain[1:]), 0o644},
		{filepath.Join(dir, fileFullchain), certsPEM(is.chain), 0o644},
	}
}

// parseChain reads PEM certificates, leaf first.
func parseChain(data []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for rest := data; ; {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, errors.New("no certificate")
	}
	return out, nil
}

// readIssued reads a certificate's folder (fullchain.pem and privkey.pem) and
// checks that the key belongs to the certificate.
func readIssued(dir string) (*issued, error) {
	fullPath, keyPath := filepath.Join(dir, fileFullchain), filepath.Join(dir, filePrivkey)
	full, err := os.ReadFile(fullPath)
	if err != nil {
		return nil, err
	}
	kb, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, err
	}
	return parseIssued(full, kb, fullPath, keyPath)
}

// parseIssued reads a certificate chain and its key (the contents of the
// files fullPath and keyPath) and checks that they belong together.
func parseIssued(full, key []byte, fullPath, keyPath string) (*issued, error) {
	chain, err := parseChain(full)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", fullPath, err)
	}
	k, err := certcrypto.ParsePEMPrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", keyPath, err)
	}
	if !samePublic(k.Public(), chain[0].PublicKey) {
		return nil, fmt.Errorf("%s does not belong to the certificate in %s", keyPath, fullPath)
	}
	return &issued{chain: chain, key: k}, nil
}

func spkiOf(pub crypto.PublicKey) []byte {
	der, _ := x509.MarshalPKIXPublicKey(pub)
	return der
}

func samePublic(a, b crypto.PublicKey) bool {
	da, db := spkiOf(a), spkiOf(b)
	return da != nil && bytes.Equal(da, db)
}
