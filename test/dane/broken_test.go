package dane

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/dnspki/dnspki/test/harness"
)

// Truncated, garbage and empty certificate files leave the records as they
// are (also across a restart), each counted by reason; a good file is taken.
func TestBrokenFilesKeepRecords(t *testing.T) {
	dir := t.TempDir()
	ca := harness.NewTestCA(t, "dane test")
	certs := filepath.Join(dir, "certs", "www")
	ka, kb := harness.NewKey(t), harness.NewKey(t)
	chain := ca.Issue(t, ka, 0, "www.example.test", "mail.example.test")
	good := harness.CertsPEM(chain...)
	full := filepath.Join(certs, "fullchain.pem")
	harness.WriteFile(t, full, good)
	harness.WriteFile(t, filepath.Join(certs, "privkey.pem"), harness.KeyPEM(t, ka))
	// The servers keep their own copy (the broken file is not theirs).
	served := filepath.Join(dir, "served")
	harness.WriteFile(t, filepath.Join(served, "cert.pem"), good)
	harness.WriteFile(t, filepath.Join(served, "key.pem"), harness.KeyPEM(t, ka))
	e := start(t, dir, "certs/www", filepath.Join(served, "cert.pem"), filepath.Join(served, "key.pem"), "")
	A := harness.SPKI311(ka.Public())
	e.expect("initial", A)
	mon := e.monitor()

	for _, c := range []struct {
		what, reason string
		data         []byte
	}{
		{"truncated", "incomplete", good[:len(good)*3/5]},
		{"garbage", "garbage", []byte("<html>502 Bad Gateway</html>\n")},
		{"empty", "empty", nil},
	} {
		// The error counted is the positive signal that dnspki read the
		// broken file; only then is "the records stay" worth asserting.
		if err := os.WriteFile(full, c.data, 0o644); err != nil {
			t.Fatal(err)
		}
		m := `coredns_dnspki_tlsa_errors_total{cert="www",reason="` + c.reason + `"}`
		harness.Eventually(t, 10*time.Second, m+" = 1", func() bool { return e.metric(m) == 1 })
		e.expect(c.what+" file", A)
		e.verify(c.what + " file")
	}
	// A restart with the broken file keeps the last good records.
	e.srv.Stop()
	e.srv.Restart()
	harness.WaitDNS(t, e.srv.Addr, zone, 30*time.Second, e.srv.Proc)
	e.expect("restart with an empty certificate file", A)

	// A good certificate again (a new key): taken, the old key retires.
	chain = ca.Issue(t, kb, 0, "www.example.test", "mail.example.test")
	harness.WriteFile(t, filepath.Join(certs, "privkey.pem"), harness.KeyPEM(t, kb))
	harness.WriteFile(t, full, harness.CertsPEM(chain...))
	e.waitFor("good file again", 10*time.Second, A, harness.SPKI311(kb.Public()))
	e.waitRole("the new certificate current", map[string]string{A: "retiring", harness.SPKI311(kb.Public()): "current"})
	mon.finish()
}
