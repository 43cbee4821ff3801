package persist

import (
	"strings"
	"testing"
)

// Draft -02 §10.2's test vectors: example.com, the thumbprint
// NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs, the account
// https://ca.example/acct/123 and the prefix https://ca.example/account-hash/;
// and the same with the cross-domain name "*".
func TestAccountHashVectors(t *testing.T) {
	const (
		prefix = "https://ca.example/account-hash/"
		thumb  = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
		acct   = "https://ca.example/acct/123"
	)
	if got := HashedAccountURI(prefix, "example.com", thumb, acct); got != prefix+"sha-256/"+draftHash {
		t.Fatalf("example.com: %s", got)
	}
	if got := HashedAccountURI(prefix, AnyName, thumb, acct); got != prefix+"sha-256/NpDnSwUthQK8zCgFdefYxAdAVPnygMLbs9US6oO-5ug" {
		t.Fatalf("*: %s", got)
	}
	h := Hashing{Prefix: prefix, Thumbprint: thumb}
	if err := h.Check(); err != nil {
		t.Fatal(err)
	}
	if got := h.URI("Example.COM.", acct); got != prefix+"sha-256/"+draftHash {
		t.Fatalf("URI of a name with a dot and capitals: %s", got)
	}
	if form, err := ValidateAccountURI(h.URI("example.com.", acct)); err != nil || form != AccountHash {
		t.Fatalf("the computed URI: %v %v", form, err)
	}
	if !MatchesAccount(h.URI("example.com", acct), "example.com.", acct, &h) ||
		!MatchesAccount(HashedAccountURI(prefix, AnyName, thumb, acct), "x.example.com.", acct, &h) ||
		MatchesAccount(h.URI("example.com", acct), "other.example.com.", acct, &h) ||
		MatchesAccount(h.URI("example.com", acct), "example.com.", "https://ca.example/acct/124", &h) ||
		!MatchesAccount(acct, "example.com", acct, nil) {
		t.Fatal("MatchesAccount")
	}
	any := Hashing{Prefix: prefix, Thumbprint: thumb, AnyName: true}
	if any.URI("a.example", acct) != any.URI("b.example", acct) {
		t.Fatal("AnyName depends on the name")
	}
	for _, bad := range []Hashing{
		{Prefix: prefix, Thumbprint: thumb[:42]},
		{Prefix: prefix, Thumbprint: strings.Repeat("=", 43)},
		{Prefix: "", Thumbprint: thumb},
		{Prefix: "not a uri ", Thumbprint: thumb},
	} {
		if err := bad.Check(); err == nil {
			t.Errorf("accepted %+v", bad)
		}
	}
}
