package persist

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// AnyName is the domain_name of a draft -02 hashed accounturi that every
// name accepts (§4.1: the single octet "*"; CAs must accept it), at the
// cost of the same value at every name.
const AnyName = "*"

// Hashing is what a draft -02 hashed accounturi (§4.1) is computed from,
// besides the account URL and the name: the CA's accountHashPrefix (from its
// directory's meta) and the base64url SHA-256 JWK thumbprint (RFC 7638) of
// the account key. AnyName publishes the cross-domain value ("*") instead of
// one bound to each name.
type Hashing struct {
	Prefix     string
	Thumbprint string
	AnyName    bool
}

// Check validates the prefix (it must make a valid hashed URI) and the
// thumbprint (43 base64url characters: a SHA-256 digest).
func (h Hashing) Check() error {
	if len(h.Thumbprint) != 43 {
		return fmt.Errorf("account key thumbprint %q: want the 43 base64url characters of its SHA-256 JWK thumbprint (RFC 7638)", h.Thumbprint)
	}
	if _, err := base64.RawURLEncoding.Strict().DecodeString(h.Thumbprint); err != nil {
		return fmt.Errorf("account key thumbprint %q is not unpadded base64url", h.Thumbprint)
	}
	if h.Prefix == "" {
		return errors.New("no accountHashPrefix (the CA's directory meta has it)")
	}
	uri := HashedAccountURI(h.Prefix, "example.com", h.Thumbprint, "https://ca.example/acct/1")
	if form, err := ValidateAccountURI(uri); err != nil || form != AccountHash {
		return fmt.Errorf("accountHashPrefix %q does not make a valid hashed URI (%v)", h.Prefix, err)
	}
	return nil
}

// URI is the hashed accounturi of the record at _validation-persist.NAME
// for the account URL: bound to name (lower case; a trailing dot is not part
// of it), or with AnyName the cross-domain value.
func (h Hashing) URI(name, accountURL string) string {
	domain := AnyName
	if !h.AnyName {
		domain = HashDomain(name)
	}
	return HashedAccountURI(h.Prefix, domain, h.Thumbprint, accountURL)
}

// HashDomain is a name as the hash input takes it: the FQDN the record sits
// at (below _validation-persist), lower case, without the trailing dot.
func HashDomain(name string) string {
	return strings.TrimSuffix(strings.ToLower(name), ".")
}

// HashedAccountURI computes a draft -02 hashed accounturi (§4.1):
//
//	prefix "sha-256/" base64url(SHA-256(len(domain) || domain || thumbprint || accountURL))
//
// where len(domain) is one octet, the thumbprint is its 43 ASCII characters
// and domain is HashDomain of the record's name or AnyName.
func HashedAccountURI(prefix, domain, thumbprint, accountURL string) string {
	h := sha256.New()
	h.Write([]byte{byte(len(domain))})
	h.Write([]byte(domain))
	h.Write([]byte(thumbprint))
	h.Write([]byte(accountURL))
	return prefix + "sha-256/" + base64.RawURLEncoding.EncodeToString(h.Sum(nil))
}

// MatchesAccount reports whether a record's accounturi is the account's:
// its URL (draft -01), or with h a hashed URI computed for name or for
// AnyName (draft -02, as the CA recomputes it).
func MatchesAccount(accountURI, name, accountURL string, h *Hashing) bool {
	if h == nil {
		return accountURI == accountURL
	}
	return accountURI == HashedAccountURI(h.Prefix, HashDomain(name), h.Thumbprint, accountURL) ||
		accountURI == HashedAccountURI(h.Prefix, AnyName, h.Thumbprint, accountURL)
}
