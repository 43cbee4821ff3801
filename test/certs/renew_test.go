package certs

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/dnspki/dnspki/test/harness"
)

// certState is what the tests read of the certs plugin's state file
// (state/acme/certs/ID.json).
type certState struct {
	NextKey     string    `json:"next_key"`
	RenewAt     time.Time `json:"renew_at"`
	RenewWhy    string    `json:"renew_why"`
	Serial      string    `json:"serial"`
	WindowStart time.Time `json:"window_start"`
	WindowEnd   time.Time `json:"window_end"`
	ARICheck    time.Time `json:"ari_check"`
}

func stateFile(dir, id string) string {
	return filepath.Join(dir, "state", "acme", "certs", id+".json")
}

func readState(t *testing.T, dir, id string) certState {
	t.Helper()
	var st certState
	b, err := os.ReadFile(stateFile(dir, id))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatalf("%s: %v", stateFile(dir, id), err)
	}
	return st
}

// leafOf parses the leaf of a certbot-layout folder (nil while there is
// none).
func leafOf(t *testing.T, out string) *x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(out, "cert.pem"))
	if err != nil {
		return nil
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatalf("%s/cert.pem: no PEM", out)
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// copyExampleZone writes corefile-examples/example.test.zone into dir.
func copyExampleZone(t *testing.T, dir string) {
	t.Helper()
	zoneText, err := os.ReadFile(filepath.Join(harness.Root(), "corefile-examples", "example.test.zone"))
	if err != nil {
		t.Fatal(err)
	}
	harness.WriteFile(t, filepath.Join(dir, "example.test.zone"), zoneText)
}

// TestRenewalWithoutDNSChange: with short-lived certificates from Pebble,
// renewals by dns-persist-01 (same account) change nothing in DNS: the SOA
// serial, the _validation-persist records and, for a certificate with
// reuse-key, the TLSA records stay exactly as they are at every step, and no
// next key is made. The reuse-key certificate is RSA 2048 (key-type), its
// 3 1 1 record the RSA key's. Every renewal follows Pebble's renewal
// information (ARI) and names the certificate it replaces, which Pebble
// accepts.
func TestRenewalWithoutDNSChange(t *testing.T) {
	const validity = 20 // seconds
	dir, addr, metricsPort, pebble, srv := startCerts(t, "short", "20 s", validity, `        cert intra {
            names intra.example.test *.intra.example.test
            challenge dns-persist-01
        }
        cert mail {
            names mail.example.test
            challenge dns-persist-01
            key-type rsa2048
            reuse-key
            service 25/tcp mail.example.test
            ttl 2
        }
`)
	intra, mail := filepath.Join(dir, "state", "certs", "intra"), filepath.Join(dir, "state", "certs", "mail")
	const tlsaName = "_25._tcp.mail.example.test."
	harness.Eventually(t, 60*time.Second, "both certificates", func() bool {
		return leafOf(t, intra) != nil && leafOf(t, mail) != nil
	})
	mailLeaf := leafOf(t, mail)
	rsaKey, ok := mailLeaf.PublicKey.(*rsa.PublicKey)
	if !ok || rsaKey.N.BitLen() != 2048 {
		t.Fatalf("mail's certificate key is %T, want RSA 2048", mailLeaf.PublicKey)
	}
	key := harness.SPKI311(mailLeaf.PublicKey)
	harness.Eventually(t, 10*time.Second, "mail's 3 1 1 record", func() bool {
		got := tlsaAt(t, addr, tlsaName)
		return len(got) == 1 && got[0] == key
	})
	acct := accountURI(t, filepath.Join(dir, "state"))
	persistNames := []string{"_validation-persist.intra.example.test.", "_validation-persist.mail.example.test."}
	persistWant := []string{
		"pebble.letsencrypt.org; accounturi=" + acct + "; policy=wildcard",
		"pebble.letsencrypt.org; accounturi=" + acct,
	}
	for i, n := range persistNames {
		if got := txtAt(t, addr, n); len(got) != 1 || got[0] != persistWant[i] {
			t.Fatalf("%s: %v, want %q", n, got, persistWant[i])
		}
	}

	// From here on nothing in the zone changes, whatever is renewed.
	serial := soaSerial(t, addr)
	installs := func(id string) int { return strings.Count(srv.Output(), "cert "+id+": certificate ") }
	intra0, mail0 := installs("intra"), installs("mail")
	checks := 0
	unchanged := func(when string) {
		t.Helper()
		if got := soaSerial(t, addr); got != serial {
			t.Fatalf("the serial moved %d -> %d %s (installed: intra %d, mail %d)\n%s", serial, got, when, installs("intra"), installs("mail"), srv.Output())
		}
		if got := tlsaAt(t, addr, tlsaName); len(got) != 1 || got[0] != key {
			t.Fatalf("TLSA at %s %s: %v, want only %s", tlsaName, when, got, key)
		}
		for i, n := range persistNames {
			if got := txtAt(t, addr, n); len(got) != 1 || got[0] != persistWant[i] {
				t.Fatalf("%s %s: %v, want %q", n, when, got, persistWant[i])
			}
		}
		checks++
	}
	deadline := time.Now().Add(6 * validity * time.Second)
	for installs("intra") < intra0+1 || installs("mail") < mail0+2 {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for the renewals (installed: intra %d, mail %d)\n%s", installs("intra"), installs("mail"), srv.Output())
		}
		unchanged("during the renewals")
		time.Sleep(200 * time.Millisecond)
	}
	unchanged("after the renewals")
	t.Logf("%d checks of the serial, the TLSA and the validation records; %d certificates for intra, %d for mail", checks, installs("intra"), installs("mail"))

	// mail: the same RSA key in a new certificate, no next key anywhere.
	newLeaf := leafOf(t, mail)
	if newLeaf.SerialNumber.Cmp(mailLeaf.SerialNumber) == 0 {
		t.Fatal("mail's certificate files did not change")
	}
	if got := harness.SPKI311(newLeaf.PublicKey); got != key {
		t.Fatalf("mail's renewed certificate has the key %s, want the reused %s", got, key)
	}
	out := srv.Output()
	if strings.Contains(out, "cert mail: next key made") {
		t.Fatalf("a next key was made for mail (reuse-key):\n%s", out)
	}
	if st := readState(t, dir, "mail"); st.NextKey != "" {
		t.Fatal("mail's state holds a next key (reuse-key)")
	}
	// (A renewal that a busy worker reaches only after the expiry says so
	// instead of "renewal due (ari)".)
	renewedWith := regexp.MustCompile(`cert mail: ordering a certificate for mail\.example\.test with the current key \(`+regexp.QuoteMeta(key)+`; ([^)]*\)?)\)`).FindAllStringSubmatch(out, -1)
	ari := 0
	for _, m := range renewedWith {
		if m[1] == "renewal due (ari)" {
			ari++
		}
	}
	if len(renewedWith) < 2 || ari == 0 {
		t.Fatalf("%d renewals of mail with the current key, %d scheduled by ARI; want at least 2 and 1:\n%s", len(renewedWith), ari, out)
	}
	// Every renewal named the certificate it replaces, and Pebble took it.
	renewals := installs("intra") + installs("mail") - 2
	if n := strings.Count(pebble.Output(), "is a replacement of"); n < renewals {
		t.Fatalf("Pebble saw %d replacement orders for %d renewals:\n%s", n, renewals, pebble.Output())
	}
	if strings.Contains(out, "the CA refused an order replacing") {
		t.Fatalf("Pebble refused a replacement order:\n%s", out)
	}
	pebble.VerifyCertificate(t, readChain(t, intra), "intra.example.test", "x.intra.example.test")
	pebble.VerifyCertificate(t, readChain(t, mail), "mail.example.test")
	if v := harness.Metric(t, fmt.Sprintf("http://127.0.0.1:%d/metrics", metricsPort), "coredns_dnspki_certs_attempts_total", map[string]string{"cert": "mail", "result": "success"}); v < 3 {
		t.Fatalf("certs_attempts_total{cert=mail,result=success} = %v", v)
	}

	// A restart changes nothing either (reuse-key: no next key is made).
	srv.Stop()
	srv.Restart()
	harness.WaitDNS(t, addr, zone, 30*time.Second, srv.Proc)
	waitUpToDate(t, srv.Proc, 0, "intra", "mail")
	unchanged("after a restart")
	if out := srv.Output(); strings.Contains(out, "cert mail: next key made") {
		t.Fatalf("a next key was made for mail at the restart:\n%s", out)
	}
}

// TestARIWindow: the renewal time is chosen in the window Pebble suggests
// (ARI, RFC 9773): for a 40-hour certificate Pebble's own window, and after
// Pebble is told to suggest a window a few seconds ahead (its
// set-renewal-info) and the next ARI check is due, in that window, well
// before two thirds of the lifetime; the renewal then names the certificate
// it replaces, and Pebble accepts it.
func TestARIWindow(t *testing.T) {
	const validity = 40 * 3600 // seconds: Pebble's window starts after the issuance only beyond 36 h
	dir, addr, metricsPort, pebble, srv := startCerts(t, "long", "40 h", validity, `        cert www {
            names www.example.test
        }
`)
	www := filepath.Join(dir, "state", "certs", "www")
	harness.Eventually(t, 60*time.Second, "the certificate", func() bool { return leafOf(t, www) != nil })
	leaf := leafOf(t, www)
	var st certState
	harness.Eventually(t, 10*time.Second, "the renewal scheduled", func() bool {
		st = readState(t, dir, "www")
		return st.Serial == leaf.SerialNumber.Text(16) && !st.RenewAt.IsZero()
	})
	// Pebble's own window: from the ideal time (two thirds) minus a day to
	// the expiry.
	w := pebble.RenewalInfo(t, leaf)
	life := leaf.NotAfter.Sub(leaf.NotBefore)
	latest := leaf.NotAfter.Add(-life / 6)
	if st.RenewWhy != "ari" || !st.WindowStart.Equal(w.Start) || !st.WindowEnd.Equal(w.End) {
		t.Fatalf("renewal %s (%s) in the window %s .. %s; Pebble suggests %s .. %s", st.RenewAt, st.RenewWhy, st.WindowStart, st.WindowEnd, w.Start, w.End)
	}
	if !w.Start.After(leaf.NotBefore.Add(time.Hour)) {
		t.Fatalf("Pebble's window starts at %s, the certificate at %s: the test wants a window that starts later", w.Start, leaf.NotBefore)
	}
	if st.RenewAt.Before(w.Start) || st.RenewAt.After(w.End) || st.RenewAt.After(latest) {
		t.Fatalf("renewal at %s, outside Pebble's window %s .. %s (or after %s)", st.RenewAt, w.Start, w.End, latest)
	}
	metrics := fmt.Sprintf("http://127.0.0.1:%d/metrics", metricsPort)
	if v := harness.Metric(t, metrics, "coredns_dnspki_certs_next_renewal_timestamp_seconds", map[string]string{"cert": "www"}); int64(v) != st.RenewAt.Unix() {
		t.Fatalf("certs_next_renewal_timestamp_seconds = %v, want %d", v, st.RenewAt.Unix())
	}
	if strings.Contains(srv.Output(), "renewal due") {
		t.Fatal("renewed before the window")
	}

	// Pebble now suggests renewing a few seconds from now. dnspki asks again
	// when Pebble's Retry-After (6 h, at most a quarter of the lifetime)
	// has passed: the test stops dnspki and moves that moment into the past,
	// as if the hours had gone by.
	srv.Stop()
	soon := ariWindow(time.Now().Add(5*time.Second), 2*time.Second)
	pebble.SetRenewalInfo(t, leaf, soon)
	var raw map[string]any
	b, err := os.ReadFile(stateFile(dir, "www"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	if _, ok := raw["ari_check"]; !ok {
		t.Fatalf("no ari_check in the state: %s", b)
	}
	raw["ari_check"] = time.Now().Add(-time.Second).UTC().Format(time.RFC3339Nano)
	b, _ = json.MarshalIndent(raw, "", "  ")
	if err := os.WriteFile(stateFile(dir, "www"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	srv.Restart()
	harness.WaitDNS(t, addr, zone, 30*time.Second, srv.Proc)
	harness.Eventually(t, 30*time.Second, "the renewal in Pebble's new window", func() bool {
		l := leafOf(t, www)
		return l != nil && l.SerialNumber.Cmp(leaf.SerialNumber) != 0
	})
	renewed := leafOf(t, www)
	// Pebble's notBefore is the issuance time, truncated to the second.
	if renewed.NotBefore.Before(soon.Start.Truncate(time.Second)) {
		t.Fatalf("renewed at %s, before the suggested window %s .. %s", renewed.NotBefore, soon.Start, soon.End)
	}
	out := srv.Output()
	if !strings.Contains(out, "in the CA's window "+soon.Start.UTC().Format(time.RFC3339)) {
		t.Fatalf("dnspki does not log the new window:\n%s", out)
	}
	if !strings.Contains(out, "cert www: ordering a certificate for www.example.test with the next key") || !strings.Contains(out, "; renewal due (ari))") {
		t.Fatalf("the renewal was not ordered for the ARI schedule:\n%s", out)
	}
	if n := strings.Count(pebble.Output(), "is a replacement of"); n != 1 {
		t.Fatalf("Pebble saw %d replacement orders, want 1:\n%s", n, pebble.Output())
	}
	if !strings.Contains(pebble.Output(), "has been marked as replaced") {
		t.Fatalf("Pebble did not mark the certificate as replaced:\n%s", pebble.Output())
	}
	// The new certificate's schedule is in Pebble's window for it.
	harness.Eventually(t, 10*time.Second, "the new certificate's renewal scheduled", func() bool {
		st = readState(t, dir, "www")
		return st.Serial == renewed.SerialNumber.Text(16) && !st.RenewAt.IsZero()
	})
	w = pebble.RenewalInfo(t, renewed)
	if st.RenewWhy != "ari" || !st.WindowStart.Equal(w.Start) || !st.WindowEnd.Equal(w.End) || st.RenewAt.Before(w.Start) || st.RenewAt.After(w.End) {
		t.Fatalf("the new certificate's renewal %s (%s) in %s .. %s; Pebble suggests %s .. %s", st.RenewAt, st.RenewWhy, st.WindowStart, st.WindowEnd, w.Start, w.End)
	}
}

// ariWindow is the window [start, start+d], to the millisecond.
func ariWindow(start time.Time, d time.Duration) harness.ARIWindow {
	start = start.UTC().Truncate(time.Millisecond)
	return harness.ARIWindow{Start: start, End: start.Add(d)}
}

// startCerts starts Pebble with one profile (name, description, validity in
// seconds) and dnspki serving the example zone with a certs block of that
// profile (backoff 1s 3s) holding the given cert lines; it returns the
// directory, the DNS address, the metrics port, Pebble and the server.
func startCerts(t *testing.T, profile, desc string, validity uint64, certLines string) (string, string, int, *harness.Pebble, *harness.Server) {
	t.Helper()
	dir := t.TempDir()
	port, metricsPort := harness.FreePort(t), harness.FreePort(t)
	addr := harness.Addr(port)
	pebble := harness.StartPebble(t, harness.PebbleOpts{
		DNSServer: addr,
		Profiles:  map[string]harness.PebbleProfile{profile: {Description: desc, ValidityPeriod: validity}},
	})
	copyExampleZone(t, dir)
	corefile := fmt.Sprintf(`example.test:%d {
    bind 127.0.0.1
    prometheus 127.0.0.1:%d
    authzone example.test {
        file example.test.zone
    }
    certs example.test {
        directory %s
        ca-root %s
        profile %s
        backoff 1s 3s
%s    }
}
`, port, metricsPort, pebble.Directory, pebble.RootPEM, profile, certLines)
	srv := harness.StartDnspki(t, dir, corefile, port)
	harness.WaitDNS(t, addr, zone, 30*time.Second, srv.Proc)
	return dir, addr, metricsPort, pebble, srv
}
