package persist

import (
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func TestParse(t *testing.T) {
	good := []string{
		"pebble.letsencrypt.org; accounturi=https://127.0.0.1:14000/my-account/1",
		"ca.example; accounturi=https://ca.example/acct/123; policy=wildcard",
		"ca.example;accounturi=https://ca.example/acct/123;policy=WILDCARD;persistUntil=1767225600",
		" ca.example ; AccountURI = https://ca.example/acct/1 ; futuretag=x",
		"ca.example; accounturi=https://ca.example/acme/account-hash/sha-256/" + strings.Repeat("A", 43),
		"ca.example; accounturi=https://ca.example/account-hash/sha-256/" + draftHash,
		"ca.example; accounturi=https://127.0.0.1:14000/my-account/1%2Fx",
	}
	for _, g := range good {
		r, err := Parse(g)
		if err != nil {
			t.Errorf("%q: %v", g, err)
			continue
		}
		if _, err := Parse(r.String()); err != nil {
			t.Errorf("%q: canonical form %q does not parse: %v", g, r.String(), err)
		}
	}
	bad := map[string]string{
		"":                                    "empty issuer",
		"CA.example; accounturi=https://x/1":  "lowercase",
		"ca.example.; accounturi=https://x/1": "trailing dot",
		"ca.example":                          "accounturi parameter is missing",
		"ca.example; accounturi=":             "mandatory",
		"ca.example; accounturi=http://x/1":   "https",
		"ca.example; accounturi=/relative":    "absolute",
		"ca.example; accounturi=https://x/1;": "trailing semicolon",
		"ca.example; accounturi=https://x/1; accounturi=https://x/2": "duplicate",
		"ca.example; accounturi=https://x/1; AccountURI=https://x/2": "duplicate",
		"ca.example; accounturi=https://x/1; persistUntil=soon":      "Unix time",
		"ca.example; accounturi=https://x/1; persistUntil=-5":        "Unix time",
		"ca.example; accounturi=https://x/1; policy=subdomains":      "only defined policy",
		"ca.example; accounturi=https://x/1; policy":                 "tag=value",
		"ca.example; accounturi=https://x/1; =v":                     "empty tag",
		"ca.example; accounturi=https://x/1; t=a b":                  "not allowed",
		"bücher.example; accounturi=https://x/1":                     "A-label",
		"-ca.example; accounturi=https://x/1":                        "hyphen",
	}
	for in, want := range bad {
		_, err := Parse(in)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want %q", in, err, want)
		}
	}
}

// The hashed URI of draft -02 §10.2 (example.com, thumbprint
// NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs, https://ca.example/acct/123).
const draftHash = "5SQm7n6tPh2-PlLbCKGnViTXX5z19SCN4cPGQHSk-kw"

// Draft -02 §4.1: accounturi is <accountHashPrefix><hash-alg>/<base64url
// digest>, hash-alg the exact RFC 6920 Hash Name String of an algorithm of at
// least 256 bits, the digest unpadded base64url of its exact length; the
// prefix must make a valid URI (https is the draft's example, not a rule).
// Draft -01's account URL is an https URL.
func TestAccountURIForms(t *testing.T) {
	sha384 := strings.Repeat("A", 63) + "w" // 48 octets, canonical
	sha512 := strings.Repeat("B", 85) + "A" // 64 octets, canonical
	good := map[string]AccountForm{
		"https://ca.example/acct/123":                                     AccountURL,
		"https://127.0.0.1:14000/my-account/1":                            AccountURL,
		"https://ca.example/account-hash/sha-256/" + draftHash:            AccountHash,
		"https://ca.example/account-hash/sha3-256/" + draftHash:           AccountHash,
		"https://ca.example/account-hash/sha-384/" + sha384:               AccountHash,
		"https://ca.example/account-hash/sha-512/" + sha512:               AccountHash,
		"https://ca.example/account-hash/sha3-512/" + sha512:              AccountHash,
		"https://ca.example/h?a=sha-256/" + draftHash:                     AccountHash,
		"http://ca.example/account-hash/sha-256/" + draftHash:             AccountHash, // the draft asks for a valid URI only
		"urn:example:account-hash:sha-256/" + draftHash:                   AccountHash,
		"https://ca.example/account-hash/sha-256/" + draftHash[:42] + "A": AccountHash,
	}
	for in, want := range good {
		got, err := ValidateAccountURI(in)
		if err != nil || got != want {
			t.Errorf("%q: %v %v, want %v", in, got, err, want)
		}
	}
	bad := map[string]string{
		"http://ca.example/acct/123":                                         "https URL",
		"ftp://ca.example/acct/123":                                          "https URL",
		"https:///acct/1":                                                    "https URL",
		"/account-hash/sha-256/" + draftHash:                                 "not an absolute URI",
		"sha-256/" + draftHash:                                               "not an absolute URI",
		"https://ca.example/account-hash/sha-256/" + draftHash[:42]:          "42 characters",
		"https://ca.example/account-hash/sha-256/" + draftHash + "A":         "44 characters",
		"https://ca.example/account-hash/sha-256/" + draftHash + "=":         "padding",
		"https://ca.example/account-hash/sha-256/" + draftHash[:42] + "x":    "exact base64url",
		"https://ca.example/account-hash/sha-256/" + strings.Repeat("_", 43): "exact base64url",
		"https://ca.example/account-hash/SHA-256/" + draftHash:               `exact Hash Name String "sha-256"`,
		"https://ca.example/account-hash/sha-256-128/AAAAAAAAAAAAAAAAAAAAAA": "shorter than 256 bits",
		"https://ca.example/account-hash/sha3-224/" + draftHash:              "shorter than 256 bits",
		"https://ca.example/account-hash/sha-384/" + draftHash:               "a sha-384 digest (48 octets) is 64",
		"https://ca.example/acct/a\\b":                                       "not allowed in a URI",
		"https://ca.example/acct/%zz":                                        "two hex digits",
		"https://ca.example/acct/1#a#b":                                      "more than one '#'",
		"1https://ca.example/acct/1":                                         "bad scheme",
	}
	for in, want := range bad {
		_, err := ValidateAccountURI(in)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", in, err, want)
		}
	}
}

func TestTXTSplitsLongValues(t *testing.T) {
	r := &Record{Issuer: "ca.example", AccountURI: "https://ca.example/" + strings.Repeat("a", 400), Policy: "wildcard", PersistUntil: time.Unix(1767225600, 0)}
	txt := r.TXT("intra.example.test", 300)
	if txt.Hdr.Name != "_validation-persist.intra.example.test." || len(txt.Txt) != 2 || len(txt.Txt[0]) != 255 {
		t.Fatalf("TXT: %v", txt)
	}
	// Through the wire and back, the value is intact.
	m := new(dns.Msg)
	m.Answer = []dns.RR{txt}
	b, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	var m2 dns.Msg
	if err := m2.Unpack(b); err != nil {
		t.Fatal(err)
	}
	if got := Value(m2.Answer[0].(*dns.TXT)); got != r.String() {
		t.Fatalf("round trip: %q != %q", got, r.String())
	}
}

func TestCAA(t *testing.T) {
	rrs := CAA("intra.example.test", 300, []string{"pebble.letsencrypt.org"}, "https://x/acct/1", true)
	if len(rrs) != 2 || rrs[0].(*dns.CAA).Tag != "issue" || rrs[1].(*dns.CAA).Tag != "issuewild" {
		t.Fatalf("CAA: %v", rrs)
	}
	if v := rrs[0].(*dns.CAA).Value; v != "pebble.letsencrypt.org; accounturi=https://x/acct/1; validationmethods=dns-01,dns-persist-01" {
		t.Fatalf("CAA value %q", v)
	}
}

// FuzzParse checks that whatever Parse accepts satisfies the rules, renders to
// a canonical form that parses to the same record, and survives the trip
// through a TXT record on the wire (escaping, 255-octet strings) intact.
// Seed corpus runs with every go test; fuzz with
//
//	go test -run XXX -fuzz FuzzParse -fuzztime 60s ./plugin/pkg/persist/
func FuzzParse(f *testing.F) {
	f.Add("pebble.letsencrypt.org; accounturi=https://127.0.0.1:14000/my-account/1; policy=wildcard")
	f.Add("ca.example;accounturi=https://ca.example/acct/123;persistUntil=1767225600;x=y")
	f.Add("ca.example; accounturi=https://h/sha-256/" + draftHash)
	f.Add("ca.example; accounturi=https://h/sha-256/" + strings.Repeat("_", 43))
	f.Add(`ca.example; accounturi=https://h/a\"b; x=\\`)
	f.Add("ca.example; accounturi=https://h/" + strings.Repeat("x", 300))
	f.Add("ca.example; accounturi=https://h/1; policy=wildcard; persistUntil=99999999999999999999")
	f.Fuzz(func(t *testing.T, s string) {
		r, err := Parse(s)
		if err != nil {
			return
		}
		if ValidateIssuer(r.Issuer) != nil {
			t.Fatalf("accepted bad issuer %q", r.Issuer)
		}
		if _, err := ValidateAccountURI(r.AccountURI); err != nil {
			t.Fatalf("accepted bad accounturi %q: %v", r.AccountURI, err)
		}
		r2, err := Parse(r.String())
		if err != nil {
			t.Fatalf("canonical %q of accepted %q does not parse: %v", r.String(), s, err)
		}
		if r2.String() != r.String() {
			t.Fatalf("not canonical: %q vs %q", r2.String(), r.String())
		}
		if r.Policy != "" && r.Policy != "wildcard" {
			t.Fatalf("policy %q accepted", r.Policy)
		}
		m := new(dns.Msg)
		m.Answer = []dns.RR{r.TXT("host.example.test", 60)}
		b, err := m.Pack()
		if err != nil {
			t.Fatalf("%q: TXT does not pack: %v", r.String(), err)
		}
		var m2 dns.Msg
		if err := m2.Unpack(b); err != nil {
			t.Fatal(err)
		}
		if got := Value(m2.Answer[0].(*dns.TXT)); got != r.String() {
			t.Fatalf("through the wire: %q != %q", got, r.String())
		}
	})
}
