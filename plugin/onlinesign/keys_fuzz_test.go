package onlinesign

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// FuzzReadKey reads arbitrary BIND key pairs (K*.key and K*.private, which
// operators may bring from BIND): a pair that is accepted signs (its
// self-test passed), has a lower-case owner, and written out again as the
// plugin writes keys it reads back as the same key.
func FuzzReadKey(f *testing.F) {
	dir := f.TempDir()
	for _, c := range []struct {
		alg uint8
		sep bool
	}{{dns.ECDSAP256SHA256, true}, {dns.ED25519, false}, {dns.ECDSAP384SHA384, false}} {
		k, err := generateKey("example.test.", c.alg, c.sep, 3600, nil)
		if err != nil {
			f.Fatal(err)
		}
		if err := writeKey(dir, k, time.Unix(1_700_000_000, 0)); err != nil {
			f.Fatal(err)
		}
		pub, _ := os.ReadFile(filepath.Join(dir, k.Base+".key"))
		priv, _ := os.ReadFile(filepath.Join(dir, k.Base+".private"))
		f.Add(pub, priv)
	}
	f.Fuzz(func(t *testing.T, pub, priv []byte) {
		dir := t.TempDir()
		const base = "Kexample.test.+013+00001"
		if err := os.WriteFile(filepath.Join(dir, base+".key"), pub, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, base+".private"), priv, 0o600); err != nil {
			t.Fatal(err)
		}
		k, err := readKey(dir, base)
		if err != nil {
			return
		}
		if err := k.selfTest(); err != nil {
			t.Fatalf("accepted a key that does not sign: %v", err)
		}
		if n := k.DNSKEY.Hdr.Name; n != dns.CanonicalName(n) {
			t.Fatalf("key owner %q not canonical", n)
		}
		out := t.TempDir()
		if err := writeKey(out, k, time.Unix(1_700_000_000, 0)); err != nil {
			t.Fatalf("accepted key cannot be written: %v", err)
		}
		again, err := readKey(out, k.Base)
		if err != nil {
			t.Fatalf("key written out does not read back: %v", err)
		}
		if !dns.IsDuplicate(again.DNSKEY, k.DNSKEY) || again.Tag() != k.Tag() {
			t.Fatalf("key %v reads back as %v", k.DNSKEY, again.DNSKEY)
		}
	})
}
