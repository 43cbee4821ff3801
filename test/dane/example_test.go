package dane

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/dnspki/dnspki/test/harness"
)

// corefile-examples/dane.Corefile does what its comment says, with the
// certificate made the way the comment (and the manual) say.
func TestExample(t *testing.T) {
	harness.Need(t, "openssl")
	port, httpPort := harness.FreePort(t), harness.FreePort(t)
	dir := harness.Example(t, map[string]string{
		":1053":          fmt.Sprintf(":%d", port),
		"127.0.0.1:8553": fmt.Sprintf("127.0.0.1:%d", httpPort),
	})
	certs := filepath.Join(dir, "state", "certs", "www")
	harness.MustRun(t, time.Minute, dir, "mkdir", "-p", "state/certs/www")
	harness.MustRun(t, time.Minute, dir, "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
		"-keyout", "state/certs/www/privkey.pem", "-out", "state/certs/www/fullchain.pem",
		"-days", "90", "-subj", "/CN=www.example.test", "-addext", "subjectAltName=DNS:www.example.test,DNS:mail.example.test")
	harness.MustRun(t, time.Minute, dir, "openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "state/certs/www/privkey.next.pem")
	cur := harness.MustRun(t, time.Minute, dir, "sh", "-c", "openssl x509 -in state/certs/www/fullchain.pem -noout -pubkey | openssl pkey -pubin -outform DER | openssl dgst -sha256 -r")
	next := harness.MustRun(t, time.Minute, dir, "sh", "-c", "openssl pkey -in state/certs/www/privkey.next.pem -pubout -outform DER | openssl dgst -sha256 -r")
	want := []string{"3 1 1 " + strings.Fields(cur)[0], "3 1 1 " + strings.Fields(next)[0]}

	s := harness.RunDnspki(t, dir, filepath.Join("corefile-examples", "dane.Corefile"), port)
	harness.WaitDNS(t, s.Addr, "example.test.", 30*time.Second, s.Proc)
	for _, name := range []string{"_443._tcp.www.example.test.", "_25._tcp.mail.example.test."} {
		r, err := harness.Query(s.Addr, name, dns.TypeTLSA, false, false)
		if err != nil {
			t.Fatal(err)
		}
		got := rdataOf(r)
		if strings.Join(got, ",") != strings.Join(sortedCopy(want), ",") || r.Answer[0].Header().Ttl != 60 {
			t.Fatalf("%s: %v (TTL %d), want %v with TTL 60", name, got, r.Answer[0].Header().Ttl, want)
		}
	}
	out, err := harness.Run(t, time.Minute, dir, harness.Dnspki(t), "tlsa-ready", "-addr", fmt.Sprintf("127.0.0.1:%d", httpPort), filepath.Join(certs, "privkey.next.pem"))
	if err == nil || !strings.Contains(out, "the hold-down is 2m0s") {
		t.Fatalf("tlsa-ready of a next key published just now: %v\n%s", err, out)
	}
}

func sortedCopy(l []string) []string {
	c := append([]string(nil), l...)
	for i := range c {
		for j := i + 1; j < len(c); j++ {
			if c[j] < c[i] {
				c[i], c[j] = c[j], c[i]
			}
		}
	}
	return c
}
