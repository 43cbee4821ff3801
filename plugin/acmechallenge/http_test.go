package acmechallenge

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func post(t *testing.T, h http.HandlerFunc, body string, hdr map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/x", strings.NewReader(body))
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h(w, req)
	return w
}

func basic(user, pass string) map[string]string {
	return map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))}
}

const apiCh = "_acme-challenge.api.example.test."

func TestHTTPLego(t *testing.T) {
	f := newFixture(t, "")
	api := f.a.api
	auth := basic("lego", "lego-pass")
	if w := post(t, api.lego(true), `{"fqdn":"`+apiCh+`","value":"`+v1+`"}`, auth); w.Code != 200 {
		t.Fatalf("present: %d %s", w.Code, w.Body)
	}
	if got := f.txt(apiCh); !slices.Equal(got, []string{v1}) {
		t.Fatalf("served %v", got)
	}
	// RAW mode: the server computes the digest.
	sum := sha256.Sum256([]byte("token.thumbprint"))
	want := base64.RawURLEncoding.EncodeToString(sum[:])
	if w := post(t, api.lego(true), `{"domain":"api.example.test","token":"token","keyAuth":"token.thumbprint"}`, auth); w.Code != 200 {
		t.Fatalf("present raw: %d %s", w.Code, w.Body)
	}
	if got := f.txt(apiCh); len(got) != 2 || !slices.Contains(got, want) {
		t.Fatalf("served %v", got)
	}
	s0 := f.serial()
	for _, c := range []struct {
		name string
		body string
		hdr  map[string]string
		code int
	}{
		{"no auth", `{"fqdn":"` + apiCh + `","value":"` + v2 + `"}`, nil, 401},
		{"bad password", `{"fqdn":"` + apiCh + `","value":"` + v2 + `"}`, basic("lego", "nope-nope"), 401},
		{"unknown user", `{"fqdn":"` + apiCh + `","value":"` + v2 + `"}`, basic("who", "lego-pass"), 401},
		{"other name", `{"fqdn":"_acme-challenge.www.example.test.","value":"` + v2 + `"}`, auth, 403},
		{"apex", `{"fqdn":"example.test.","value":"` + v2 + `"}`, auth, 403},
		{"other zone", `{"fqdn":"_acme-challenge.api.example.org.","value":"` + v2 + `"}`, auth, 403},
		{"not a digest", `{"fqdn":"` + apiCh + `","value":"hello"}`, auth, 400},
		{"bad json", `{"fqdn":`, auth, 400},
		{"empty", `{}`, auth, 400},
	} {
		if w := post(t, api.lego(true), c.body, c.hdr); w.Code != c.code {
			t.Errorf("%s: %d %s, want %d", c.name, w.Code, strings.TrimSpace(w.Body.String()), c.code)
		}
	}
	if f.serial() != s0 {
		t.Fatal("refused requests changed the zone")
	}
	if w := post(t, api.lego(false), `{"fqdn":"`+apiCh+`","value":"`+v1+`"}`, auth); w.Code != 200 {
		t.Fatalf("cleanup: %d %s", w.Code, w.Body)
	}
	if got := f.txt(apiCh); !slices.Equal(got, []string{want}) {
		t.Fatalf("served %v", got)
	}
	req := httptest.NewRequest(http.MethodGet, "/present", nil)
	w := httptest.NewRecorder()
	api.lego(true)(w, req)
	if w.Code != http.StatusMethodNotAllowed {
		t.Fatalf("GET: %d", w.Code)
	}
}

func TestHTTPAcmeDNS(t *testing.T) {
	f := newFixture(t, "")
	api := f.a.api
	hdr := map[string]string{"X-Api-User": "lego", "X-Api-Key": "lego-pass"}
	for _, v := range []string{v1, v2, v3} {
		w := post(t, api.acmeDNS, `{"subdomain":"api.example.test","txt":"`+v+`"}`, hdr)
		if w.Code != 200 || !strings.Contains(w.Body.String(), v) {
			t.Fatalf("update %s: %d %s", v, w.Code, w.Body)
		}
	}
	// Like acme-dns: the two newest values.
	if got := f.txt(apiCh); len(got) != 2 || slices.Contains(got, v1) {
		t.Fatalf("served %v", got)
	}
	for _, c := range []struct {
		name string
		body string
		hdr  map[string]string
		code int
		err  string
	}{
		{"bad key", `{"subdomain":"api.example.test","txt":"` + v1 + `"}`, map[string]string{"X-Api-User": "lego", "X-Api-Key": "x"}, 401, "forbidden"},
		{"other name", `{"subdomain":"www.example.test","txt":"` + v1 + `"}`, hdr, 401, "forbidden"},
		{"bad txt", `{"subdomain":"api.example.test","txt":"short"}`, hdr, 400, "bad_txt"},
		{"bad json", `nope`, hdr, 400, "malformed_json_payload"},
	} {
		w := post(t, api.acmeDNS, c.body, c.hdr)
		if w.Code != c.code || !strings.Contains(w.Body.String(), `"`+c.err+`"`) {
			t.Errorf("%s: %d %s, want %d %s", c.name, w.Code, strings.TrimSpace(w.Body.String()), c.code, c.err)
		}
	}
	// The full owner name works as subdomain too.
	if w := post(t, api.acmeDNS, `{"subdomain":"`+apiCh+`","txt":"`+v1+`"}`, hdr); w.Code != 200 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
}

func TestHTTPServer(t *testing.T) {
	f := newFixture(t, "")
	api := f.a.api
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	pool := selfSigned(t, certFile, keyFile)
	api.cfg = &httpConfig{addr: "127.0.0.1:0", certFile: certFile, keyFile: keyFile}
	if err := api.start(); err != nil {
		t.Fatal(err)
	}
	defer api.stop()
	if err := api.start(); err != nil { // idempotent
		t.Fatal(err)
	}
	addr := api.addr()
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	req, _ := http.NewRequest(http.MethodPost, "https://"+addr+"/present", strings.NewReader(`{"fqdn":"`+apiCh+`","value":"`+v1+`"}`))
	req.SetBasicAuth("lego", "lego-pass")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("present over TLS: %d", resp.StatusCode)
	}
	if got := f.txt(apiCh); !slices.Equal(got, []string{v1}) {
		t.Fatalf("served %v", got)
	}
	api.stop()
	api.stop()
	if _, err := client.Get("https://" + addr + "/health"); err == nil {
		t.Fatal("still listening after stop")
	}
	// A missing certificate is a startup error.
	api.cfg = &httpConfig{addr: "127.0.0.1:0", certFile: filepath.Join(dir, "nope.pem"), keyFile: keyFile}
	if err := api.start(); err == nil {
		api.stop()
		t.Fatal("started without its certificate")
	}
}

func selfSigned(t *testing.T, certFile, keyFile string) *x509.CertPool {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	c, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(c)
	return pool
}
