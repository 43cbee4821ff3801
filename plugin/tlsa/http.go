package tlsa

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// DefaultHTTPAddr is where the readiness endpoint listens when `http` has no
// address, and where "dnspki tlsa-ready" asks by default.
const DefaultHTTPAddr = "127.0.0.1:8553"

// The readiness endpoints, shared by configuration generations (a reload
// keeps the listener) and by every zone of a configuration.
var endpoints = struct {
	sync.Mutex
	m map[string]*endpoint
}{m: map[string]*endpoint{}}

type endpoint struct {
	srv  *http.Server
	refs int
}

// checkLoopback refuses an address that is not on a loopback interface: the
// endpoint has no authentication.
func checkLoopback(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("address %q: %v", addr, err)
	}
	if port == "" {
		return fmt.Errorf("address %q: no port", addr)
	}
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("address %q: the readiness endpoint listens on loopback addresses only (127.0.0.1, [::1])", addr)
	}
	return nil
}

func startHTTP(addr string) error {
	endpoints.Lock()
	defer endpoints.Unlock()
	if ep := endpoints.m[addr]; ep != nil {
		ep.refs++
		return nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("readiness endpoint: %v", err)
	}
	serveHTTP(addr, ln)
	return nil
}

// serveHTTP serves the endpoint on ln, registered as addr (the caller holds
// endpoints' lock).
func serveHTTP(addr string, ln net.Listener) {
	mux := http.NewServeMux()
	mux.HandleFunc("/tlsa/v1/status", handleStatus)
	mux.HandleFunc("/tlsa/v1/ready", handleReady)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second}
	go srv.Serve(ln)
	endpoints.m[addr] = &endpoint{srv: srv, refs: 1}
	log.Infof("readiness endpoint on http://%s/tlsa/v1/", addr)
}

func stopHTTP(addr string) {
	endpoints.Lock()
	defer endpoints.Unlock()
	ep := endpoints.m[addr]
	if ep == nil {
		return
	}
	ep.refs--
	if ep.refs == 0 {
		ep.srv.Close()
		delete(endpoints.m, addr)
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

type apiError struct {
	Error string `json:"error"`
}

// handleStatus: GET /tlsa/v1/status[?cert=ID] lists the published records.
func handleStatus(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		writeJSON(w, http.StatusMethodNotAllowed, apiError{"GET only"})
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
		writeJSON(w, http.StatusNotFound, apiError{"no certificate " + id})
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
			writeJSON(w, http.StatusBadRequest, apiError{"GET needs ?cert=ID (or POST the certificate or public key)"})
			return
		}
	case http.MethodPost:
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			writeJSON(w, http.StatusBadRequest, apiError{err.Error()})
			return
		}
		if strings.Contains(string(body), "PRIVATE KEY-----") {
			writeJSON(w, http.StatusBadRequest, apiError{"send the certificate or the public key, never a private key"})
			return
		}
		m, err := ParseMaterial(body)
		if err != nil {
			writeJSON(w, http.StatusBadRequest, apiError{"body: " + err.Error()})
			return
		}
		mat = &m
	default:
		writeJSON(w, http.StatusMethodNotAllowed, apiError{"GET or POST"})
		return
	}
	res, err := readyAll(id, mat)
	if errors.Is(err, ErrUnknownCert) {
		writeJSON(w, http.StatusNotFound, apiError{"no certificate " + id})
		return
	}
	if err != nil {
		writeJSON(w, http.StatusServiceUnavailable, apiError{err.Error()})
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
