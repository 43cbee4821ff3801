package status

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	stdlog "log"
	"net"
	"net/http"
	"net/netip"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The page's listeners, shared by configuration generations (a reload
// keeps the listener and takes the newest configuration) by address.
var endpoints = struct {
	sync.Mutex
	m map[string]*endpoint
}{m: map[string]*endpoint{}}

type endpoint struct {
	srv  *http.Server
	ln   net.Listener
	cfg  atomic.Pointer[config]
	cert atomic.Pointer[tls.Certificate]
	refs int
	// tls: the listener was opened with TLS (a reload cannot switch).
	tls bool
	// mu serialises renders (a page is rendered at a time).
	mu sync.Mutex
}

func start(cfg *config) error {
	endpoints.Lock()
	defer endpoints.Unlock()
	if ep := endpoints.m[cfg.addr]; ep != nil {
		if ep.tls != (cfg.certFile != "") {
			return fmt.Errorf("status on %s (%s): a reload cannot switch the listener between HTTP and HTTPS; restart the server", cfg.addr, cfg.where)
		}
		if err := ep.configure(cfg); err != nil {
			return err
		}
		ep.refs++
		return nil
	}
	ep := &endpoint{refs: 1, tls: cfg.certFile != ""}
	if err := ep.configure(cfg); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return fmt.Errorf("status page (%s): %v", cfg.where, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/", ep.handlePage)
	mux.HandleFunc("/status.json", ep.handleJSON)
	mux.HandleFunc("/timeline.svg", ep.handleSVG)
	mux.HandleFunc("/status.css", handleAsset("text/css; charset=utf-8", pageCSS))
	mux.HandleFunc("/favicon.svg", handleAsset("image/svg+xml", []byte(favicon)))
	mux.HandleFunc("/favicon.ico", handleAsset("image/svg+xml", []byte(favicon)))
	ep.srv = &http.Server{Handler: ep.guard(mux), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 60 * time.Second, ErrorLog: stdlog.New(debugWriter{}, "", 0)}
	if ep.tls {
		ln = tls.NewListener(ln, &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return ep.cert.Load(), nil }})
	}
	ep.ln = ln
	go ep.srv.Serve(ln)
	endpoints.m[cfg.addr] = ep
	scheme := "http"
	if ep.tls {
		scheme = "https"
	}
	log.Infof("status page on %s://%s/", scheme, ln.Addr())
	return nil
}

// configure makes cfg the endpoint's configuration (and loads its
// certificate).
func (ep *endpoint) configure(cfg *config) error {
	if cfg.certFile != "" {
		c, err := tls.LoadX509KeyPair(cfg.certFile, cfg.keyFile)
		if err != nil {
			return fmt.Errorf("status page (%s): tls: %v", cfg.where, err)
		}
		ep.cert.Store(&c)
	}
	ep.cfg.Store(cfg)
	return nil
}

func stop(addr string) {
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

// guard applies what every request gets: the access list, GET and HEAD
// only, headers that keep the page to itself, and a recover, so that
// nothing a request does can fail the server.
func (ep *endpoint) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					return
				}
				log.Errorf("rendering %s failed (the server goes on): %v\n%s", r.URL.Path, p, debug.Stack())
				http.Error(w, "the status page failed; see the server's log", http.StatusInternalServerError)
			}
		}()
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-store")
		if !ep.allowed(r.RemoteAddr) {
			http.Error(w, "forbidden", http.StatusForbidden)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			h.Set("Allow", "GET, HEAD")
			http.Error(w, "read-only: GET or HEAD", http.StatusMethodNotAllowed)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// allowed applies the access list to a client address.
func (ep *endpoint) allowed(remote string) bool {
	cfg := ep.cfg.Load()
	if len(cfg.allow) == 0 {
		return true
	}
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		return false
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	ip = ip.Unmap()
	for _, p := range cfg.allow {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

func (ep *endpoint) report() (*Report, time.Time) {
	now := time.Now()
	return collect(now, ep.cfg.Load().horizon), now
}

func (ep *endpoint) handlePage(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/" && r.URL.Path != "/index.html" {
		http.NotFound(w, r)
		return
	}
	ep.mu.Lock()
	defer ep.mu.Unlock()
	rep, now := ep.report()
	b, err := render(rep, now)
	if err != nil {
		log.Errorf("rendering the page: %v", err)
		http.Error(w, "the status page failed; see the server's log", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Write(b)
}

func (ep *endpoint) handleJSON(w http.ResponseWriter, r *http.Request) {
	rep, _ := ep.report()
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(rep)
}

func (ep *endpoint) handleSVG(w http.ResponseWriter, r *http.Request) {
	rep, now := ep.report()
	w.Header().Set("Content-Type", "image/svg+xml")
	// The page's stylesheet styles the SVG document too.
	fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?>`+"\n"+`<?xml-stylesheet type="text/css" href="status.css"?>`+"\n")
	w.Write([]byte(wideTimeline(rep.Events, now, rep.HorizonEnd)))
}

func handleAsset(ctype string, b []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", ctype)
		w.Header().Set("Cache-Control", "max-age=300")
		w.Write(b)
	}
}

// debugWriter takes the HTTP server's own messages (a client's failed TLS
// handshake, ...) to the debug log: a client cannot fill the server's log.
type debugWriter struct{}

func (debugWriter) Write(b []byte) (int, error) {
	log.Debug(strings.TrimSpace(string(b)))
	return len(b), nil
}
