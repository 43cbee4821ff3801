package tlsa

import (
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/dnspki/dnspki/plugin/pkg/localapi"
)

// DefaultHTTPAddr is where the readiness endpoint listens when `http` has no
// address, and where "dnspki tlsa-ready" asks by default.
const DefaultHTTPAddr = "127.0.0.1:8553"

// The readiness endpoints, shared by configuration generations (a reload
// keeps the listener) and by every zone of a configuration.
var endpoints = localapi.New(pluginName, "readiness endpoint", "/tlsa/v1/", 30*time.Second, func(mux *http.ServeMux) {
	mux.HandleFunc("/tlsa/v1/status", handleStatus)
	mux.HandleFunc("/tlsa/v1/ready", handleReady)
})

// checkLoopback refuses an address that is not on a loopback interface: the
// endpoint has no authentication.
func checkLoopback(addr string) error { return localapi.CheckLoopback(addr, "readiness endpoint") }

func startHTTP(addr string) error { return endpoints.Start(addr) }

// serveHTTP serves the endpoint on ln, registered as addr (the caller holds
// endpoints' lock).
func serveHTTP(addr string, ln net.Listener) { endpoints.ServeLocked(addr, ln) }

func stopHTTP(addr string) { endpoints.Stop(addr) }

var writeJSON = localapi.WriteJSON

type apiError = localapi.Error

// handleStatus: GET /tlsa/v1/status[?cert=ID] lists the published records.
func handleStatus(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		writeJSON(w, http.StatusMethodNotAllowed, apiError{Error: "GET only"})
		return
	}
	id := r.URL.Query().Get("cert")
	out := []CertStatus{}
	for _, m := range Managers() {
		for _, cs := range m.Status() {
			if id == "" || cs.Cert == id {
				out = append(out, cs)
			}
		}
	}
	if id != "" && len(out) == 0 {
		writeJSON(w, http.StatusNotFound, apiError{Error: "no certificate " + id})
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// handleReady answers whether material is safe to switch to: 200 when it
// is, 503 when not (yet).
//
//	GET  /tlsa/v1/ready?cert=ID    the certificate now in ID's files
//	POST /tlsa/v1/ready[?cert=ID]  the PEM body: certificates or a public key
func handleReady(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("cert")
	var mat *Material
	switch r.Method {
	case http.MethodGet:
		if id == "" {
			writeJSON(w, http.StatusBadRequest, apiError{Error: "GET needs ?cert=ID (or POST the certificate or public key)"})
			return
		}
	case http.MethodPost:
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			writeJSON(w, http.StatusBadRequest, apiError{Error: err.Error()})
			return
		}
		if strings.Contains(string(body), "PRIVATE KEY-----") {
			writeJSON(w, http.StatusBadRequest, apiError{Error: "send the certificate or the public key, never a private key"})
			return
		}
		m, err := ParseMaterial(body)
		if err != nil {
			writeJSON(w, http.StatusBadRequest, apiError{Error: "body: " + err.Error()})
			return
		}
		mat = &m
	default:
		writeJSON(w, http.StatusMethodNotAllowed, apiError{Error: "GET or POST"})
		return
	}
	res, err := readyAll(id, mat)
	if errors.Is(err, ErrUnknownCert) {
		writeJSON(w, http.StatusNotFound, apiError{Error: "no certificate " + id})
		return
	}
	if err != nil {
		writeJSON(w, http.StatusServiceUnavailable, apiError{Error: err.Error()})
		return
	}
	code := http.StatusOK
	if !res.Ready {
		code = http.StatusServiceUnavailable
	}
	writeJSON(w, code, res)
}

// readyAll asks the manager that has id, or, without id, every manager whose
// certificates publish a record matching mat.
func readyAll(id string, mat *Material) (Readiness, error) {
	if id != "" {
		m := Lookup(id)
		if m == nil {
			return Readiness{}, ErrUnknownCert
		}
		return m.Ready(id, mat)
	}
	out := Readiness{Ready: true}
	found := false
	for _, m := range Managers() {
		m.mu.Lock()
		n := len(m.publishing(*mat))
		m.mu.Unlock()
		if n == 0 {
			continue
		}
		found = true
		r, err := m.Ready("", mat)
		if err != nil {
			return Readiness{}, err
		}
		out.merge(r)
	}
	if !found {
		out = Readiness{Reason: "no certificate publishes a record matching it"}
	}
	out.finish()
	return out, nil
}
