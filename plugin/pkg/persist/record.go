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
	// AccountHash: draft -02, the CA's accountHashPrefix (from its directory
	// metadata) followed by "sha-256/" and 43 base64url characters; it can be
	// published before the account exists.
	AccountHash AccountForm = "account-hash"
)

var hashedAccount = regexp.MustCompile(`sha-256/[A-Za-z0-9_-]{43}$`)

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

// ValidateAccountURI checks an accounturi value and tells its form.
func ValidateAccountURI(s string) (AccountForm, error) {
	if s == "" {
		return "", errors.New("accounturi is mandatory")
	}
	if err := checkValue(s); err != nil {
		return "", fmt.Errorf("accounturi: %w", err)
	}
	u, err := url.Parse(s)
	if err != nil || !u.IsAbs() {
		return "", fmt.Errorf("accounturi %q is not an absolute URI", s)
	}
	if hashedAccount.MatchString(s) {
		return AccountHash, nil
	}
	if u.Scheme != "https" || u.Host == "" {
		return "", fmt.Errorf("accounturi %q: an account URL is an https URL (RFC 8657 §3)", s)
	}
	return AccountURL, nil
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
