package dane

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/dnspki/dnspki/test/harness"
)

// openssl s_client (TLS and SMTP STARTTLS) and ldns-dane verify the servers
// with the records dnspki publishes; records that do not match make them
// fail (so the checks are real).
func TestVerifyWithPeers(t *testing.T) {
	harness.Need(t, "openssl", "ldns-dane")
	dir := t.TempDir()
	ca := harness.NewTestCA(t, "dane test")
	ka, kb := harness.NewKey(t), harness.NewKey(t)
	chain := ca.Issue(t, ka, 0, "www.example.test", "mail.example.test")
	certs := filepath.Join(dir, "certs", "www")
	harness.WriteFile(t, filepath.Join(certs, "fullchain.pem"), harness.CertsPEM(chain...))
	harness.WriteFile(t, filepath.Join(certs, "privkey.pem"), harness.KeyPEM(t, ka))
	harness.WriteFile(t, filepath.Join(certs, "privkey.next.pem"), harness.KeyPEM(t, kb))
	e := start(t, dir, "certs/www", filepath.Join(certs, "fullchain.pem"), filepath.Join(certs, "privkey.pem"),
		"form 3 1 1\n            form 2 1 1")
	s := sha256.Sum256(chain[1].RawSubjectPublicKeyInfo)
	ta := "2 1 1 " + hex.EncodeToString(s[:])
	e.expect("initial", leaf311(chain[0]), harness.SPKI311(kb.Public()), ta)
	r, err := harness.Query(e.srv.Addr, e.names[0], dns.TypeTLSA, true, false)
	if err != nil || !r.Authoritative || r.Answer[0].Header().Ttl != ttl {
		t.Fatalf("TLSA over TCP: %v %v", r, err)
	}

	e.verify("initial")

	// Each record alone: the DANE-EE one and the DANE-TA one verify, the
	// staged next key does not (the server does not use it yet).
	for _, c := range []struct {
		rr string
		ok bool
	}{{leaf311(chain[0]), true}, {ta, true}, {harness.SPKI311(kb.Public()), false}} {
		ok, out := harness.OpenSSLDANE(t, e.web.Addr, "www.example.test", []string{c.rr}, "")
		if ok != c.ok {
			t.Fatalf("openssl with only %q: verified %v, want %v\n%s", c.rr, ok, c.ok, out)
		}
		ok, out = harness.OpenSSLDANE(t, e.smtp.Addr, "mail.example.test", []string{c.rr}, "smtp")
		if ok != c.ok {
			t.Fatalf("openssl -starttls smtp with only %q: verified %v, want %v\n%s", c.rr, ok, c.ok, out)
		}
	}

	// ldns-dane: it takes a resolver address but not a port, so it reads the
	// records dnspki answered from a file (-t), in presentation form.
	r, err = harness.Query(e.srv.Addr, e.names[0], dns.TypeTLSA, false, false)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, rr := range r.Answer {
		lines = append(lines, rr.String())
	}
	ldns := func(rrs []string) (string, error) {
		f := filepath.Join(t.TempDir(), "tlsa")
		os.WriteFile(f, []byte(strings.Join(rrs, "\n")+"\n"), 0o644)
		return harness.Run(t, 20*time.Second, "", "ldns-dane", "-d", "-a", "127.0.0.1", "-t", f, "verify", "www.example.test", fmt.Sprint(e.web.Port))
	}
	out, err := ldns(lines)
	if err != nil || !strings.Contains(out, "dane-validated successfully") {
		t.Fatalf("ldns-dane with dnspki's records: %v\n%s\n%s", err, strings.Join(lines, "\n"), out)
	}
	var nextOnly []string
	for _, l := range lines {
		if strings.Contains(strings.ToLower(strings.ReplaceAll(l, " ", "")), strings.TrimPrefix(harness.SPKI311(kb.Public()), "3 1 1 ")) {
			nextOnly = append(nextOnly, l)
		}
	}
	if len(nextOnly) != 1 {
		t.Fatalf("next key record not found in %v", lines)
	}
	if out, err := ldns(nextOnly); err == nil || strings.Contains(out, "dane-validated successfully") {
		t.Fatalf("ldns-dane verified with the next key only:\n%s", out)
	}
}
