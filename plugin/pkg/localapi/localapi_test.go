package localapi

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestCheckLoopback(t *testing.T) {
	for addr, ok := range map[string]bool{
		"127.0.0.1:8553": true, "[::1]:8553": true, "localhost:1": true,
		"0.0.0.0:8553": false, "192.0.2.1:80": false, "127.0.0.1": false, "127.0.0.1:": false, "example.test:80": false,
	} {
		err := CheckLoopback(addr, "test endpoint")
		if (err == nil) != ok {
			t.Errorf("%s: %v", addr, err)
		}
		if err != nil && !ok && strings.Contains(addr, ":80") && !strings.Contains(err.Error(), "test endpoint listens on loopback addresses only") {
			t.Errorf("%s: error %q does not name the endpoint", addr, err)
		}
	}
}

// One listener per address, shared: the second Start takes a reference, the
// listener closes with the last Stop.
func TestEndpointsShared(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	e := New("test", "test endpoint", "/t/", 5*time.Second, func(mux *http.ServeMux) {
		mux.HandleFunc("/t/x", func(w http.ResponseWriter, r *http.Request) { WriteJSON(w, http.StatusTeapot, Error{Error: "x"}) })
	})
	e.Lock()
	e.ServeLocked(addr, l)
	e.Unlock()
	if err := e.Start(addr); err != nil { // a second reference, no new listener
		t.Fatal(err)
	}
	get := func() (int, string, error) {
		resp, err := (&http.Client{Timeout: 5 * time.Second}).Get("http://" + addr + "/t/x")
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), nil
	}
	code, body, err := get()
	var e1 Error
	if err != nil || code != http.StatusTeapot || json.Unmarshal([]byte(body), &e1) != nil || e1.Error != "x" {
		t.Fatalf("GET: %d %q %v", code, body, err)
	}
	e.Stop(addr)
	if _, _, err := get(); err != nil {
		t.Fatalf("closed after the first of two Stops: %v", err)
	}
	e.Stop(addr)
	if _, _, err := get(); err == nil {
		t.Fatal("still serving after the last Stop")
	}
}
