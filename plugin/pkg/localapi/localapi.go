// Package localapi holds what dnspki's loopback HTTP endpoints share (the
// tlsa plugin's readiness endpoint, the certs plugin's status endpoint): the
// rule that they listen on loopback addresses only (they have no
// authentication), one listener per address shared by configuration
// generations and blocks (a reload keeps it), and their JSON answers.
package localapi

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	clog "github.com/coredns/coredns/plugin/pkg/log"
)

// SplitAddr checks the syntax of an endpoint's address, HOST:PORT with a
// port, and returns its host.
func SplitAddr(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("address %q: %v", addr, err)
	}
	if port == "" {
		return "", fmt.Errorf("address %q: no port", addr)
	}
	return host, nil
}

// CheckLoopback refuses an address that is not on a loopback interface
// (what: the endpoint's name, for the error).
func CheckLoopback(addr, what string) error {
	host, err := SplitAddr(addr)
	if err != nil {
		return err
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("address %q: the %s listens on loopback addresses only (127.0.0.1, [::1])", addr, what)
	}
	return nil
}

// Endpoints are the listeners of one kind of endpoint, by address, each
// shared by reference count. The lock is held by ServeLocked's caller.
type Endpoints struct {
	sync.Mutex
	m            map[string]*endpoint
	log          clog.P
	what, path   string // "readiness endpoint", "/tlsa/v1/"
	routes       func(*http.ServeMux)
	writeTimeout time.Duration
}

type endpoint struct {
	srv  *http.Server
	refs int
}

// New makes the endpoints of a plugin: what names them in messages, path is
// the prefix of their URLs (logged), routes adds their handlers.
func New(plugin, what, path string, writeTimeout time.Duration, routes func(*http.ServeMux)) *Endpoints {
	return &Endpoints{m: map[string]*endpoint{}, log: clog.NewWithPlugin(plugin), what: what, path: path, routes: routes, writeTimeout: writeTimeout}
}

// Start listens on addr, or takes one more reference to its listener.
func (e *Endpoints) Start(addr string) error {
	e.Lock()
	defer e.Unlock()
	if ep := e.m[addr]; ep != nil {
		ep.refs++
		return nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("%s: %v", e.what, err)
	}
	e.ServeLocked(addr, ln)
	return nil
}

// ServeLocked serves on ln, registered as addr (the caller holds the lock).
func (e *Endpoints) ServeLocked(addr string, ln net.Listener) {
	mux := http.NewServeMux()
	e.routes(mux)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: e.writeTimeout}
	go srv.Serve(ln)
	e.m[addr] = &endpoint{srv: srv, refs: 1}
	e.log.Infof("%s on http://%s%s", e.what, addr, e.path)
}

// Stop drops a reference to addr's listener, closing it with the last.
func (e *Endpoints) Stop(addr string) {
	e.Lock()
	defer e.Unlock()
	ep := e.m[addr]
	if ep == nil {
		return
	}
	ep.refs--
	if ep.refs == 0 {
		ep.srv.Close()
		delete(e.m, addr)
	}
}

// WriteJSON answers v, indented, with the status code.
func WriteJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// Error is the body of an error answer.
type Error struct {
	Error string `json:"error"`
}
