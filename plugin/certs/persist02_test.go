package certs

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/dnspki/dnspki/plugin/pkg/persist"
)

// A draft -02 CA's directory: its accountHashPrefix and issuerDomainNames
// are read (lego's Meta has neither); a prefix that cannot make a valid
// hashed URI, or a bad issuer name, is an error.
func TestReadDirectoryMeta(t *testing.T) {
	body := `{"newNonce":"x","meta":{"accountHashPrefix":"https://ca.example/account-hash/","issuerDomainNames":["ca.example"],"caaIdentities":["other.example"]}}`
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(body)) }))
	defer srv.Close()
	m, err := readDirectoryMeta(context.Background(), srv.Client(), srv.URL)
	if err != nil || m.AccountHashPrefix != "https://ca.example/account-hash/" || len(m.IssuerDomainNames) != 1 || m.IssuerDomainNames[0] != "ca.example" {
		t.Fatalf("meta %+v %v", m, err)
	}
	for _, bad := range []string{
		`{"meta":{"accountHashPrefix":"not a URI "}}`,
		`{"meta":{"issuerDomainNames":["CA.example"]}}`,
		`{"meta":`,
	} {
		body = bad
		if _, err := readDirectoryMeta(context.Background(), srv.Client(), srv.URL); err == nil {
			t.Errorf("accepted %s", bad)
		}
	}
	body = `{"meta":{"caaIdentities":["pebble.letsencrypt.org"]}}` // a draft -01 CA (Pebble)
	if m, err := readDirectoryMeta(context.Background(), srv.Client(), srv.URL); err != nil || m.AccountHashPrefix != "" {
		t.Fatalf("-01 directory: %+v %v", m, err)
	}
}

// persist-accounturi: auto follows the directory (hashed once it advertises
// an accountHashPrefix), url never hashes, hash needs a -02 CA, and
// hash-any-name publishes the cross-domain value. The thumbprint is the
// account key's.
func TestPersistHashing(t *testing.T) {
	key := newKey(t)
	thumb, err := thumbprint(key)
	if err != nil || len(thumb) != 43 {
		t.Fatalf("thumbprint %q %v", thumb, err)
	}
	m := testManager(t)
	m.acct = &account{st: &accountState{URI: "https://ca.example/acct/1"}, key: key}
	for _, form := range []string{persistFormAuto, persistFormURL} {
		m.b.persistForm = form
		if h, err := m.persistHashing(); h != nil || err != nil {
			t.Fatalf("%s, -01 CA: %v %v", form, h, err)
		}
	}
	m.b.persistForm = persistFormHash
	if _, err := m.persistHashing(); err == nil || !strings.Contains(err.Error(), "no accountHashPrefix") {
		t.Fatalf("hash with a -01 CA: %v", err)
	}
	m.acct.st.HashPrefix = "https://ca.example/account-hash/"
	for form, anyName := range map[string]bool{persistFormAuto: false, persistFormHash: false, persistFormHashAny: true} {
		m.b.persistForm = form
		h, err := m.persistHashing()
		if err != nil || h == nil || h.Thumbprint != thumb || h.Prefix != "https://ca.example/account-hash/" || h.AnyName != anyName {
			t.Fatalf("%s: %+v %v", form, h, err)
		}
	}
	m.b.persistForm = persistFormURL
	if h, _ := m.persistHashing(); h != nil {
		t.Fatal("url hashed")
	}
}

// The propagation check of a draft -02 order wants the record the CA will
// accept at that name: an issuer of the CA, the hashed URI for the name (or
// the cross-domain one), policy=wildcard for a wildcard.
func TestPersist02Match(t *testing.T) {
	const acct = "https://ca.example/acct/1"
	h := &persist.Hashing{Prefix: "https://ca.example/account-hash/", Thumbprint: "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"}
	rec := func(name, policy string) []dns.RR {
		r := &persist.Record{Issuer: "ca.example", AccountURI: h.URI(name, acct), Policy: policy}
		return []dns.RR{r.TXT(name, 60)}
	}
	issuers := []string{"ca.example"}
	if !persist02Match("intra.example.test.", acct, issuers, h, false)(rec("intra.example.test.", "")) {
		t.Fatal("the record of the name")
	}
	if !persist02Match("intra.example.test.", acct, issuers, h, true)(rec("intra.example.test.", "wildcard")) {
		t.Fatal("the wildcard record")
	}
	for what, ok := range map[string]bool{
		"another name's hash":    persist02Match("intra.example.test.", acct, issuers, h, false)(rec("www.example.test.", "")),
		"another account":        persist02Match("intra.example.test.", "https://ca.example/acct/2", issuers, h, false)(rec("intra.example.test.", "")),
		"another issuer":         persist02Match("intra.example.test.", acct, []string{"other.example"}, h, false)(rec("intra.example.test.", "")),
		"a wildcard without it":  persist02Match("intra.example.test.", acct, issuers, h, true)(rec("intra.example.test.", "")),
		"the URL (a -01 record)": persist02Match("intra.example.test.", acct, issuers, h, false)([]dns.RR{(&persist.Record{Issuer: "ca.example", AccountURI: acct}).TXT("intra.example.test.", 60)}),
		"nothing":                persist02Match("intra.example.test.", acct, issuers, h, false)(nil),
	} {
		if ok {
			t.Errorf("matched %s", what)
		}
	}
}
