// Package tsigkey holds TSIG keys (RFC 8945) for dnspki's plugins: parsing
// them from the Corefile or from BIND key files (tsig-keygen output), binding
// each key to its algorithm, registering the secrets with the DNS server, and
// checking a request's TSIG: a request signed with a key's secret but another
// algorithm than the key's is refused (BADKEY).
package tsigkey

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"os"
	"sort"
	"strings"
	"unicode"

	"github.com/miekg/dns"
)

// Key is a TSIG key bound to its algorithm.
type Key struct {
	Name      string // lowercase, fully qualified
	Algorithm string // canonical miekg/dns form, e.g. dns.HmacSHA256 ("hmac-sha256.")
	Secret    string // base64
}

var algorithms = map[string]string{
	"hmac-md5":                 dns.HmacMD5,
	"hmac-md5.sig-alg.reg.int": dns.HmacMD5,
	"hmac-sha1":                dns.HmacSHA1,
	"hmac-sha224":              dns.HmacSHA224,
	"hmac-sha256":              dns.HmacSHA256,
	"hmac-sha384":              dns.HmacSHA384,
	"hmac-sha512":              dns.HmacSHA512,
}

// Algorithm returns the canonical name of a TSIG algorithm given in any of its
// usual spellings (case-insensitive, with or without trailing dot).
func Algorithm(s string) (string, error) {
	a, ok := algorithms[strings.TrimSuffix(strings.ToLower(s), ".")]
	if !ok {
		return "", fmt.Errorf("unknown TSIG algorithm %q (want hmac-md5, hmac-sha1, hmac-sha224, hmac-sha256, hmac-sha384 or hmac-sha512)", s)
	}
	return a, nil
}

// AlgorithmName is the short name of a canonical algorithm (hmac-sha256).
func AlgorithmName(canonical string) string {
	if canonical == dns.HmacMD5 {
		return "hmac-md5"
	}
	return strings.TrimSuffix(canonical, ".")
}

// New checks and returns a key.
func New(name, algorithm, secret string) (Key, error) {
	if _, ok := dns.IsDomainName(name); !ok || name == "" {
		return Key{}, fmt.Errorf("TSIG key name %q is not a domain name", name)
	}
	alg, err := Algorithm(algorithm)
	if err != nil {
		return Key{}, fmt.Errorf("key %s: %w", name, err)
	}
	raw, err := base64.StdEncoding.DecodeString(secret)
	if err != nil {
		return Key{}, fmt.Errorf("key %s: secret is not base64: %v", name, err)
	}
	if len(raw) == 0 {
		return Key{}, fmt.Errorf("key %s: empty secret", name)
	}
	return Key{Name: strings.ToLower(dns.Fqdn(name)), Algorithm: alg, Secret: secret}, nil
}

// LoadFile reads the keys of a BIND key file:
//
//	key "name" { algorithm hmac-sha256; secret "base64=="; };
func LoadFile(path string) ([]Key, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	keys, err := ParseBIND(string(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return keys, nil
}

// ParseBIND parses BIND named.conf key statements (comments allowed).
func ParseBIND(text string) ([]Key, error) {
	toks, err := tokenize(text)
	if err != nil {
		return nil, err
	}
	var keys []Key
	i := 0
	next := func() (string, error) {
		if i >= len(toks) {
			return "", errors.New("unexpected end of key file")
		}
		i++
		return toks[i-1], nil
	}
	expect := func(want string) error {
		t, err := next()
		if err != nil {
			return err
		}
		if t != want {
			return fmt.Errorf("expected %q, got %q", want, t)
		}
		return nil
	}
	for i < len(toks) {
		t, _ := next()
		if t != "key" {
			return nil, fmt.Errorf("expected 'key', got %q", t)
		}
		name, err := next()
		if err != nil {
			return nil, err
		}
		if err := expect("{"); err != nil {
			return nil, err
		}
		var alg, secret string
		for {
			t, err := next()
			if err != nil {
				return nil, err
			}
			if t == "}" {
				break
			}
			v, err := next()
			if err != nil {
				return nil, err
			}
			switch t {
			case "algorithm":
				alg = v
			case "secret":
				secret = v
			default:
				return nil, fmt.Errorf("key %s: unknown clause %q", name, t)
			}
			if err := expect(";"); err != nil {
				return nil, err
			}
		}
		if err := expect(";"); err != nil {
			return nil, err
		}
		if alg == "" || secret == "" {
			return nil, fmt.Errorf("key %s: needs both algorithm and secret", name)
		}
		k, err := New(name, alg, secret)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, errors.New("no key statement")
	}
	return keys, nil
}

func tokenize(s string) ([]string, error) {
	var out []string
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case unicode.IsSpace(rune(c)):
			i++
		case c == '#' || (c == '/' && i+1 < len(s) && s[i+1] == '/'):
			for i < len(s) && s[i] != '\n' {
				i++
			}
		case c == '/' && i+1 < len(s) && s[i+1] == '*':
			end := strings.Index(s[i+2:], "*/")
			if end < 0 {
				return nil, errors.New("unterminated comment")
			}
			i += end + 4
		case c == '{' || c == '}' || c == ';':
			out = append(out, string(c))
			i++
		case c == '"':
			end := strings.IndexByte(s[i+1:], '"')
			if end < 0 {
				return nil, errors.New("unterminated string")
			}
			out = append(out, s[i+1:i+1+end])
			i += end + 2
		default:
			j := i
			for j < len(s) && !unicode.IsSpace(rune(s[j])) && !strings.ContainsRune("{};\"", rune(s[j])) {
				j++
			}
			out = append(out, s[i:j])
			i = j
		}
	}
	return out, nil
}

// Ring is a set of keys by name.
type Ring struct {
	keys map[string]Key
}

// NewRing returns an empty ring.
func NewRing() *Ring { return &Ring{keys: map[string]Key{}} }

// Add adds a key; a name can be defined once (the same definition again is
// accepted).
func (r *Ring) Add(k Key) error {
	if old, ok := r.keys[k.Name]; ok && old != k {
		return fmt.Errorf("TSIG key %s defined twice with different algorithm or secret", k.Name)
	}
	r.keys[k.Name] = k
	return nil
}

// Get returns the key of that name.
func (r *Ring) Get(name string) (Key, bool) {
	k, ok := r.keys[strings.ToLower(dns.Fqdn(name))]
	return k, ok
}

// Names lists the key names, sorted.
func (r *Ring) Names() []string {
	out := make([]string, 0, len(r.keys))
	for n := range r.keys {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Secrets returns name → secret, the form dns.Server and dns.Client take.
func (r *Ring) Secrets() map[string]string {
	out := make(map[string]string, len(r.keys))
	for n, k := range r.keys {
		out[n] = k.Secret
	}
	return out
}

// Register adds the ring's secrets to the DNS server's TSIG secrets (the
// server then verifies signed requests and signs replies). secrets is
// dnsserver.Config.TsigSecret of the server block. A name already registered
// with another secret is an error.
func (r *Ring) Register(secrets map[string]string) error {
	for n, k := range r.keys {
		if old, ok := secrets[n]; ok && old != k.Secret {
			return fmt.Errorf("TSIG key %s is defined elsewhere in this server block with another secret", n)
		}
		secrets[n] = k.Secret
	}
	return nil
}

// Provider returns a dns.TsigProvider that computes and checks MACs with the
// ring's keys, each with its own algorithm (hmac-md5 included, which miekg/dns
// itself no longer implements). A TSIG that names another algorithm than its
// key's, or an unknown key, is an error.
func (r *Ring) Provider() dns.TsigProvider { return ringProvider{r} }

type ringProvider struct{ r *Ring }

func (p ringProvider) Generate(msg []byte, t *dns.TSIG) ([]byte, error) {
	k, ok := p.r.keys[strings.ToLower(t.Hdr.Name)]
	if !ok {
		return nil, dns.ErrSecret
	}
	return k.Provider().Generate(msg, t)
}

func (p ringProvider) Verify(msg []byte, t *dns.TSIG) error {
	k, ok := p.r.keys[strings.ToLower(t.Hdr.Name)]
	if !ok {
		return dns.ErrSecret
	}
	return k.Provider().Verify(msg, t)
}

// Provider returns a dns.TsigProvider that computes and checks MACs with
// this key only, with its own algorithm (hmac-md5 included, which miekg/dns
// itself no longer implements). A TSIG record that names another key or
// another algorithm is an error.
func (k Key) Provider() dns.TsigProvider { return keyProvider{k} }

type keyProvider struct{ k Key }

func (p keyProvider) Generate(msg []byte, t *dns.TSIG) ([]byte, error) {
	k := p.k
	if !strings.EqualFold(dns.Fqdn(t.Hdr.Name), k.Name) {
		return nil, dns.ErrSecret
	}
	if alg, err := Algorithm(t.Algorithm); err != nil || alg != k.Algorithm {
		return nil, dns.ErrKeyAlg
	}
	raw, err := base64.StdEncoding.DecodeString(k.Secret)
	if err != nil {
		return nil, err
	}
	var h hash.Hash
	switch k.Algorithm {
	case dns.HmacMD5:
		h = hmac.New(md5.New, raw)
	case dns.HmacSHA1:
		h = hmac.New(sha1.New, raw)
	case dns.HmacSHA224:
		h = hmac.New(sha256.New224, raw)
	case dns.HmacSHA256:
		h = hmac.New(sha256.New, raw)
	case dns.HmacSHA384:
		h = hmac.New(sha512.New384, raw)
	case dns.HmacSHA512:
		h = hmac.New(sha512.New, raw)
	default:
		return nil, dns.ErrKeyAlg
	}
	h.Write(msg)
	return h.Sum(nil), nil
}

func (p keyProvider) Verify(msg []byte, t *dns.TSIG) error {
	b, err := p.Generate(msg, t)
	if err != nil {
		return err
	}
	mac, err := hex.DecodeString(t.MAC)
	if err != nil {
		return err
	}
	if !hmac.Equal(b, mac) {
		return dns.ErrSig
	}
	return nil
}
