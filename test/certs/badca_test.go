package certs

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dnspki/dnspki/test/harness"
)

// TestBadCA: what a CA gets wrong never costs the current certificate.
// Pebble answers its renewal information with malformed JSON, then with a
// window that ends before it starts: the certificate, its TLSA records and
// its schedule stay, nothing is ordered, and ARI is asked again (backoff).
// Then, with a renewal due, Pebble is down: the order fails, every
// certificate of the block waits for the CA (paused, retried with backoff),
// the certificate and its TLSA stay; once Pebble is back the renewal goes
// through.
func TestBadCA(t *testing.T) {
	dir := t.TempDir()
	port, statusPort := harness.FreePort(t), harness.FreePort(t)
	addr := harness.Addr(port)
	pebble := harness.StartPebble(t, harness.PebbleOpts{DNSServer: addr})
	copyExampleZone(t, dir)
	corefile := fmt.Sprintf(`example.test:%d {
    bind 127.0.0.1
    authzone example.test {
        file example.test.zone
    }
    certs example.test {
        directory %s
        ca-root %s
        backoff 1s 3s
        http 127.0.0.1:%d
        cert www {
            names www.example.test
            service 443/tcp www.example.test
            ttl 1
            holddown 2s
        }
    }
}
`, port, pebble.Directory, pebble.RootPEM, statusPort)
	srv := harness.StartDnspki(t, dir, corefile, port)
	harness.WaitDNS(t, addr, zone, 30*time.Second, srv.Proc)
	env := []string{"DNSPKI_CERTS_HTTP=" + harness.Addr(statusPort)}
	bin := harness.Dnspki(t)
	www := func(args ...string) certStatus {
		t.Helper()
		out, err := harness.RunEnv(t, 90*time.Second, dir, env, append([]string{bin, "certs", "-json", "-cert", "www"}, args...)...)
		var l []certStatus
		if err != nil || json.Unmarshal([]byte(out), &l) != nil || len(l) != 1 {
			t.Fatalf("dnspki certs: %v\n%s", err, out)
		}
		return l[0]
	}
	check := func() {
		t.Helper()
		if out, err := harness.RunEnv(t, 90*time.Second, dir, env, bin, "certs", "check", "-cert", "www"); err != nil {
			t.Fatalf("dnspki certs check: %v\n%s", err, out)
		}
	}
	outDir := filepath.Join(dir, "state", "certs", "www")
	harness.Eventually(t, 2*time.Minute, "the certificate with its ARI window", func() bool {
		s := www()
		return s.Serial != "" && s.ARI != nil && !s.ARI.End.IsZero()
	})
	leaf := leafOf(t, outDir)
	const owner = "_443._tcp.www.example.test."
	digest := harness.SPKI311(leaf.PublicKey)
	orders := func() int { return strings.Count(srv.Output(), "cert www: ordering a certificate") }
	unchanged := func(when string) {
		t.Helper()
		if l := leafOf(t, outDir); l.SerialNumber.Cmp(leaf.SerialNumber) != 0 {
			t.Fatalf("%s: the certificate changed", when)
		}
		if !contains(tlsaAt(t, addr, owner), digest) {
			t.Fatalf("%s: the current key's TLSA is gone", when)
		}
	}
	renewAt := www().RenewAt

	// Malformed renewal information, twice over.
	for _, bad := range []struct{ what, body, want string }{
		{"malformed JSON", `{"suggestedWindow": {"start": "yesterday"`, "unmarshal"},
		{"a window ending before it starts", fmt.Sprintf(`{"suggestedWindow": {"start": %q, "end": %q}}`,
			time.Now().Add(time.Hour).UTC().Format(time.RFC3339), time.Now().UTC().Format(time.RFC3339)), "malformed"},
	} {
		pebble.SetRenewalInfoRaw(t, leaf, bad.body)
		gets := strings.Count(pebble.Output(), "GET /draft-ietf-acme-ari-03/renewalInfo/")
		n0 := orders()
		check()
		s := www()
		if s.ARI == nil || s.ARI.Error == "" || !strings.Contains(s.ARI.Error, bad.want) {
			t.Fatalf("%s: ARI %+v, want an error about %q", bad.what, s.ARI, bad.want)
		}
		// Asked again, with backoff (1s, 2s, ...): two more questions.
		harness.Eventually(t, 30*time.Second, bad.what+": ARI asked again", func() bool {
			return strings.Count(pebble.Output(), "GET /draft-ietf-acme-ari-03/renewalInfo/") >= gets+3
		})
		if orders() != n0 || !www().RenewAt.Equal(renewAt) {
			t.Fatalf("%s: ordered or rescheduled (renewal %s, was %s)", bad.what, www().RenewAt, renewAt)
		}
		unchanged(bad.what)
	}

	// A renewal due in a few seconds, and the CA goes down.
	pebble.SetRenewalInfo(t, leaf, ariWindow(time.Now().Add(3*time.Second), time.Second))
	check()
	if s := www(); s.ARI == nil || s.ARI.Error != "" {
		t.Fatalf("the valid window: %+v", s.ARI)
	}
	pebble.Stop()
	mark := srv.LogMark()
	if l := srv.WaitLog(mark, `the CA failed \(.*, 2 in a row\)`, 1, 2*time.Minute); len(l) == 0 {
		t.Fatalf("no second CA failure logged:\n%s", srv.Output())
	}
	s := www()
	if s.LastResult != "ca_unreachable" || s.CAPausedUntil.IsZero() || s.Failures == 0 {
		t.Fatalf("while the CA is down: %+v", s)
	}
	unchanged("while the CA is down")
	pebble.Restart(t)
	// (The status is left at the end of the step that installed it.)
	harness.Eventually(t, 2*time.Minute, "the renewal once the CA is back", func() bool {
		s := www()
		return s.Serial != leaf.SerialNumber.Text(16) && s.LastResult == "success" && s.CAPausedUntil.IsZero()
	})
	if l := pebble.VerifyCertificate(t, readChain(t, outDir), "www.example.test"); l.SerialNumber.Cmp(leaf.SerialNumber) == 0 {
		t.Fatal("the files still hold the old certificate")
	}
}
