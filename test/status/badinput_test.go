package status

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/dnspki/dnspki/test/harness"
)

// TestRefusedAtStartup: a status page off loopback without TLS, or without
// an access list, does not start: dnspki exits with the Corefile, the line
// and the reason.
func TestRefusedAtStartup(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "db.zone"), []byte(zoneFile), 0o644); err != nil {
		t.Fatal(err)
	}
	cert, key := filepath.Join(dir, "fullchain.pem"), filepath.Join(dir, "privkey.pem")
	ca := harness.NewTestCA(t, "status test CA")
	k := harness.NewKey(t)
	harness.WriteFile(t, cert, harness.CertsPEM(ca.Issue(t, k, 0, "status.example.test")...))
	harness.WriteFile(t, key, harness.KeyPEM(t, k))
	for _, c := range []struct{ status, want string }{
		{"status 0.0.0.0:8054", "Corefile:6 - Error during parsing: status on 0.0.0.0:8054: not a loopback address, so the page needs 'tls CERT KEY'"},
		{"status [::]:8054 {\n        allow ::/0\n    }", "Corefile:6 - Error during parsing: status on [::]:8054: not a loopback address, so the page needs 'tls CERT KEY'"},
		{"status 0.0.0.0:8054 {\n        tls " + cert + " " + key + "\n    }", "Corefile:6 - Error during parsing: status on 0.0.0.0:8054: not a loopback address, so the page needs 'allow PREFIX...'"},
	} {
		corefile := fmt.Sprintf("example.test:%d {\n    bind 127.0.0.1\n    authzone example.test {\n        file db.zone\n    }\n    %s\n}\n", harness.FreePort(t), c.status)
		if err := os.WriteFile(filepath.Join(dir, "Corefile"), []byte(corefile), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := harness.Run(t, 30*time.Second, dir, harness.Dnspki(t), "-conf", "Corefile")
		if err == nil {
			t.Fatalf("started with\n%s\n%s", corefile, out)
		}
		if !strings.Contains(out, c.want) {
			t.Errorf("%q: output lacks %q:\n%s", c.status, c.want, out)
		}
	}
}

// TestPageNeverFailsTheServer: requests the page refuses or that are not
// HTTP at all (garbage, an oversized header, a request cut off, writes,
// paths that do not exist or climb out) leave the server answering DNS
// and the page serving.
func TestPageNeverFailsTheServer(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "db.zone"), []byte(zoneFile), 0o644); err != nil {
		t.Fatal(err)
	}
	port, statusPort := harness.FreePort(t), harness.FreePort(t)
	srv := harness.StartDnspki(t, dir, fmt.Sprintf("example.test:%d {\n    bind 127.0.0.1\n    authzone example.test {\n        file db.zone\n    }\n    status 127.0.0.1:%d\n}\n", port, statusPort), port)
	harness.WaitDNS(t, srv.Addr, zone, 30*time.Second, srv.Proc)
	base := fmt.Sprintf("http://127.0.0.1:%d", statusPort)

	raw := func(payload string) string {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", statusPort), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		io.WriteString(c, payload)
		if cw, ok := c.(*net.TCPConn); ok {
			cw.CloseWrite()
		}
		line, _ := bufio.NewReader(c).ReadString('\n')
		return strings.TrimSpace(line)
	}
	for _, c := range []struct{ name, payload, want string }{
		{"garbage", "\x16\x03\x01\x02\x00garbage\r\n\r\n", "HTTP/1.1 400"},
		{"oversized header", "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 2<<20) + "\r\n\r\n", "HTTP/1.1 431"},
		{"cut off", "GET / HTTP/1.1\r\nHost: x\r\n", ""}, // closed without an answer
		{"POST", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc", "HTTP/1.1 405"},
		{"DELETE", "DELETE /status.json HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 405"},
		// Redirected to the cleaned path, /etc/passwd, which is not a page.
		{"climbing out", "GET /../../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 307"},
		{"cleaned", "GET /etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 404"},
		{"no such page", "GET /admin HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 404"},
	} {
		if got := raw(c.payload); !strings.HasPrefix(got, c.want) {
			t.Errorf("%s: answered %q, want %q", c.name, got, c.want)
		}
	}
	resp, err := http.Get(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), "example.test.") {
		t.Fatalf("the page after the bad requests: %s", resp.Status)
	}
	r, err := harness.Query(srv.Addr, zone, dns.TypeSOA, false, false)
	if err != nil || r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
		t.Fatalf("DNS after the bad requests: %v %v", r, err)
	}
	if srv.Exited() {
		t.Fatalf("dnspki exited:\n%s", srv.Output())
	}
}
