package harness

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-acme/lego/v5/acme/api"
)

// PebbleVersion is the Pebble (Let's Encrypt's ACME test CA) the tests use.
const PebbleVersion = "v2.10.3"

const pebbleModule = "github.com/letsencrypt/pebble/v2"

// Pebble is a running Pebble ACME server.
type Pebble struct {
	*Proc
	// Directory is the ACME directory URL (https://127.0.0.1:PORT/dir).
	Directory string
	// RootPEM is the path of the root that Pebble's HTTPS certificate chains
	// to (test/certs/pebble.minica.pem of its module): trust it to talk ACME
	// (REQUESTS_CA_BUNDLE for certbot, LEGO_CA_CERTIFICATES for lego).
	RootPEM string
	// Port and MgmtPort are the ACME and management (roots, intermediates)
	// HTTPS ports.
	Port, MgmtPort int

	argv []string
	dir  string
	env  []string
}

// PebbleProfile is an ACME certificate profile Pebble offers
// (draft-ietf-acme-profiles): ValidityPeriod is the certificates' lifetime
// in seconds (0: Pebble's default, 90 days).
type PebbleProfile struct {
	Description    string `json:"description"`
	ValidityPeriod uint64 `json:"validityPeriod"`
}

// PebbleOpts tune StartPebble.
type PebbleOpts struct {
	// DNSServer is the host:port Pebble resolves through (for dns-01 it asks
	// TXT over TCP, with RD set, and fails on any rcode but NOERROR).
	DNSServer string
	// HTTPPort and TLSPort are where Pebble's VA connects for http-01 and
	// tls-alpn-01 (default: free ports nobody listens on).
	HTTPPort, TLSPort int
	// Env adds to (or overrides) the environment: the defaults are
	// PEBBLE_VA_NOSLEEP=1, PEBBLE_VA_ALWAYS_VALID=0, PEBBLE_WFE_NONCEREJECT=0,
	// PEBBLE_AUTHZREUSE=0 (every order validates its challenges).
	Env []string
	// Profiles replaces Pebble's profiles (by name). Pebble picks one at
	// random for an order that names none: give one profile to make every
	// order use it (a short ValidityPeriod makes renewals happen in a test).
	Profiles map[string]PebbleProfile
	// Port fixes the ACME port (0: a free one), e.g. for a directory URL
	// written in a configuration before Pebble starts.
	Port int
	// EABKeys makes External Account Binding (RFC 8555 §7.3.4) required,
	// with these MAC keys (base64url) by key id.
	EABKeys map[string]string
}

var (
	pebbleSrcOnce sync.Once
	pebbleSrc     string
	pebbleSrcErr  error
)

// PebbleSource returns the directory of Pebble's module source in the Go
// module cache (downloaded if needed): its test/certs hold the TLS root and
// the server certificate.
func PebbleSource(t testing.TB) string {
	t.Helper()
	pebbleSrcOnce.Do(func() {
		cmd := exec.Command("go", "mod", "download", "-json", pebbleModule+"@"+PebbleVersion)
		cmd.Dir = os.TempDir() // outside any module: go.mod is not touched
		cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod")
		out, err := cmd.Output()
		if err != nil {
			pebbleSrcErr = fmt.Errorf("go mod download %s@%s: %v\n%s", pebbleModule, PebbleVersion, err, out)
			return
		}
		var info struct{ Dir, Error string }
		if err := json.Unmarshal(out, &info); err != nil || info.Dir == "" {
			pebbleSrcErr = fmt.Errorf("go mod download %s: %v %s", pebbleModule, err, info.Error)
			return
		}
		pebbleSrc = info.Dir
	})
	if pebbleSrcErr != nil {
		if CI() {
			t.Fatal(pebbleSrcErr)
		}
		t.Skip(pebbleSrcErr)
	}
	return pebbleSrc
}

// StartPebble runs Pebble on free loopback ports and waits until its ACME
// directory answers.
func StartPebble(t testing.TB, o PebbleOpts) *Pebble {
	t.Helper()
	bin := GoInstall(t, pebbleModule+"/cmd/pebble@"+PebbleVersion)
	src := PebbleSource(t)
	if o.Port == 0 {
		o.Port = FreePort(t)
	}
	p := &Pebble{Port: o.Port, MgmtPort: FreePort(t), RootPEM: filepath.Join(src, "test", "certs", "pebble.minica.pem")}
	if o.HTTPPort == 0 {
		o.HTTPPort = FreePort(t)
	}
	if o.TLSPort == 0 {
		o.TLSPort = FreePort(t)
	}
	dir := t.TempDir()
	cfg := map[string]any{"pebble": map[string]any{
		"listenAddress":                  Addr(p.Port),
		"managementListenAddress":        Addr(p.MgmtPort),
		"certificate":                    filepath.Join(src, "test", "certs", "localhost", "cert.pem"),
		"privateKey":                     filepath.Join(src, "test", "certs", "localhost", "key.pem"),
		"httpPort":                       o.HTTPPort,
		"tlsPort":                        o.TLSPort,
		"ocspResponderURL":               "",
		"externalAccountBindingRequired": false,
		"retryAfter":                     map[string]int{"authz": 1, "order": 1},
		"keyAlgorithm":                   "ecdsa",
	}}
	if len(o.Profiles) > 0 {
		cfg["pebble"].(map[string]any)["profiles"] = o.Profiles
	}
	if len(o.EABKeys) > 0 {
		cfg["pebble"].(map[string]any)["externalAccountBindingRequired"] = true
		cfg["pebble"].(map[string]any)["externalAccountMACKeys"] = o.EABKeys
	}
	b, _ := json.MarshalIndent(cfg, "", "  ")
	conf := filepath.Join(dir, "pebble-config.json")
	if err := os.WriteFile(conf, b, 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{bin, "-config", conf}
	if o.DNSServer != "" {
		args = append(args, "-dnsserver", o.DNSServer)
	}
	env := append([]string{"PEBBLE_VA_NOSLEEP=1", "PEBBLE_VA_ALWAYS_VALID=0", "PEBBLE_WFE_NONCEREJECT=0", "PEBBLE_AUTHZREUSE=0"}, o.Env...)
	p.argv, p.dir, p.env = args, dir, env
	p.Directory = fmt.Sprintf("https://%s/dir", Addr(p.Port))
	p.start(t)
	return p
}

// Restart stops Pebble (if running) and starts it again on the same ports
// with the same configuration. Pebble keeps everything in memory: accounts,
// orders, certificates and its issuing roots are new after a restart, as
// with a CA that lost its database.
func (p *Pebble) Restart(t testing.TB) {
	t.Helper()
	if p.Proc != nil && !p.Exited() {
		p.Stop()
	}
	p.start(t)
}

func (p *Pebble) start(t testing.TB) {
	t.Helper()
	p.Proc = Start(t, "pebble", p.argv, StartOpts{Dir: p.dir, Env: p.env})
	client := p.HTTPClient(t)
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := client.Get(p.Directory)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if p.Exited() || time.Now().After(deadline) {
			t.Fatalf("pebble did not serve %s (err %v)\n%s", p.Directory, err, p.Output())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// RootPool is a pool holding Pebble's HTTPS root.
func (p *Pebble) RootPool(t testing.TB) *x509.CertPool {
	t.Helper()
	b, err := os.ReadFile(p.RootPEM)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		t.Fatalf("no certificate in %s", p.RootPEM)
	}
	return pool
}

// HTTPClient trusts Pebble's HTTPS root.
func (p *Pebble) HTTPClient(t testing.TB) *http.Client {
	return &http.Client{
		Timeout:   30 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.RootPool(t)}},
	}
}

// IssuerRoots returns the roots Pebble issues certificates under (PEM; they
// change at every start of Pebble), from its management interface.
func (p *Pebble) IssuerRoots(t testing.TB) []byte {
	t.Helper()
	resp, err := p.HTTPClient(t).Get(fmt.Sprintf("https://%s/roots/0", Addr(p.MgmtPort)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("pebble roots: %d %v", resp.StatusCode, err)
	}
	return b
}

// VerifyCertificate checks that chainPEM (leaf first, then intermediates) is
// a certificate Pebble issued, valid now for every one of names.
func (p *Pebble) VerifyCertificate(t testing.TB, chainPEM []byte, names ...string) *x509.Certificate {
	t.Helper()
	var certs []*x509.Certificate
	for rest := chainPEM; ; {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			break
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		t.Fatal("no certificate in the chain")
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(p.IssuerRoots(t))
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	for _, n := range names {
		if _, err := certs[0].Verify(x509.VerifyOptions{DNSName: strings.TrimSuffix(n, "."), Roots: roots, Intermediates: inter}); err != nil {
			t.Fatalf("certificate for %v does not verify for %s: %v", certs[0].DNSNames, n, err)
		}
	}
	return certs[0]
}

// ARIWindow is a suggested renewal window (RFC 9773 §4.2).
type ARIWindow struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

// RenewalInfo asks Pebble's ACME renewalInfo resource (RFC 9773, unauthenticated
// GET) for its suggested renewal window for leaf, a certificate it issued.
func (p *Pebble) RenewalInfo(t testing.TB, leaf *x509.Certificate) ARIWindow {
	t.Helper()
	client := p.HTTPClient(t)
	var dir struct {
		RenewalInfo string `json:"renewalInfo"`
	}
	getJSON(t, client, p.Directory, &dir)
	if dir.RenewalInfo == "" {
		t.Fatalf("pebble's directory has no renewalInfo")
	}
	id, err := api.MakeARICertID(leaf)
	if err != nil {
		t.Fatal(err)
	}
	var info struct {
		SuggestedWindow ARIWindow `json:"suggestedWindow"`
	}
	getJSON(t, client, strings.TrimSuffix(dir.RenewalInfo, "/")+"/"+id, &info)
	return info.SuggestedWindow
}

// SetRenewalInfo makes Pebble answer w as the suggested renewal window of
// leaf from now on (its management interface's set-renewal-info).
func (p *Pebble) SetRenewalInfo(t testing.TB, leaf *x509.Certificate, w ARIWindow) {
	t.Helper()
	ari, _ := json.Marshal(map[string]ARIWindow{"suggestedWindow": {Start: w.Start.UTC(), End: w.End.UTC()}})
	p.SetRenewalInfoRaw(t, leaf, string(ari))
}

// SetRenewalInfoRaw makes Pebble answer body, whatever it is (malformed JSON
// included), to renewal information requests for leaf.
func (p *Pebble) SetRenewalInfoRaw(t testing.TB, leaf *x509.Certificate, ari string) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{
		"Certificate": string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Raw})),
		"ARIResponse": ari,
	})
	resp, err := p.HTTPClient(t).Post(fmt.Sprintf("https://%s/set-renewal-info/", Addr(p.MgmtPort)), "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("pebble set-renewal-info: %d %s", resp.StatusCode, b)
	}
}

func getJSON(t testing.TB, client *http.Client, url string, v any) {
	t.Helper()
	resp, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v %s", url, resp.StatusCode, err, b)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("GET %s: %v: %s", url, err, b)
	}
}
