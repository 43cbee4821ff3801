package certs

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/dnspki/dnspki/test/harness"
)

// TestExample runs corefile-examples/certs.Corefile as its comments say,
// with Pebble resolving through dnspki: www.example.test by dns-01 and
// intra.example.test + *.intra.example.test by dns-persist-01 land in
// ./state/certs/, with 3 1 1 at _443._tcp.www.example.test. A restart then
// orders nothing, keeps the account, the next key and every record.
func TestExample(t *testing.T) {
	port, pebblePort := harness.FreePort(t), harness.FreePort(t)
	addr := harness.Addr(port)
	pebble := harness.StartPebble(t, harness.PebbleOpts{DNSServer: addr, Port: pebblePort})
	dir := harness.Example(t, map[string]string{
		":1053":                       fmt.Sprintf(":%d", port),
		"https://127.0.0.1:14000/dir": pebble.Directory,
	})
	conf := filepath.Join("corefile-examples", "certs.Corefile")
	srv := harness.RunDnspki(t, dir, conf, port, "DNSPKI_ACME_ROOT="+pebble.RootPEM)
	harness.WaitDNS(t, addr, zone, 30*time.Second, srv.Proc)
	www, intra := filepath.Join(dir, "state", "certs", "www"), filepath.Join(dir, "state", "certs", "intra")
	harness.Eventually(t, 90*time.Second, "both certificates in ./state/certs", func() bool {
		_, e1 := os.Stat(filepath.Join(www, "fullchain.pem"))
		_, e2 := os.Stat(filepath.Join(intra, "fullchain.pem"))
		return e1 == nil && e2 == nil
	})
	leaf := pebble.VerifyCertificate(t, readChain(t, www), "www.example.test")
	pebble.VerifyCertificate(t, readChain(t, intra), "intra.example.test", "host.intra.example.test")
	for _, f := range []string{"cert.pem", "chain.pem", "fullchain.pem", "privkey.pem"} {
		for _, d := range []string{www, intra} {
			if _, err := os.Stat(filepath.Join(d, f)); err != nil {
				t.Fatal(err)
			}
		}
	}
	cur := harness.SPKI311(leaf.PublicKey)
	var before []string
	harness.Eventually(t, 10*time.Second, "3 1 1 of the certificate and of the next key", func() bool {
		before = tlsaAt(t, addr, "_443._tcp.www.example.test.")
		return contains(before, cur) && len(before) == 2
	})
	acct := accountURI(t, filepath.Join(dir, "state"))
	persist := txtAt(t, addr, "_validation-persist.intra.example.test.")
	if want := "pebble.letsencrypt.org; accounturi=" + acct + "; policy=wildcard"; !contains(persist, want) {
		t.Fatalf("validation record %v, want %q", persist, want)
	}
	harness.Eventually(t, 10*time.Second, "next keys made and renewals scheduled", func() bool {
		for _, id := range []string{"www", "intra"} {
			b, _ := os.ReadFile(filepath.Join(dir, "state", "acme", "certs", id+".json"))
			if !strings.Contains(string(b), `"next_key"`) || !strings.Contains(string(b), `"renew_at"`) {
				return false
			}
		}
		return true
	})
	nextState, err := os.ReadFile(filepath.Join(dir, "state", "acme", "certs", "www.json"))
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "state", "acme", "certs", "www.json")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("state file mode: %v %v", fi.Mode(), err)
	}
	chain := readChain(t, www)
	serial := soaSerial(t, addr)

	// Restart: nothing is ordered, the records stay as they were.
	srv.Stop()
	srv.Restart()
	harness.WaitDNS(t, addr, zone, 30*time.Second, srv.Proc)
	waitUpToDate(t, srv.Proc, 0, "www", "intra")
	if out := srv.Output(); strings.Contains(out, "ordering a certificate") || strings.Contains(out, "registered") || strings.Contains(out, "next key made") {
		t.Fatalf("the restart ordered or registered again:\n%s", out)
	}
	if got := tlsaAt(t, addr, "_443._tcp.www.example.test."); strings.Join(got, ",") != strings.Join(before, ",") {
		t.Fatalf("TLSA after the restart %v, before %v", got, before)
	}
	if got := txtAt(t, addr, "_validation-persist.intra.example.test."); strings.Join(got, ",") != strings.Join(persist, ",") {
		t.Fatalf("validation record after the restart %v, before %v", got, persist)
	}
	if got := soaSerial(t, addr); got != serial {
		t.Fatalf("the restart moved the serial %d -> %d", serial, got)
	}
	if debug {
		t.Logf("after the restart:\n%s", srv.Output())
	}
	if string(readChain(t, www)) != string(chain) {
		t.Fatal("the certificate changed at the restart")
	}
	// A reload (SIGUSR1) hands the certificates to the new configuration
	// without an order or a change of the records either.
	mark := srv.LogMark()
	srv.Signal(syscall.SIGUSR1)
	harness.Eventually(t, 10*time.Second, "the reload", func() bool { return strings.Contains(srv.Output(), "Reloading complete") })
	waitUpToDate(t, srv.Proc, mark, "www", "intra")
	if out := srv.Output(); strings.Contains(out, "ordering a certificate") || strings.Contains(out, "next key made") {
		t.Fatalf("the reload ordered or made a key:\n%s", out)
	}
	if got := tlsaAt(t, addr, "_443._tcp.www.example.test."); strings.Join(got, ",") != strings.Join(before, ",") {
		t.Fatalf("TLSA after the reload %v, before %v", got, before)
	}
	if got := soaSerial(t, addr); got != serial {
		t.Fatalf("the reload moved the serial %d -> %d", serial, got)
	}
	after, _ := os.ReadFile(filepath.Join(dir, "state", "acme", "certs", "www.json"))
	if !strings.Contains(string(after), extractNextKey(string(nextState))) {
		t.Fatal("the next key changed at the restart")
	}
}

func soaSerial(t *testing.T, addr string) uint32 {
	t.Helper()
	r, err := harness.Query(addr, zone, dns.TypeSOA, false, false)
	if err != nil || len(r.Answer) == 0 {
		t.Fatalf("SOA: %v %v", r, err)
	}
	return r.Answer[0].(*dns.SOA).Serial
}

func extractNextKey(state string) string {
	i := strings.Index(state, `"next_key": "`)
	if i < 0 {
		return "no next key"
	}
	rest := state[i+13:]
	return rest[:strings.Index(rest, `"`)]
}

// waitUpToDate waits until dnspki logged, after mark, that each certificate
// needs no order (its first decision after a start or reload): the positive
// signal that a restart or reload was processed without an order.
func waitUpToDate(t *testing.T, p *harness.Proc, mark int, ids ...string) {
	t.Helper()
	for _, id := range ids {
		if l := p.WaitLog(mark, `cert `+id+`: up to date, nothing to order`, 1, 30*time.Second); len(l) == 0 {
			t.Fatalf("cert %s: no decision logged after the restart or reload:\n%s", id, p.Output())
		}
	}
}
