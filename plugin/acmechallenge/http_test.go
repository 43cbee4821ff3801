package acmechallenge

import (
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
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
	if err := api.start(); err != nil {
		t.Fatal(err)
	}
	defer api.stop()
	if err := api.start(); err != nil { // idempotent
		t.Fatal(err)
	}
	api.stop()
	api.stop()
}
