package tlsa

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dnspki/dnspki/test/harness"
)

// listen serves the endpoint on a port the test holds from the start.
func listen(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	endpoints.Lock()
	serveHTTP(addr, l)
	endpoints.Unlock()
	return addr
}

// notHTTP is an address where something that is not the endpoint listens.
func notHTTP(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	t.Cleanup(func() { l.Close() })
	return l.Addr().String()
}

func TestEndpointAndCommand(t *testing.T) {
	f := newFixture(t)
	ka, kb := harness.NewKey(t), harness.NewKey(t)
	f.install(ka)
	f.write("privkey.next.pem", harness.KeyPEM(t, kb))
	f.open(f.cfg())
	addr := listen(t)
	defer stopHTTP(addr)

	run := func(args ...string) (int, string) {
		var out, errb bytes.Buffer
		code := runReady(append([]string{"-addr", addr}, args...), &out, &errb)
		return code, out.String() + errb.String()
	}
	next := filepath.Join(f.dir, "privkey.next.pem")
	if code, out := run(next); code != 1 || !strings.Contains(out, "not ready") || !strings.Contains(out, "ready in about 2m0s") {
		t.Fatalf("fresh next key: %d %s", code, out)
	}
	if code, out := run("-cert", "www"); code != 1 {
		t.Fatalf("current certificate, fresh: %d %s", code, out)
	}
	f.advance(2 * time.Minute)
	if code, out := run("-cert", "www", next); code != 0 || !strings.Contains(out, "ready: ") {
		t.Fatalf("after the hold-down: %d %s", code, out)
	}
	if code, out := run("-cert", "www"); code != 0 {
		t.Fatalf("current certificate: %d %s", code, out)
	}
	if code, out := run("www"); code != 0 || !strings.Contains(out, "ready: certificate www") {
		t.Fatalf("id alone: %d %s", code, out)
	}
	if code, out := run("-q", filepath.Join(f.dir, "fullchain.pem"), next); code != 0 || out != "" {
		t.Fatalf("both files, quiet: %d %q", code, out)
	}
	if code, out := run("-cert", "nope"); code != 2 || !strings.Contains(out, "404") {
		t.Fatalf("unknown certificate: %d %s", code, out)
	}
	if code, _ := run(); code != 2 {
		t.Fatal("no arguments accepted")
	}
	if code := runReady([]string{"-addr", notHTTP(t), "-cert", "www"}, &bytes.Buffer{}, &bytes.Buffer{}); code != 2 {
		t.Fatalf("no endpoint: %d", code)
	}
	// -wait polls until ready.
	kc := harness.NewKey(t)
	f.write("privkey.next.pem", harness.KeyPEM(t, kc))
	f.refresh()
	// The clock moves past the hold-down only once -wait has been told
	// "not ready" twice (it asked, waited and asked again).
	out := &notReadyCounter{}
	done := make(chan int, 1)
	go func() {
		done <- runReady([]string{"-addr", addr, "-wait", "20s", "-interval", "100ms", next}, out, out)
	}()
	deadline := time.Now().Add(20 * time.Second)
	for out.notReady() < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("-wait did not ask twice: %s", out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	f.advance(2 * time.Minute)
	if code := <-done; code != 0 || !strings.Contains(out.String(), "ready: ") {
		t.Fatalf("-wait: %d %s", code, out.String())
	}

	// The endpoint never takes a private key.
	resp, err := http.Post(fmt.Sprintf("http://%s/tlsa/v1/ready", addr), "application/x-pem-file", bytes.NewReader(harness.KeyPEM(t, kc)))
	if err != nil || resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("private key posted: %v %v", resp, err)
	}
	resp, err = http.Get(fmt.Sprintf("http://%s/tlsa/v1/status?cert=www", addr))
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("status: %v %v", resp, err)
	}
	var st bytes.Buffer
	code := runStatus([]string{"-addr", addr}, &st, &bytes.Buffer{})
	if code != 0 || !strings.Contains(st.String(), `"role": "current"`) {
		t.Fatalf("tlsa-status: %d %s", code, st.String())
	}
}

func TestCheckLoopback(t *testing.T) {
	for addr, ok := range map[string]bool{
		"127.0.0.1:8553": true, "[::1]:8553": true, "localhost:1": true, "127.1.2.3:9": true,
		"0.0.0.0:8553": false, "192.0.2.1:80": false, ":8553": false, "127.0.0.1": false,
	} {
		if err := checkLoopback(addr); (err == nil) != ok {
			t.Errorf("%s: %v", addr, err)
		}
	}
}

// notReadyCounter is the output of a tlsa-ready running in another
// goroutine; it counts its "not ready" lines.
type notReadyCounter struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (c *notReadyCounter) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.b.Write(p)
}

func (c *notReadyCounter) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.b.String()
}

func (c *notReadyCounter) notReady() int { return strings.Count(c.String(), "not ready: ") }
