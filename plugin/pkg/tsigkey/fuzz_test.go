package tsigkey

import (
	"encoding/base64"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// FuzzParseBIND parses arbitrary BIND key files: the keys it returns are
// valid (a domain name in lower case with the trailing dot, a known algorithm
// in its canonical form, a non-empty base64 secret, each usable in a ring),
// and written out again as a key file they parse back as the same keys.
func FuzzParseBIND(f *testing.F) {
	b, err := os.ReadFile("../../../corefile-examples/acme-md5.key")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(string(b))
	f.Add("key \"a.\" {\n\talgorithm hmac-sha256;\n\tsecret \"c2VjcmV0\";\n};\n// c\n# c\n/* c */ key b { algorithm HMAC-SHA512.; secret YWJj; };")
	f.Add(`key "x" { algorithm hmac-sha256; secret "YWJj" };`)
	f.Add(`key "Upper.Case" { secret "YWJj"; algorithm hmac-md5.sig-alg.reg.int; };`)
	f.Fuzz(func(t *testing.T, text string) {
		keys, err := ParseBIND(text)
		if err != nil {
			if len(keys) != 0 {
				t.Fatalf("keys and an error: %v", err)
			}
			return
		}
		if len(keys) == 0 {
			t.Fatal("no key and no error")
		}
		var out strings.Builder
		for _, k := range keys {
			if _, ok := dns.IsDomainName(k.Name); !ok || k.Name != strings.ToLower(dns.Fqdn(k.Name)) {
				t.Fatalf("key name %q is not canonical", k.Name)
			}
			if a, err := Algorithm(k.Algorithm); err != nil || a != k.Algorithm {
				t.Fatalf("key %s: algorithm %q not canonical", k.Name, k.Algorithm)
			}
			if raw, err := base64.StdEncoding.DecodeString(k.Secret); err != nil || len(raw) == 0 {
				t.Fatalf("key %s: secret %q: %v", k.Name, k.Secret, err)
			}
			if err := NewRing().Add(k); err != nil {
				t.Fatalf("key %s not usable: %v", k.Name, err)
			}
			fmt.Fprintf(&out, "key \"%s\" {\n\talgorithm %s;\n\tsecret \"%s\";\n};\n", k.Name, AlgorithmName(k.Algorithm), k.Secret)
		}
		again, err := ParseBIND(out.String())
		if err != nil {
			t.Fatalf("keys written out do not parse: %v\n%s", err, out.String())
		}
		if len(again) != len(keys) {
			t.Fatalf("%d keys read back as %d", len(keys), len(again))
		}
		for i := range keys {
			if again[i] != keys[i] {
				t.Fatalf("key %+v read back as %+v", keys[i], again[i])
			}
		}
	})
}
