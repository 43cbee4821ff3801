// Package dnsaccount names the records of the ACME dns-account-01 challenge
// (draft-ietf-acme-dns-account-label): the challenge TXT record of an
// account lives at
//
//	_<account label>._acme-challenge.<name>
//
// where the account label is the lowercase base32 (RFC 4648, no padding) of
// the first 10 octets of the SHA-256 digest of the ACME account URL (RFC 8555
// §7.3, the Location of newAccount), as Pebble's VA computes it
// (va.validateDNSAccount01). Two accounts validating one name at the same
// time therefore never touch each other's records. The record's value is the
// dns-01 one: the base64url SHA-256 digest of the key authorization.
package dnsaccount

import (
	"crypto/sha256"
	"encoding/base32"
	"strings"
)

// Challenge is the challenge type (the ACME "type" of the challenge object).
const Challenge = "dns-account-01"

// ChallengeLabel is the label below the account label (the dns-01 label).
const ChallengeLabel = "_acme-challenge"

// labelLen is the length of an account label without its underscore: 10
// octets in base32 are 16 characters.
const labelLen = 16

var encoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// Label returns the account label of an ACME account URL, with its leading
// underscore: "_" + base32(SHA-256(URL)[0:10]) in lower case.
func Label(accountURL string) string {
	sum := sha256.Sum256([]byte(accountURL))
	return "_" + strings.ToLower(encoding.EncodeToString(sum[:10]))
}

// IsLabel reports whether l has the form of an account label: an underscore
// and 16 characters of the lowercase base32 alphabet (a-z, 2-7).
func IsLabel(l string) bool {
	if len(l) != labelLen+1 || l[0] != '_' {
		return false
	}
	for i := 1; i < len(l); i++ {
		c := l[i]
		if !(c >= 'a' && c <= 'z' || c >= '2' && c <= '7') {
			return false
		}
	}
	return true
}

// Owner returns the owner name of the challenge record of the account for
// name (a wildcard's "*." is dropped, as for dns-01): lower case, fully
// qualified.
func Owner(name, accountURL string) string {
	name = strings.ToLower(strings.TrimPrefix(name, "*."))
	if !strings.HasSuffix(name, ".") {
		name += "."
	}
	return Label(accountURL) + "." + ChallengeLabel + "." + name
}

// Split splits a challenge owner into its account label and the name being
// validated; ok is false when owner (lower case, fully qualified) is not
// _<account label>._acme-challenge.<name>.
func Split(owner string) (label, name string, ok bool) {
	first, rest, found := strings.Cut(owner, ".")
	if !found || !IsLabel(first) {
		return "", "", false
	}
	name, found = strings.CutPrefix(rest, ChallengeLabel+".")
	if !found || name == "" {
		return "", "", false
	}
	return first, name, true
}
