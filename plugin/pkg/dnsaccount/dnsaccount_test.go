package dnsaccount

import (
	"crypto/sha256"
	"encoding/base32"
	"strings"
	"testing"
)

// The example of the draft (and of CAs' documentation): the account
// https://example.com/acme/acct/ExampleAccount has the label
// _ujmmovf2vn55tgye.
func TestLabelVector(t *testing.T) {
	if got := Label("https://example.com/acme/acct/ExampleAccount"); got != "_ujmmovf2vn55tgye" {
		t.Fatalf("label %q, want _ujmmovf2vn55tgye", got)
	}
	if got := Owner("*.example.org", "https://example.com/acme/acct/ExampleAccount"); got != "_ujmmovf2vn55tgye._acme-challenge.example.org." {
		t.Fatalf("owner %q", got)
	}
}

// Pebble's computation (va.validateDNSAccount01): lowercase StdEncoding of
// the first 10 octets (no padding: 80 bits are 16 characters exactly).
func TestLabelAsPebble(t *testing.T) {
	for _, u := range []string{"https://127.0.0.1:14000/my-account/1", "https://acme-v02.api.letsencrypt.org/acme/acct/123456", ""} {
		h := sha256.Sum256([]byte(u))
		want := "_" + strings.ToLower(base32.StdEncoding.EncodeToString(h[0:10]))
		if got := Label(u); got != want || !IsLabel(got) {
			t.Fatalf("%q: %q, want %q", u, got, want)
		}
	}
}

func TestIsLabelAndSplit(t *testing.T) {
	for _, bad := range []string{"", "_", "ujmmovf2vn55tgye", "_ujmmovf2vn55tgy", "_ujmmovf2vn55tgyee", "_UJMMOVF2VN55TGYE", "_ujmmovf2vn55tgy1", "_ujmmovf2vn55tg=e", "_acme-challenge"} {
		if IsLabel(bad) {
			t.Errorf("IsLabel(%q)", bad)
		}
	}
	l, n, ok := Split("_ujmmovf2vn55tgye._acme-challenge.www.example.test.")
	if !ok || l != "_ujmmovf2vn55tgye" || n != "www.example.test." {
		t.Fatalf("Split: %q %q %v", l, n, ok)
	}
	for _, bad := range []string{"_acme-challenge.www.example.test.", "_ujmmovf2vn55tgye._acme-challenge.", "_ujmmovf2vn55tgye.www.example.test.", "_ujmmovf2vn55tgye._acme-challengex.www."} {
		if _, _, ok := Split(bad); ok {
			t.Errorf("Split(%q) ok", bad)
		}
	}
}
