package certs

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/base32"
	"encoding/json"
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
// with Pebble resolving through dnspki: www.example.test by dns-01,
// intra.example.test + *.intra.example.test by dns-persist-01 and
// api.example.test by dns-account-01 (at the account's own label) land in
// ./state/certs/, with 3 1 1 at _443._tcp.www.example.test; `dnspki certs`
// (no flags but the endpoint's port, in the environment) lists them, as text
// and JSON, and `dnspki certs check` has the server ask Pebble's ARI for each.
// A restart then orders nothing, keeps the account, the next key and every
// record.
func TestExample(t *testing.T) {
	port, pebblePort, statusPort := harness.FreePort(t), harness.FreePort(t), harness.FreePort(t)
	addr := harness.Addr(port)
	pebble := harness.StartPebble(t, harness.PebbleOpts{DNSServer: addr, Port: pebblePort})
	dir := harness.Example(t, map[string]string{
		":1053":                       fmt.Sprintf(":%d", port),
		"https://127.0.0.1:14000/dir": pebble.Directory,
		"127.0.0.1:8554":              harness.Addr(statusPort),
	})
	conf := filepath.Join("corefile-examples", "certs.Corefile")
	srv := harness.RunDnspki(t, dir, conf, port, "DNSPKI_ACME_ROOT="+pebble.RootPEM)
	harness.WaitDNS(t, addr, zone, 30*time.Second, srv.Proc)
	www, intra, api := filepath.Join(dir, "state", "certs", "www"), filepath.Join(dir, "state", "certs", "intra"), filepath.Join(dir, "state", "certs", "api")
	harness.Eventually(t, 90*time.Second, "the three certificates in ./state/certs", func() bool {
		for _, d := range []string{www, intra, api} {
			if _, err := os.Stat(filepath.Join(d, "fullchain.pem")); err != nil {
				return false
			}
		}
		return true
	})
	leaf := pebble.VerifyCertificate(t, readChain(t, www), "www.example.test")
	pebble.VerifyCertificate(t, readChain(t, intra), "intra.example.test", "host.intra.example.test")
	apiLeaf := pebble.VerifyCertificate(t, readChain(t, api), "api.example.test")
	// api was validated by dns-account-01 at this account's label (computed
	// here as Pebble does), not by dns-01.
	owner := accountLabel(accountURI(t, filepath.Join(dir, "state"))) + "._acme-challenge.api.example.test."
	if out := srv.Output(); !strings.Contains(out, owner+" is served by") || !strings.Contains(out, "the CA validated dns-account-01") {
		t.Fatalf("no dns-account-01 challenge at %s:\n%s", owner, out)
	}
	if strings.Contains(srv.Output(), "_acme-challenge.api.example.test. is served by") && !strings.Contains(srv.Output(), owner) {
		t.Fatal("api was validated by dns-01")
	}
	certsCLI(t, dir, statusPort, leaf, apiLeaf)
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
		for _, id := range []string{"www", "intra", "api"} {
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
	waitUpToDate(t, srv.Proc, 0, "www", "intra", "api")
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
	waitUpToDate(t, srv.Proc, mark, "www", "intra", "api")
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

// accountLabel is the dns-account-01 label of an account URL, computed as
// Pebble's VA does: "_" and the lowercase base32 of the first 10 octets of
// its SHA-256 digest.
func accountLabel(accountURL string) string {
	h := sha256.Sum256([]byte(accountURL))
	return "_" + strings.ToLower(base32.StdEncoding.EncodeToString(h[:10]))
}

// certsCLI runs `dnspki certs`, `dnspki certs -json` and `dnspki certs
// check` against the example (only the endpoint's port differs from the
// default, given in DNSPKI_CERTS_HTTP): the list names the three
// certificates with their serials, issuers and ARI windows; check asks
// Pebble's ARI for every certificate and answers once each did.
func certsCLI(t *testing.T, dir string, statusPort int, www, api *x509.Certificate) {
	t.Helper()
	env := []string{"DNSPKI_CERTS_HTTP=" + harness.Addr(statusPort)}
	bin := harness.Dnspki(t)
	var list []certStatus
	harness.Eventually(t, 30*time.Second, "dnspki certs -json lists the three certificates with an ARI window", func() bool {
		out, err := harness.RunEnv(t, 30*time.Second, dir, env, bin, "certs", "-json")
		if err != nil || json.Unmarshal([]byte(out), &list) != nil || len(list) != 3 {
			return false
		}
		for _, c := range list {
			if c.ARI == nil || c.ARI.End.IsZero() {
				return false
			}
		}
		return true
	})
	byID := map[string]certStatus{}
	for _, c := range list {
		byID[c.ID] = c
	}
	if byID["www"].Serial != www.SerialNumber.Text(16) || byID["api"].Serial != api.SerialNumber.Text(16) || byID["api"].Challenge != "dns-account-01" {
		t.Fatalf("certs -json: %+v", list)
	}
	if byID["www"].Issuer != www.Issuer.CommonName || byID["www"].TLSA == nil || len(byID["www"].TLSA.Records) == 0 || byID["www"].ARI.Past {
		t.Fatalf("www: %+v", byID["www"])
	}
	text, err := harness.RunEnv(t, 30*time.Second, dir, env, bin, "certs")
	if err != nil || !strings.Contains(text, "www: www.example.test (dns-01)") || !strings.Contains(text, "api: api.example.test (dns-account-01)") ||
		!strings.Contains(text, www.Issuer.CommonName) || !strings.Contains(text, "ARI window") || !strings.Contains(text, "current") {
		t.Fatalf("dnspki certs: %v\n%s", err, text)
	}
	out, err := harness.RunEnv(t, 90*time.Second, dir, env, bin, "certs", "check", "-json")
	var res struct {
		Certificates []certStatus `json:"certificates"`
		NotChecked   []string     `json:"not_checked"`
	}
	if err != nil || json.Unmarshal([]byte(out), &res) != nil || len(res.Certificates) != 3 || len(res.NotChecked) != 0 {
		t.Fatalf("dnspki certs check: %v\n%s", err, out)
	}
	for _, c := range res.Certificates {
		if c.Asked != byID[c.ID].Asked+1 {
			t.Fatalf("cert %s: ARI checks asked %d -> %d", c.ID, byID[c.ID].Asked, c.Asked)
		}
	}
}

// certStatus is what the tests read of `dnspki certs -json`.
type certStatus struct {
	ID        string `json:"id"`
	Challenge string `json:"challenge"`
	Serial    string `json:"serial"`
	Issuer    string `json:"issuer"`
	ARI       *struct {
		Start time.Time `json:"start"`
		End   time.Time `json:"end"`
		Past  bool      `json:"past"`
		Error string    `json:"error"`
	} `json:"ari"`
	Next          string    `json:"next_action"`
	RenewAt       time.Time `json:"renew_at"`
	LastResult    string    `json:"last_result"`
	Failures      int       `json:"failures"`
	CAPausedUntil time.Time `json:"ca_paused_until"`
	Held          *struct {
		Serial string `json:"serial"`
	} `json:"held"`
	TLSA *struct {
		Records []struct {
			Name   string    `json:"name"`
			Record string    `json:"record"`
			Role   string    `json:"role"`
			Since  time.Time `json:"since"`
			Until  time.Time `json:"until"`
		} `json:"records"`
		NextKeyReady bool `json:"next_key_ready"`
	} `json:"tlsa"`
	Asked int64 `json:"ari_checks_asked"`
}
