// Package persist parses, validates and renders dns-persist-01 validation
// records (draft-ietf-acme-dns-persist): the TXT value at
// _validation-persist.<name>,
//
//	<issuer-domain-name>; accounturi=<uri>[; policy=wildcard][; persistUntil=<unix time>]
//
// with the rules a CA applies (draft -01 §4, as Pebble's VA and Boulder
// implement them), so that a record dnspki publishes or accepts over UPDATE is
// one the CA will not reject as malformed.
package persist

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// Label is the owner label of validation records.
const Label = "_validation-persist"

// Record is one parsed validation record.
type Record struct {
	Issuer     string
	AccountURI string
	// Policy is "wildcard" or empty.
	Policy string
	// PersistUntil is zero when absent.
	PersistUntil time.Time
	// Extra holds parameters this version does not define, in order (RFC 8659
	// issue-value parameters are extensible; CAs ignore unknown tags).
	Extra [][2]string
}

// AccountForm tells which form of account binding a record uses.
type AccountForm string

// Account binding forms.
const (
	// AccountURL: draft -01, the account URL (RFC 8657 §3), e.g.
	// https://acme.example/acme/acct/123.
	AccountURL AccountForm = "account-url"
	// AccountHash: draft -02 §4.1, a hashed URI: the CA's accountHashPrefix
	// (from its directory metadata), a hash algorithm's RFC 6920 Hash Name
	// String, "/", and the unpadded base64url digest of the domain, the
	// account key's thumbprint and the account URL, e.g.
	// https://ca.example/account-hash/sha-256/5SQm7n6tPh2-PlLbCKGnViTXX5z19SCN4cPGQHSk-kw.
	// It can be published before any order (not before the account exists).
	AccountHash AccountForm = "account-hash"
)

// hashAlgorithms are the RFC 6920 Hash Name Strings a draft -02 hashed
// accounturi may use, with their digest length in octets: registered
// algorithms with a digest of at least 256 bits (§4.1). sha-256 is the one
// every CA must accept; a CA documents any other it accepts.
var hashAlgorithms = map[string]int{
	"sha-256": 32, "sha-384": 48, "sha-512": 64,
	"sha3-256": 32, "sha3-384": 48, "sha3-512": 64,
}

// hashedAccount recognises the end of a hashed URI: a Hash Name String of the
// registry in any case (the truncated ones too, to reject them with the
// reason), "/" and a base64url value (padding included, to reject it).
var hashedAccount = regexp.MustCompile(`(?i)(sha-256(?:-(?:128|120|96|64|32))?|sha-384|sha-512|sha3-(?:224|256|384|512))/([A-Za-z0-9_=-]+)$`)

// ValidateIssuer checks an issuer-domain-name: a lowercase A-label domain name
// without trailing dot, at most 253 octets (draft §3.1).
func ValidateIssuer(s string) error {
	if s == "" {
		return errors.New("empty issuer-domain-name")
	}
	if strings.HasSuffix(s, ".") {
		return fmt.Errorf("issuer-domain-name %q has a trailing dot; CAs compare it byte for byte without one", s)
	}
	if len(s) > 253 {
		return fmt.Errorf("issuer-domain-name %q is longer than 253 octets", s)
	}
	if s != strings.ToLower(s) {
		return fmt.Errorf("issuer-domain-name %q must be lowercase", s)
	}
	for _, l := range strings.Split(s, ".") {
		if l == "" || len(l) > 63 {
			return fmt.Errorf("issuer-domain-name %q has an empty or over-long label", s)
		}
		if l[0] == '-' || l[len(l)-1] == '-' {
			return fmt.Errorf("issuer-domain-name %q: label %q starts or ends with a hyphen", s, l)
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return fmt.Errorf("issuer-domain-name %q is not an A-label (character %q); use the punycode form", s, c)
			}
		}
	}
	return nil
}

// ValidateAccountURI checks an accounturi value and tells its form: the
// draft -02 hashed URI (§4.1: a valid URI ending in <hash-alg>/<base64url
// digest>, a registered algorithm of at least 256 bits in its exact
// lowercase name, the digest's exact unpadded base64url encoding) or the
// draft -01 account URL (an absolute https URL, RFC 8657 §3). Draft -02 asks
// only that the CA's prefix make a valid URI, not an https one, so a hashed
// URI is not required to be https (the CA compares it byte for byte with the
// one it computes from its own prefix). A value that ends like a hashed URI is
// checked as one: a damaged digest is an error, not an account URL.
func ValidateAccountURI(s string) (AccountForm, error) {
	if s == "" {
		return "", errors.New("accounturi is mandatory")
	}
	if err := checkValue(s); err != nil {
		return "", fmt.Errorf("accounturi: %w", err)
	}
	if err := checkURI(s); err == errNoScheme {
		return "", fmt.Errorf("accounturi %q is not an absolute URI (no scheme)", s)
	} else if err != nil {
		return "", fmt.Errorf("accounturi %q is not a URI: %v", s, err)
	}
	u, err := url.Parse(s)
	if err != nil || !u.IsAbs() {
		return "", fmt.Errorf("accounturi %q is not an absolute URI", s)
	}
	if m := hashedAccount.FindStringSubmatch(s); m != nil {
		if err := checkHashed(m[1], m[2]); err != nil {
			return "", fmt.Errorf("accounturi %q: a draft -02 hashed URI %v", s, err)
		}
		return AccountHash, nil
	}
	if u.Scheme != "https" || u.Host == "" {
		return "", fmt.Errorf("accounturi %q: an account URL is an https URL (RFC 8657 §3), a hashed URI ends in sha-256/<43 base64url characters> (draft -02)", s)
	}
	return AccountURL, nil
}

// checkHashed checks the algorithm and digest of a hashed URI.
func checkHashed(alg, value string) error {
	size, ok := hashAlgorithms[alg]
	if !ok {
		lower := strings.ToLower(alg)
		if _, known := hashAlgorithms[lower]; known {
			return fmt.Errorf("names its algorithm %q, not by the exact Hash Name String %q", alg, lower)
		}
		return fmt.Errorf("uses %s, a digest shorter than 256 bits", lower)
	}
	want := base64.RawURLEncoding.EncodedLen(size)
	if strings.Contains(value, "=") {
		return fmt.Errorf("has base64 padding ('='); the digest is unpadded base64url (%d characters for %s)", want, alg)
	}
	if len(value) != want {
		return fmt.Errorf("has a value of %d characters; a %s digest (%d octets) is %d unpadded base64url characters", len(value), alg, size, want)
	}
	if _, err := base64.RawURLEncoding.Strict().DecodeString(value); err != nil {
		return fmt.Errorf("has a value that is not the exact base64url encoding of a %s digest (its last character sets bits beyond the digest)", alg)
	}
	return nil
}

var errNoScheme = errors.New("no scheme")

// checkURI checks the RFC 3986 URI syntax as far as a string can tell: a
// scheme, and only unreserved, reserved and percent-encoded characters.
func checkURI(s string) error {
	colon := strings.IndexByte(s, ':')
	if colon < 1 {
		return errNoScheme
	}
	for i := 0; i < colon; i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && (c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.')) {
			return fmt.Errorf("bad scheme %q", s[:colon])
		}
	}
	for i := colon + 1; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("-._~:/?#[]@!$&'()*+,;=", c) >= 0:
		case c == '%':
			if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
				return errors.New("'%' not followed by two hex digits")
			}
			i += 2
		default:
			return fmt.Errorf("character %q is not allowed in a URI", c)
		}
	}
	if strings.Count(s, "#") > 1 {
		return errors.New("more than one '#'")
	}
	return nil
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// checkValue applies the RFC 8659 value syntax: printable ASCII other than ';'
// and whitespace.
func checkValue(v string) error {
	for i := 0; i < len(v); i++ {
		c := v[i]
		if (c >= 0x21 && c <= 0x3A) || (c >= 0x3C && c <= 0x7E) {
			continue
		}
		return fmt.Errorf("value %q has a character not allowed in an issue-value parameter (%q)", v, c)
	}
	return nil
}

func trimWSP(s string) string { return strings.Trim(s, " \t") }

// Parse parses and validates a validation record value (the TXT strings
// concatenated). The error says why a CA would reject it as malformed.
func Parse(value string) (*Record, error) {
	parts := strings.Split(value, ";")
	r := &Record{Issuer: trimWSP(parts[0])}
	if err := ValidateIssuer(r.Issuer); err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, p := range parts[1:] {
		p = trimWSP(p)
		if p == "" {
			return nil, errors.New("empty parameter or trailing semicolon")
		}
		tag, val, ok := strings.Cut(p, "=")
		if !ok {
			return nil, fmt.Errorf("parameter %q is not tag=value", p)
		}
		tag, val = trimWSP(tag), trimWSP(val)
		if tag == "" {
			return nil, fmt.Errorf("parameter %q has an empty tag", p)
		}
		for i := 0; i < len(tag); i++ {
			if c := tag[i]; !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
				return nil, fmt.Errorf("tag %q is not alphanumeric (RFC 8659 §4.2)", tag)
			}
		}
		lt := strings.ToLower(tag)
		if seen[lt] {
			return nil, fmt.Errorf("duplicate parameter %q", tag)
		}
		seen[lt] = true
		if err := checkValue(val); err != nil {
			return nil, err
		}
		switch lt {
		case "accounturi":
			if _, err := ValidateAccountURI(val); err != nil {
				return nil, err
			}
			r.AccountURI = val
		case "policy":
			if !strings.EqualFold(val, "wildcard") {
				return nil, fmt.Errorf("policy %q: the only defined policy is wildcard (a CA ignores others, so the record would not authorize what it seems to)", val)
			}
			r.Policy = "wildcard"
		case "persistuntil":
			if val == "" || strings.TrimLeft(val, "0123456789") != "" {
				return nil, fmt.Errorf("persistUntil %q is not a base-10 Unix time", val)
			}
			n, err := strconv.ParseInt(val, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("persistUntil %q: %v", val, err)
			}
			r.PersistUntil = time.Unix(n, 0).UTC()
		default:
			r.Extra = append(r.Extra, [2]string{tag, val})
		}
	}
	if r.AccountURI == "" {
		return nil, errors.New("the mandatory accounturi parameter is missing")
	}
	return r, nil
}

// String renders the record value in canonical form.
func (r *Record) String() string {
	var b strings.Builder
	b.WriteString(r.Issuer)
	b.WriteString("; accounturi=")
	b.WriteString(r.AccountURI)
	if r.Policy != "" {
		b.WriteString("; policy=")
		b.WriteString(r.Policy)
	}
	if !r.PersistUntil.IsZero() {
		b.WriteString("; persistUntil=")
		b.WriteString(strconv.FormatInt(r.PersistUntil.Unix(), 10))
	}
	for _, e := range r.Extra {
		b.WriteString("; ")
		b.WriteString(e[0])
		b.WriteString("=")
		b.WriteString(e[1])
	}
	return b.String()
}

// Validate re-checks a record built in code (as Parse would).
func (r *Record) Validate() error {
	_, err := Parse(r.String())
	return err
}

// Owner returns the owner name of the validation record for name.
func Owner(name string) string {
	return Label + "." + strings.ToLower(dns.Fqdn(name))
}

// TXT renders the record as a TXT RR at the validation owner of name, split
// into character-strings of at most 255 octets (the CA concatenates them).
func (r *Record) TXT(name string, ttl uint32) *dns.TXT {
	v := r.String()
	var parts []string
	for len(v) > 255 {
		parts = append(parts, v[:255])
		v = v[255:]
	}
	parts = append(parts, v)
	return &dns.TXT{Hdr: dns.RR_Header{Name: Owner(name), Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: ttl}, Txt: escapeTXT(parts)}
}

// escapeTXT escapes characters miekg/dns treats specially in TXT strings.
func escapeTXT(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		s = strings.ReplaceAll(s, `\`, `\\`)
		out[i] = strings.ReplaceAll(s, `"`, `\"`)
	}
	return out
}

// Value returns the concatenated value of a TXT record (unescaped).
func Value(t *dns.TXT) string {
	var b strings.Builder
	for _, s := range t.Txt {
		b.WriteString(unescape(s))
	}
	return b.String()
}

func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			if i+3 < len(s) && isDigit(s[i+1]) && isDigit(s[i+2]) && isDigit(s[i+3]) {
				n, _ := strconv.Atoi(s[i+1 : i+4])
				b.WriteByte(byte(n))
				i += 3
				continue
			}
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// CAA returns the CAA records that go with an authorization (RFC 8659 with the
// RFC 8657 accounturi and validationmethods parameters): issue for every
// issuer, and issuewild too when the policy is wildcard.
func CAA(name string, ttl uint32, issuers []string, accountURI string, wildcard bool) []dns.RR {
	sorted := append([]string(nil), issuers...)
	sort.Strings(sorted)
	var out []dns.RR
	for _, iss := range sorted {
		v := iss + "; accounturi=" + accountURI + "; validationmethods=dns-01,dns-persist-01"
		tags := []string{"issue"}
		if wildcard {
			tags = append(tags, "issuewild")
		}
		for _, tag := range tags {
			out = append(out, &dns.CAA{
				Hdr:   dns.RR_Header{Name: strings.ToLower(dns.Fqdn(name)), Rrtype: dns.TypeCAA, Class: dns.ClassINET, Ttl: ttl},
				Flag:  0,
				Tag:   tag,
				Value: v,
			})
		}
	}
	return out
}
