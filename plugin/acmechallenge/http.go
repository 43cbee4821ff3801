package acmechallenge

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"

	"github.com/dnspki/dnspki/plugin/pkg/dnsaccount"
	"github.com/dnspki/dnspki/plugin/pkg/grants"
)

// httpConfig is the `http` line of the Corefile.
type httpConfig struct {
	addr     string
	certFile string
	keyFile  string
}

// httpAPI serves the HTTP interface: lego httpreq (POST /present, POST
// /cleanup, JSON {"fqdn","value"} or RAW {"domain","token","keyAuth"}, basic
// auth) and acme-dns (POST /update with X-Api-User and X-Api-Key, JSON
// {"subdomain","txt"}).
type httpAPI struct {
	a   *AcmeChallenge
	cfg *httpConfig

	throttle *authThrottle

	mu  sync.Mutex
	srv *http.Server
	ln  net.Listener
}

func newHTTPAPI(a *AcmeChallenge, cfg *httpConfig) *httpAPI {
	return &httpAPI{a: a, cfg: cfg, throttle: newAuthThrottle(time.Now)}
}

// addr is the address the API listens on ("" when stopped).
func (h *httpAPI) addr() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.ln == nil {
		return ""
	}
	return h.ln.Addr().String()
}

const maxBody = 64 << 10

func (h *httpAPI) start() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.srv != nil {
		return nil
	}
	ln, err := net.Listen("tcp", h.cfg.addr)
	if err != nil {
		return fmt.Errorf("plugin/%s: HTTP API: %w", pluginName, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/present", h.lego(true))
	mux.HandleFunc("/cleanup", h.lego(false))
	mux.HandleFunc("/update", h.acmeDNS)
	mux.HandleFunc("/health", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          nil,
	}
	if h.cfg.certFile != "" {
		cl := &certLoader{cert: h.cfg.certFile, key: h.cfg.keyFile}
		if _, err := cl.load(); err != nil {
			ln.Close()
			return fmt.Errorf("plugin/%s: HTTP API: %w", pluginName, err)
		}
		srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: cl.get}
		ln = tls.NewListener(ln, srv.TLSConfig)
	}
	h.srv, h.ln = srv, ln
	scheme := "http"
	if h.cfg.certFile != "" {
		scheme = "https"
	}
	log.Infof("HTTP API on %s://%s", scheme, ln.Addr())
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Errorf("HTTP API on %s: %v", h.cfg.addr, err)
		}
	}()
	return nil
}

func (h *httpAPI) stop() error {
	h.mu.Lock()
	srv := h.srv
	h.srv, h.ln = nil, nil
	h.mu.Unlock()
	if srv == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		srv.Close()
	}
	return nil
}

// certLoader serves the certificate files, re-read when they change (a
// renewed certificate is picked up without a restart).
type certLoader struct {
	cert, key string
	mu        sync.Mutex
	mod       time.Time
	cur       *tls.Certificate
}

func (c *certLoader) load() (*tls.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	st, err := os.Stat(c.cert)
	if err != nil {
		if c.cur != nil {
			return c.cur, nil
		}
		return nil, err
	}
	if c.cur != nil && st.ModTime().Equal(c.mod) {
		return c.cur, nil
	}
	crt, err := tls.LoadX509KeyPair(c.cert, c.key)
	if err != nil {
		if c.cur != nil {
			log.Warningf("HTTP API: reloading %s: %v; keeping the previous certificate", c.cert, err)
			return c.cur, nil
		}
		return nil, err
	}
	c.cur, c.mod = &crt, st.ModTime()
	return c.cur, nil
}

func (c *certLoader) get(*tls.ClientHelloInfo) (*tls.Certificate, error) { return c.load() }

// authenticate checks a user and password in constant time (the digests
// are compared, so neither the length of the password nor whether the user
// exists shows in the time taken); it returns the grants identity, or "" and
// the metric label of the failure.
func (h *httpAPI) authenticate(user, pass string) (identity, label string) {
	got := sha256.Sum256([]byte(pass))
	want, ok := h.a.users[user]
	if !ok {
		subtle.ConstantTimeCompare(got[:], unknownUser[:])
		return "", "unknown"
	}
	w := sha256.Sum256([]byte(want))
	if subtle.ConstantTimeCompare(got[:], w[:]) != 1 {
		return "", userIdentity(user)
	}
	return userIdentity(user), ""
}

// unknownUser is what a password for a user that does not exist is compared
// with.
var unknownUser = sha256.Sum256([]byte("no such user"))

// login authenticates the request's credentials (given: whether it carried
// any), throttled per client address and per user (throttle.go). It returns
// the identity, or the status to answer (401, 429) and, for 429, the seconds
// to wait.
func (h *httpAPI) login(r *http.Request, user, pass string, given bool) (identity string, status int, retry int) {
	addr := addrKey(r.RemoteAddr)
	keys := []string{addr}
	label := "unknown"
	if _, known := h.a.users[user]; known {
		keys = append(keys, userKey(user))
		label = userIdentity(user)
	}
	if key, wait := h.throttle.blocked(keys...); key != "" {
		by := "address"
		if key != addr {
			by = "user"
		}
		authThrottled.WithLabelValues(by).Inc()
		h.a.refusedHTTP(nil, label, "throttled")
		return "", http.StatusTooManyRequests, int((wait + time.Second - 1) / time.Second)
	}
	identity, label = h.authenticate(user, pass)
	if identity != "" {
		h.throttle.forget(addr)
		return identity, http.StatusOK, 0
	}
	if !given {
		// Nothing was checked: a client that asks first without
		// credentials is not guessing.
		label = "none"
	} else {
		authFailures.Inc()
		h.throttle.fail(keys...)
	}
	h.a.refusedHTTP(nil, label, "bad_credentials")
	return "", http.StatusUnauthorized, 0
}

type legoMessage struct {
	FQDN    string `json:"fqdn"`
	Value   string `json:"value"`
	Domain  string `json:"domain"`
	Token   string `json:"token"`
	KeyAuth string `json:"keyAuth"`
}

// lego serves POST /present (add) and POST /cleanup (delete).
func (h *httpAPI) lego(present bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", "POST")
			http.Error(w, "use POST", http.StatusMethodNotAllowed)
			return
		}
		user, pass, ok := r.BasicAuth()
		identity, status, retry := h.login(r, user, pass, ok)
		switch status {
		case http.StatusTooManyRequests:
			w.Header().Set("Retry-After", strconv.Itoa(retry))
			http.Error(w, "too many failed logins: retry later", status)
			return
		case http.StatusUnauthorized:
			w.Header().Set("WWW-Authenticate", `Basic realm="dnspki acmechallenge"`)
			http.Error(w, "authentication required", status)
			return
		}
		var m legoMessage
		if err := json.NewDecoder(io.LimitReader(r.Body, maxBody)).Decode(&m); err != nil {
			h.a.refusedHTTP(nil, identity, "formerr")
			http.Error(w, "malformed JSON: "+err.Error(), http.StatusBadRequest)
			return
		}
		fqdn, value := m.FQDN, m.Value
		if fqdn == "" && m.Domain != "" && m.KeyAuth != "" {
			// lego's RAW mode: the digest is computed here (RFC 8555 §8.4).
			fqdn = Label + "." + strings.TrimPrefix(m.Domain, "*.")
			sum := sha256.Sum256([]byte(m.KeyAuth))
			value = base64.RawURLEncoding.EncodeToString(sum[:])
		}
		if fqdn == "" || value == "" {
			h.a.refusedHTTP(nil, identity, "formerr")
			http.Error(w, `want {"fqdn": ..., "value": ...} or {"domain": ..., "token": ..., "keyAuth": ...}`, http.StatusBadRequest)
			return
		}
		owner, status, msg := h.a.httpChange(identity, fqdn, value, present, 0)
		if status != http.StatusOK {
			http.Error(w, msg, status)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]string{"fqdn": owner, "value": value})
	}
}

type acmeDNSMessage struct {
	Subdomain string `json:"subdomain"`
	TXT       string `json:"txt"`
}

func jsonError(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": code})
}

// acmeDNS serves acme-dns's POST /update. The subdomain is the name being
// validated (api.example.test) or the challenge owner itself
// (_acme-challenge.api.example.test); like acme-dns, the two newest values
// are kept (a name and its wildcard validate at the same time).
func (h *httpAPI) acmeDNS(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		jsonError(w, http.StatusMethodNotAllowed, "method_not_allowed")
		return
	}
	user, key := r.Header.Get("X-Api-User"), r.Header.Get("X-Api-Key")
	identity, status, retry := h.login(r, user, key, user != "" || key != "")
	switch status {
	case http.StatusTooManyRequests:
		w.Header().Set("Retry-After", strconv.Itoa(retry))
		jsonError(w, status, "too_many_failures")
		return
	case http.StatusUnauthorized:
		jsonError(w, status, "forbidden")
		return
	}
	var m acmeDNSMessage
	if err := json.NewDecoder(io.LimitReader(r.Body, maxBody)).Decode(&m); err != nil || m.Subdomain == "" {
		h.a.refusedHTTP(nil, identity, "formerr")
		jsonError(w, http.StatusBadRequest, "malformed_json_payload")
		return
	}
	owner := acmeDNSOwner(m.Subdomain)
	if err := validateDigest(m.TXT); err != nil && !h.a.cfg.anyValue {
		h.a.refusedHTTP(nil, identity, "invalid_value")
		jsonError(w, http.StatusBadRequest, "bad_txt")
		return
	}
	owner, status, _ = h.a.httpChange(identity, owner, m.TXT, true, 2)
	switch status {
	case http.StatusOK:
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]string{"txt": m.TXT})
	case http.StatusForbidden:
		jsonError(w, http.StatusUnauthorized, "forbidden")
	case http.StatusBadRequest:
		if owner == "" {
			jsonError(w, http.StatusBadRequest, "bad_subdomain")
		} else {
			jsonError(w, http.StatusBadRequest, "bad_txt")
		}
	case http.StatusTooManyRequests:
		jsonError(w, http.StatusTooManyRequests, "limit")
	default:
		jsonError(w, status, "server_error")
	}
}

// acmeDNSOwner is the challenge owner of an acme-dns subdomain: the name
// being validated gets the _acme-challenge label; a challenge owner
// (_acme-challenge.NAME, or dns-account-01's
// _<account label>._acme-challenge.NAME) is taken as it is.
func acmeDNSOwner(sub string) string {
	lower := strings.ToLower(sub)
	if strings.HasPrefix(lower, Label+".") {
		return sub
	}
	if _, _, ok := dnsaccount.Split(dns.Fqdn(lower)); ok {
		return sub
	}
	return Label + "." + sub
}

// refusedHTTP counts an HTTP refusal (z nil: before a zone is known).
func (a *AcmeChallenge) refusedHTTP(z *zone, key, reason string) {
	name := "unknown"
	if z != nil {
		name = z.origin
	} else if len(a.origins) == 1 {
		name = a.origins[0]
	}
	refused(name, key, reason, "http")
}

// httpChange adds (present) or deletes one TXT value at fqdn for identity. It
// returns the owner name (canonical) and the HTTP status and, when not OK,
// why.
func (a *AcmeChallenge) httpChange(identity, fqdn, value string, present bool, keep int) (owner string, status int, msg string) {
	start := time.Now()
	owner, err := canonicalName(fqdn)
	if err != nil {
		a.refusedHTTP(nil, identity, "formerr")
		return "", http.StatusBadRequest, err.Error()
	}
	if len(value) > 255 {
		a.refusedHTTP(nil, identity, "formerr")
		return owner, http.StatusBadRequest, "value longer than 255 characters"
	}
	z := a.enclosing(owner)
	if z == nil {
		a.refusedHTTP(nil, identity, "notzone")
		return owner, http.StatusForbidden, fmt.Sprintf("%s is not in a zone served here (zones: %s)", owner, strings.Join(a.origins, " "))
	}
	rr := challengeTXT(owner, value, a.cfg.ttl)
	o := op{Change: grants.Change{Op: grants.Add, Name: owner, Type: dns.TypeTXT, RR: rr}, keep: keep}
	if !present {
		o = op{Change: grants.Change{Op: grants.Delete, Name: owner, Type: dns.TypeTXT, RR: rr}}
	}
	if err := a.policy.Authorize(identity, []grants.Change{o.Change}); err != nil {
		var d *grants.Denied
		if errors.As(err, &d) && d.Invalid {
			refused(z.origin, identity, "invalid_value", "http")
			log.Infof("HTTP %s by %s refused: %v", o.Op, identity, err)
			return owner, http.StatusBadRequest, err.Error()
		}
		refused(z.origin, identity, "not_granted", "http")
		log.Infof("HTTP %s by %s refused: %v", o.Op, identity, err)
		return owner, http.StatusForbidden, err.Error()
	}
	added, removed, err := z.change(opKind(o.Change), identity, []op{o}, nil)
	if err != nil {
		var rf *Refusal
		if !errors.As(err, &rf) {
			rf = &Refusal{Rcode: dns.RcodeServerFailure, Reason: "store_error", Msg: err.Error()}
		}
		refused(z.origin, identity, rf.Reason, "http")
		log.Infof("HTTP %s by %s refused: %s", o.Op, identity, rf.Msg)
		if rf.Rcode == dns.RcodeRefused {
			return owner, http.StatusTooManyRequests, rf.Msg
		}
		return owner, http.StatusServiceUnavailable, rf.Msg
	}
	accepted(z.origin, identity, "http", time.Since(start))
	logChange(z.origin, identity, "HTTP", added, removed)
	return owner, http.StatusOK, ""
}

// canonicalName is the one form of a name an HTTP client sends, so that every
// spelling of a name is the same name for the grants, the limits and the
// expiry: lower case, fully qualified. Only host-name characters are taken
// (letters, digits, hyphen, underscore): a name with whitespace, a backslash
// escape (\065 or \. would be another spelling of a name, or a dot inside a
// label), a non-ASCII character (an IDN: send its A-label, xn--...) or any
// other character is refused, as are empty labels and names or labels over
// the DNS length limits.
func canonicalName(s string) (string, error) {
	name := strings.TrimSuffix(s, ".")
	if name == "" {
		return "", fmt.Errorf("%q is not a domain name", s)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_', c == '.':
		case c >= 0x80:
			return "", fmt.Errorf("%q is not an ASCII name: send an internationalized name as its A-label (xn--...)", s)
		case c == '\\':
			return "", fmt.Errorf("%q has a backslash: send the name without escapes", s)
		case c <= ' ' || c == 0x7f:
			return "", fmt.Errorf("%q has whitespace or a control character", s)
		default:
			return "", fmt.Errorf("%q has the character %q, not allowed in a host name", s, c)
		}
	}
	if len(name) > 253 {
		return "", fmt.Errorf("%q is longer than 253 characters", s)
	}
	for _, l := range strings.Split(name, ".") {
		if l == "" {
			return "", fmt.Errorf("%q has an empty label", s)
		}
		if len(l) > 63 {
			return "", fmt.Errorf("%q has a label longer than 63 characters", s)
		}
	}
	return strings.ToLower(name) + ".", nil
}

// checkPlainHTTP refuses an API without TLS on an address other than
// loopback: the passwords would cross the network in the clear.
func checkPlainHTTP(cfg *httpConfig) error {
	if cfg.certFile != "" {
		return nil
	}
	host, _, err := net.SplitHostPort(cfg.addr)
	if err != nil {
		return err
	}
	if strings.EqualFold(host, "localhost") {
		return nil
	}
	if ip, err := netip.ParseAddr(host); err == nil && ip.Unmap().IsLoopback() {
		return nil
	}
	return fmt.Errorf("http %s: plain HTTP on a non-loopback address would send the API passwords in the clear: add 'tls CERT KEY' to the line, or listen on 127.0.0.1 or [::1] (behind a TLS-terminating proxy)", cfg.addr)
}

// challengeTXT is the TXT record of one value sent over HTTP. miekg/dns keeps
// a TXT string in presentation form (escapes interpreted when packed): the
// value's bytes are escaped as unpacking the wire escapes them, so that the
// record holds exactly the client's bytes and is the same record as when it
// is read back from the store or sent in an UPDATE (a raw `a"b` or `a\b`
// would otherwise be another record than the same value read from the wire,
// or lose its backslash).
func challengeTXT(owner, value string, ttl uint32) *dns.TXT {
	var b strings.Builder
	for i := 0; i < len(value); i++ {
		c := value[i]
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < ' ' || c > '~':
			fmt.Fprintf(&b, "\\%03d", c)
		default:
			b.WriteByte(c)
		}
	}
	return &dns.TXT{Hdr: dns.RR_Header{Name: owner, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: ttl}, Txt: []string{b.String()}}
}
