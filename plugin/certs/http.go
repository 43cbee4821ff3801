package certs

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/dnspki/dnspki/plugin/pkg/localapi"
)

// DefaultHTTPAddr is where the status endpoint listens when `http` has no
// address, and where `dnspki certs` asks by default.
const DefaultHTTPAddr = "127.0.0.1:8554"

// The status endpoints, shared by configuration generations (a reload keeps
// the listener) and by the certs blocks of a configuration.
var endpoints = localapi.New(pluginName, "status endpoint", "/certs/v1/", maxCheckWait+30*time.Second, func(mux *http.ServeMux) {
	mux.HandleFunc("/certs/v1/status", handleStatus)
	mux.HandleFunc("/certs/v1/check", handleCheck)
})

// checkLoopback refuses an address that is not on a loopback interface: the
// endpoint has no authentication (and check makes the server talk to the
// CA).
func checkLoopback(addr string) error { return localapi.CheckLoopback(addr, "status endpoint") }

func startHTTP(addr string) error { return endpoints.Start(addr) }

func stopHTTP(addr string) { endpoints.Stop(addr) }

var writeJSON = localapi.WriteJSON

type apiError = localapi.Error

// certIDs reads the cert query parameters (repeatable, or comma separated).
func certIDs(r *http.Request) []string {
	var ids []string
	for _, v := range r.URL.Query()["cert"] {
		for _, id := range strings.Split(v, ",") {
			if id = strings.TrimSpace(id); id != "" {
				ids = append(ids, id)
			}
		}
	}
	return ids
}

// handleStatus: GET /certs/v1/status[?cert=ID] lists the managed
// certificates.
func handleStatus(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		writeJSON(w, http.StatusMethodNotAllowed, apiError{Error: "GET only"})
		return
	}
	ids := certIDs(r)
	out := statuses(ids...)
	if len(ids) > 0 && len(out) != len(ids) {
		writeJSON(w, http.StatusNotFound, apiError{Error: "no certificate " + strings.Join(missing(ids, out), ", ")})
		return
	}
	if out == nil {
		out = []Status{}
	}
	writeJSON(w, http.StatusOK, out)
}

func missing(ids []string, have []Status) []string {
	var out []string
	for _, id := range ids {
		found := false
		for _, s := range have {
			found = found || s.ID == id
		}
		if !found {
			out = append(out, id)
		}
	}
	return out
}

// maxCheckWait bounds how long a check waits for the certificates' ARI
// answers.
const maxCheckWait = 5 * time.Minute

// CheckResult is the answer to a check: the certificates' status after
// their ARI check, and those whose check did not finish in time.
type CheckResult struct {
	Certificates []Status `json:"certificates"`
	NotChecked   []string `json:"not_checked,omitempty"`
}

// handleCheck: POST /certs/v1/check[?cert=ID][&wait=DURATION] makes every
// certificate (or those named) ask the CA's renewal information now,
// whatever the stored next check (an operator's answer to a CA's revocation
// notice), and wakes their renewal; it answers once each has asked (at most
// wait, default 60s).
func handleCheck(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		writeJSON(w, http.StatusMethodNotAllowed, apiError{Error: "POST only"})
		return
	}
	wait := 60 * time.Second
	if v := r.URL.Query().Get("wait"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 || d > maxCheckWait {
			writeJSON(w, http.StatusBadRequest, apiError{Error: fmt.Sprintf("wait %q: want a duration up to %s", v, maxCheckWait)})
			return
		}
		wait = d
	}
	ids := certIDs(r)
	certs := liveCerts(ids...)
	if len(ids) > 0 && len(certs) != len(ids) {
		var have []Status
		for _, c := range certs {
			have = append(have, Status{ID: c.cfg.id})
		}
		writeJSON(w, http.StatusNotFound, apiError{Error: "no certificate " + strings.Join(missing(ids, have), ", ")})
		return
	}
	res := checkNow(r.Context().Done(), certs, wait)
	writeJSON(w, http.StatusOK, res)
}

// checkNow asks each certificate to check ARI now and waits (at most wait,
// or until done closes) until each has.
func checkNow(done <-chan struct{}, certs []*cert, wait time.Duration) CheckResult {
	marks := make(map[*cert]int64, len(certs))
	for _, c := range certs {
		marks[c] = c.ariAsked.Load()
		c.forceARI.Store(true)
		c.m.wake(c.cfg.id)
	}
	log.Infof("asked to check the renewal information of %d certificates now", len(certs))
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		pending := 0
		for c, m := range marks {
			if c.ariAsked.Load() <= m {
				pending++
			}
		}
		if pending == 0 {
			break
		}
		select {
		case <-tick.C:
			continue
		case <-deadline.C:
		case <-done:
		}
		break
	}
	res := CheckResult{Certificates: []Status{}}
	for _, c := range certs {
		res.Certificates = append(res.Certificates, c.snapshot())
		if c.ariAsked.Load() <= marks[c] {
			res.NotChecked = append(res.NotChecked, c.cfg.id)
		}
	}
	return res
}
