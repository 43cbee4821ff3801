package onlinesign

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func TestKeyFilesRoundTrip(t *testing.T) {
	dir := t.TempDir()
	for _, alg := range []uint8{dns.ECDSAP256SHA256, dns.ECDSAP384SHA384, dns.ED25519} {
		k, err := generateKey("example.test.", alg, true, 3600, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := writeKey(dir, k, time.Now()); err != nil {
			t.Fatal(err)
		}
		for _, ext := range []string{".key", ".private"} {
			fi, err := os.Stat(filepath.Join(dir, k.Base+ext))
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != 0o600 {
				t.Errorf("%s%s mode %v, want 0600", k.Base, ext, fi.Mode().Perm())
			}
		}
		back, err := readKey(dir, k.Base)
		if err != nil {
			t.Fatal(err)
		}
		if back.Tag() != k.Tag() || back.DNSKEY.PublicKey != k.DNSKEY.PublicKey || !back.SEP() {
			t.Fatalf("read back %v, wrote %v", back.DNSKEY, k.DNSKEY)
		}
		want := keyBase("example.test.", alg, k.Tag())
		if k.Base != want || !strings.HasPrefix(want, "Kexample.test.+0") {
			t.Errorf("file name %s, want %s", k.Base, want)
		}
	}
	bases, err := findKeys(dir, "example.test.")
	if err != nil || len(bases) != 3 {
		t.Fatalf("findKeys: %v %v", bases, err)
	}
}

func TestMismatchedKeyFilesRefused(t *testing.T) {
	dir := t.TempDir()
	a, _ := generateKey("example.test.", dns.ECDSAP256SHA256, true, 3600, nil)
	b, _ := generateKey("example.test.", dns.ECDSAP256SHA256, true, 3600, nil)
	writeKey(dir, a, time.Now())
	writeKey(dir, b, time.Now())
	priv, _ := os.ReadFile(filepath.Join(dir, b.Base+".private"))
	os.WriteFile(filepath.Join(dir, a.Base+".private"), priv, 0o600)
	if _, err := readKey(dir, a.Base); err == nil || !strings.Contains(err.Error(), "do not belong together") {
		t.Fatalf("mismatched pair: %v", err)
	}
}

func TestCLIPrintsDS(t *testing.T) {
	dir := t.TempDir()
	cfg := defaultConfig()
	cfg.origin = "example.test."
	cfg.keyDir = dir
	m, err := acquireManager(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tag := m.state.Keys[0].Tag
	ds := dsOf(m.keys[m.state.Keys[0].Key].DNSKEY, dns.SHA256, 3600)
	m.release()
	var out, errb bytes.Buffer
	if st := runDS([]string{"-keys", dir, "example.test"}, &out, &errb); st != 0 {
		t.Fatalf("status %d: %s", st, errb.String())
	}
	if strings.TrimSpace(out.String()) != ds.String() {
		t.Fatalf("printed %q, want %q", out.String(), ds.String())
	}
	out.Reset()
	if st := runDS([]string{"-keys", dir, "-submitted", "example.test."}, &out, &errb); st != 0 {
		t.Fatalf("status %d: %s", st, errb.String())
	}
	b, _ := os.ReadFile(submittedFile(dir, "example.test."))
	if strings.TrimSpace(string(b)) != fmt.Sprint(tag) {
		t.Fatalf("submitted file %q", b)
	}
	if st := runDS([]string{"-keys", dir, "other.test"}, &out, &errb); st == 0 {
		t.Fatal("a zone without keys must fail")
	}
	// The trust anchor file has the CSK's DNSKEY.
	ta, _ := os.ReadFile(trustAnchorFile(dir, "example.test."))
	rr, err := dns.NewRR(string(ta))
	if err != nil || rr.(*dns.DNSKEY).KeyTag() != tag {
		t.Fatalf("trust anchor %q: %v", ta, err)
	}
}

func TestAdoptBindKey(t *testing.T) {
	dir := t.TempDir()
	// Fabricate a BIND-style pair from a generated key, with BIND's header.
	k, _ := generateKey("example.test.", dns.ECDSAP256SHA256, true, 0, nil)
	pub := "; This is a key-signing key, keyid 1, for example.test.\n; Created: 20240101000000 (Mon Jan  1 00:00:00 2024)\nexample.test. IN DNSKEY 257 3 13 " + k.DNSKEY.PublicKey + "\n"
	priv := k.DNSKEY.PrivateKeyString(k.Signer) + "Created: 20240101000000\nPublish: 20240101000000\nActivate: 20240101000000\n"
	os.WriteFile(filepath.Join(dir, k.Base+".key"), []byte(pub), 0o644)
	os.WriteFile(filepath.Join(dir, k.Base+".private"), []byte(priv), 0o600)
	cfg := defaultConfig()
	cfg.origin = "example.test."
	cfg.keyDir = dir
	m, err := acquireManager(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer m.release()
	if len(m.state.Keys) != 1 || m.state.Keys[0].Key != k.Base || m.state.Keys[0].Role != RoleCSK || !m.state.Keys[0].CDS {
		t.Fatalf("adopted %+v", m.state.Keys)
	}
}
