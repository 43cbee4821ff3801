package certs

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-acme/lego/v5/acme"
)

func newKey(t testing.TB) crypto.Signer {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// issue makes a certificate for key signed by a throwaway CA (leaf, CA).
func issue(t testing.TB, key crypto.Signer, nb, na time.Time, names ...string) *issued {
	t.Helper()
	caKey := newKey(t)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"}, NotBefore: nb, NotAfter: na.Add(time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, caKey.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{SerialNumber: serial, NotBefore: nb, NotAfter: na, DNSNames: names}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, key.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	return &issued{chain: []*x509.Certificate{leaf, ca}, key: key}
}

func testManager(t *testing.T) *manager {
	m := &manager{b: &blockConfig{backoffMin: time.Second, backoffMax: 4 * time.Second, stateDir: t.TempDir(), checks: []string{checkNone}, challengeTTL: 60, origins: []string{"example.test."}, concurrency: 2}, zones: map[string]*zoneBinding{}}
	m.gate, m.kick = newGate(m.b.backoffMin, m.b.backoffMax), make(chan struct{}, 1)
	// A CA nobody answers for (port 1 refuses at once): ARI questions fail.
	m.acct = &account{directory: "https://127.0.0.1:1/dir", st: &accountState{}, key: newKey(t), http: &http.Client{Timeout: time.Second}}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	t.Cleanup(m.cancel)
	return m
}

func TestWriteFilesAllOrNothing(t *testing.T) {
	dir := t.TempDir()
	is := issue(t, newKey(t), time.Now().Add(-time.Hour), time.Now().Add(time.Hour), "www.example.test")
	out := filepath.Join(dir, "www")
	if err := writeFiles(outputFiles(out, is)); err != nil {
		t.Fatal(err)
	}
	for f, mode := range map[string]os.FileMode{filePrivkey: 0o600, fileCert: 0o644, fileChain: 0o644, fileFullchain: 0o644} {
		fi, err := os.Stat(filepath.Join(out, f))
		if err != nil || fi.Mode().Perm() != mode {
			t.Fatalf("%s: %v %v, want mode %v", f, fi.Mode(), err, mode)
		}
	}
	got, err := readIssued(out)
	if err != nil || len(got.chain) != 2 || !samePublic(got.key.Public(), is.key.Public()) {
		t.Fatalf("read back: %v", err)
	}
	// A set whose last file cannot be written (its folder is a file: what a
	// full disk does to the last write) changes nothing.
	before, _ := os.ReadFile(filepath.Join(out, fileFullchain))
	is2 := issue(t, newKey(t), time.Now().Add(-time.Hour), time.Now().Add(time.Hour), "www.example.test")
	os.WriteFile(filepath.Join(dir, "blocker"), []byte("x"), 0o644)
	files := append(outputFiles(out, is2), fileSpec{filepath.Join(dir, "blocker", "state.json"), []byte("{}"), 0o600})
	err = writeFiles(files)
	var we *writeError
	if !errors.As(err, &we) {
		t.Fatalf("want a writeError, got %v", err)
	}
	if after, _ := os.ReadFile(filepath.Join(out, fileFullchain)); string(after) != string(before) {
		t.Fatal("a failed set changed fullchain.pem")
	}
	if got, err := readIssued(out); err != nil || !samePublic(got.key.Public(), is.key.Public()) {
		t.Fatalf("the old certificate and key are not intact: %v", err)
	}
	ents, _ := os.ReadDir(out)
	for _, e := range ents {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Fatalf("temporary file left: %s", e.Name())
		}
	}
}

func TestReadIssuedKeyMismatch(t *testing.T) {
	dir := t.TempDir()
	is := issue(t, newKey(t), time.Now().Add(-time.Hour), time.Now().Add(time.Hour), "www.example.test")
	writeFiles(outputFiles(dir, is))
	writeFiles([]fileSpec{{filepath.Join(dir, filePrivkey), keyPEM(newKey(t)), 0o600}})
	if _, err := readIssued(dir); err == nil || !strings.Contains(err.Error(), "does not belong") {
		t.Fatalf("mismatched key: %v", err)
	}
}

// A certificate obtained while its files cannot be written (a full disk) is
// kept in memory and installed by a later attempt; the current one stays in
// use meanwhile, and the order is not placed again.
func TestInstallRetriedAfterWriteFailure(t *testing.T) {
	m := testManager(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "www")
	os.WriteFile(out, []byte("not a folder"), 0o644) // writes fail
	c := &cert{m: m, cfg: &certConfig{id: "unit-www", names: []string{"www.example.test"}, out: out}, statePath: filepath.Join(dir, "www.json"), st: &certState{}}
	now := time.Now()
	old := issue(t, newKey(t), now.Add(-time.Hour), now.Add(time.Hour), "www.example.test")
	c.cur = old
	next := newKey(t)
	c.next = next
	is := issue(t, next, now, now.Add(2*time.Hour), "www.example.test")
	if err := c.install(is, "next"); err == nil {
		t.Fatal("install into a file succeeded")
	} else {
		c.pending = is
		c.failed(now, "writing the files", err)
	}
	if c.current() != old || c.st.LastResult != "write_failed" || c.st.Failures != 1 || c.next == nil {
		t.Fatalf("after the failure: current changed=%v result=%s failures=%d", c.current() != old, c.st.LastResult, c.st.Failures)
	}
	os.Remove(out)
	if at := c.step(context.Background(), c.st.RetryAt.Add(time.Millisecond)); at.IsZero() {
		t.Fatal("no next step")
	}
	if c.current() != is || c.pending != nil || c.next != nil || c.st.LastResult != "success" || c.st.Failures != 0 {
		t.Fatalf("after the retry: installed=%v pending=%v result=%s", c.current() == is, c.pending != nil, c.st.LastResult)
	}
	if got, err := readIssued(out); err != nil || !samePublic(got.key.Public(), next.Public()) {
		t.Fatalf("files: %v", err)
	}
}

func TestBackoff(t *testing.T) {
	m := testManager(t)
	c := &cert{m: m, cfg: &certConfig{id: "unit-backoff"}, statePath: filepath.Join(t.TempDir(), "s.json"), st: &certState{}}
	now := time.Now()
	for i, want := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 4 * time.Second} {
		at := c.failed(now, "the order", errors.New("boom"))
		if d := at.Sub(now); d < want || d > want+want/10+time.Millisecond {
			t.Fatalf("attempt %d: retry in %s, want %s (+10%%)", i+1, d, want)
		}
	}
	rl := &acme.RateLimitedError{ProblemDetails: &acme.ProblemDetails{Type: acme.RateLimitedErrorType}, RetryAfter: time.Hour}
	if at := c.failed(now, "the order", rl); at.Sub(now) < time.Hour || c.st.LastResult != "rate_limited" {
		t.Fatalf("a rate limit's Retry-After is not honoured: %s %s", at.Sub(now), c.st.LastResult)
	}
}

func TestClassify(t *testing.T) {
	for want, err := range map[string]error{
		"write_failed":      &writeError{errors.New("no space left on device")},
		"dns_propagation":   errors.Join(errors.New("x"), &propagationError{errors.New("late")}),
		"validation_failed": &validationError{&acme.ProblemDetails{Type: acme.IncorrectResponseErrorType}},
		"rate_limited":      &acme.ProblemDetails{Type: acme.RateLimitedErrorType},
		"refused":           &acme.ProblemDetails{Type: acme.RejectedIdentifierErrorType},
		"ca_unreachable":    &url.Error{Op: "Get", URL: "https://ca/dir", Err: errors.New("connection refused")},
		"timeout":           context.DeadlineExceeded,
		"error":             errors.New("something else"),
	} {
		if got := classify(err); got != want {
			t.Errorf("classify(%v) = %s, want %s", err, got, want)
		}
	}
}

// Without ARI the renewal is at two thirds of the lifetime, minus jitter of
// at most a fifteenth.
func TestScheduleLifetime(t *testing.T) {
	m := testManager(t)
	nb := time.Now().Add(-time.Hour).Truncate(time.Second)
	L := 90 * 24 * time.Hour
	c := &cert{m: m, cfg: &certConfig{id: "unit-sched"}, statePath: filepath.Join(t.TempDir(), "s.json"), st: &certState{}, ariOff: true}
	c.cur = issue(t, newKey(t), nb, nb.Add(L), "www.example.test")
	for range 20 {
		c.st.RenewAt = time.Time{}
		c.schedule(context.Background(), time.Now())
		lo, hi := nb.Add(2*L/3-L/15), nb.Add(2*L/3)
		if c.st.RenewAt.Before(lo) || c.st.RenewAt.After(hi) || c.st.RenewWhy != "lifetime" {
			t.Fatalf("renewal at %s (%s), want in [%s, %s]", c.st.RenewAt, c.st.RenewWhy, lo, hi)
		}
	}
}

// The CA cannot be asked for renewal information (unreachable, or a
// malformed answer): the certificate and its schedule stay, and ARI is asked
// again with backoff (MIN, doubling, at most MAX).
func TestARIErrorBackoff(t *testing.T) {
	m := testManager(t) // backoff 1s 4s, a CA that refuses connections
	nb := time.Now().Add(-time.Hour).Truncate(time.Second)
	c := &cert{m: m, cfg: &certConfig{id: "unit-ari"}, statePath: filepath.Join(t.TempDir(), "s.json"), st: &certState{}}
	c.cur = issue(t, newKey(t), nb, nb.Add(90*24*time.Hour), "www.example.test")
	c.st.RenewAt, c.st.RenewWhy = nb.Add(60*24*time.Hour), "ari"
	renewAt := c.st.RenewAt
	var waits []time.Duration
	for range 4 {
		now := time.Now()
		c.schedule(context.Background(), now)
		waits = append(waits, c.st.ARICheck.Sub(now))
	}
	for i, want := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 4 * time.Second} {
		if waits[i] != want {
			t.Fatalf("ARI asked again after %v, want 1s 2s 4s 4s", waits)
		}
	}
	if !c.st.RenewAt.Equal(renewAt) || c.st.RenewWhy != "ari" || c.ariErr == "" || c.ariOff {
		t.Fatalf("schedule changed: %s %s (error %q, off %v)", c.st.RenewAt, c.st.RenewWhy, c.ariErr, c.ariOff)
	}
}
