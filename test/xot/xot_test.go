// Package xot tests zone transfers over TLS (RFC 9103) between dnspki and
// BIND 9.18 (Debian 12's Knot 3.2 has no XoT): dnspki as XoT primary of a
// BIND secondary (strict: CA and name) and as XoT secondary of a BIND
// primary (strict: pinned SPKI), TSIG on every message over TLS, NOTIFY
// and IXFR; mutual TLS and the certificate dnspki generates on first start
// between two dnspki; peers with the wrong certificate refused with a log
// line naming the peer and the reason.
package xot

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/dnspki/dnspki/test/harness"
)

const (
	xfrKey    = "xfr-key."
	xfrSecret = "eGZyLWtleS1zZWNyZXQtZm9yLXhvdC10ZXN0cy0wMTI="
)

func zoneText(serial uint32, extra string) string {
	return fmt.Sprintf(`$ORIGIN example.test.
$TTL 3600
@    IN SOA ns1 hostmaster %d 3600 600 1209600 60
     IN NS  ns1
ns1  IN A   192.0.2.53
www  IN A   192.0.2.10
%s`, serial, extra)
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// certFiles issues a certificate for name from ca (server and client use)
// into dir and returns the certificate, key and CA root files, and the
// SPKI pin.
func certFiles(t *testing.T, ca *harness.TestCA, dir, name string) (cert, key, root, pin string) {
	t.Helper()
	k := harness.NewKey(t)
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: newSerial(t), Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Inter, k.Public(), ca.InterKey)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	cert, key, root = filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key"), filepath.Join(dir, "ca-"+name+".crt")
	harness.WriteFile(t, cert, harness.CertsPEM(leaf, ca.Inter))
	harness.WriteFile(t, key, harness.KeyPEM(t, k))
	harness.WriteFile(t, root, harness.CertsPEM(ca.Root))
	return cert, key, root, spkiPin(leaf)
}

func spkiPin(c *x509.Certificate) string {
	h := sha256.Sum256(c.RawSubjectPublicKeyInfo)
	return base64.StdEncoding.EncodeToString(h[:])
}

func newSerial(t *testing.T) *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// startNamed runs BIND (named -f) with the configuration text in dir.
func startNamed(t *testing.T, dir, conf string) *harness.Proc {
	t.Helper()
	bin := harness.Need(t, "named")[0]
	path := filepath.Join(dir, "named.conf")
	write(t, path, conf)
	return harness.Start(t, "named", []string{bin, "-f", "-c", path, "-n", "1"}, harness.StartOpts{Dir: dir})
}

// namedOptions is the start of a BIND configuration: logging of transfers
// and TLS, the TSIG key, listening on port (DNS) and tlsPort (DNS over TLS
// with the tls block "local", if tlsPort is not 0).
func namedOptions(dir string, port, tlsPort int) string {
	listen := fmt.Sprintf("listen-on port %d { 127.0.0.1; };\n", port)
	if tlsPort != 0 {
		listen += fmt.Sprintf("\tlisten-on port %d tls local { 127.0.0.1; };\n", tlsPort)
	}
	return fmt.Sprintf(`options {
	directory "%[1]s";
	pid-file "%[1]s/named.pid";
	session-keyfile "%[1]s/session.key";
	managed-keys-directory "%[1]s";
	%[2]s	listen-on-v6 { none; };
	recursion no;
	dnssec-validation no;
	notify explicit;
	notify-delay 0;
};
controls { };
logging {
	channel out { stderr; severity debug 3; print-time yes; print-category yes; print-severity yes; };
	category xfer-in { out; };
	category xfer-out { out; };
	category notify { out; };
	category update { out; };
	category general { out; };
	category default { out; };
};
key "%[3]s" { algorithm hmac-sha256; secret "%[4]s"; };
`, dir, listen, xfrKey, xfrSecret)
}

// dnspki is an XoT primary with a CA-issued certificate; BIND 9.18 is its
// secondary over TLS, strict (the CA and the name), with TSIG: the first
// AXFR, then NOTIFY and IXFR after a change, all over TLS; a plain-TCP
// transfer is refused ('transfer to ... tls').
func TestXoTToBind(t *testing.T) {
	harness.Need(t, "named")
	dir := t.TempDir()
	ca := harness.NewTestCA(t, "XoT test")
	cert, key, root, _ := certFiles(t, ca, dir, "primary.test")
	write(t, filepath.Join(dir, "example.test.zone"), zoneText(100, ""))
	port, tlsPort, bindPort := harness.FreePort(t), harness.FreePort(t), harness.FreePort(t)
	p := harness.StartDnspki(t, dir, fmt.Sprintf(`example.test:%[1]d tls://example.test:%[2]d {
    bind 127.0.0.1
    xot {
        cert %[4]s %[5]s
    }
    authzone example.test {
        file example.test.zone
        reload 100ms
        key %[6]s hmac-sha256 %[7]s
        transfer to 127.0.0.1 key %[6]s tls
        notify 127.0.0.1:%[3]d key %[6]s
    }
}
`, port, tlsPort, bindPort, cert, key, xfrKey, xfrSecret), port)
	harness.WaitDNS(t, p.Addr, "example.test.", 30*time.Second, p.Proc)

	bdir := t.TempDir()
	b := startNamed(t, bdir, namedOptions(bdir, bindPort, 0)+fmt.Sprintf(`tls strict { ca-file "%s"; remote-hostname "primary.test"; };
zone "example.test" { type secondary; file "example.test.db"; primaries { 127.0.0.1 port %d key "%s" tls strict; }; };
`, root, tlsPort, xfrKey))
	harness.WaitServes(t, harness.Addr(bindPort), "example.test.", 100, 30*time.Second, b)
	if l := p.LogLines(`AXFR to 127\.0\.0\.1 key xfr-key\. over TLS: serial 100`); len(l) == 0 {
		t.Fatalf("dnspki did not log the AXFR over TLS:\n%s", p.Output())
	}
	if l := b.LogLines(`transfer of 'example.test/IN' from 127\.0\.0\.1#\d+: Transfer completed`); len(l) == 0 {
		t.Fatalf("BIND did not complete the transfer:\n%s", b.Output())
	}
	if l := b.LogLines(`zone example.test/IN: Transfer started`); len(l) > 0 {
		t.Log(l[0])
	}
	if l := b.LogLines(`(?i)tls`); len(l) > 0 {
		t.Logf("BIND's TLS lines: %q", l)
	}

	// A change: NOTIFY (plain DNS), IXFR over TLS.
	mark := p.LogMark()
	write(t, filepath.Join(dir, "example.test.zone"), zoneText(100, "new IN TXT \"over TLS\"\n"))
	harness.WaitServes(t, harness.Addr(bindPort), "example.test.", 101, 30*time.Second, b)
	if l := p.WaitLog(mark, `IXFR to 127\.0\.0\.1 key xfr-key\. over TLS: serial 100 -> 101`, 1, 10*time.Second); len(l) == 0 {
		t.Fatalf("dnspki did not log the IXFR over TLS:\n%s", p.Output())
	}
	if v := harness.TXTValues(t, harness.Addr(bindPort), "new.example.test."); len(v) != 1 || v[0] != "over TLS" {
		t.Fatalf("BIND serves %v", v)
	}

	// The same transfer over plain TCP is refused: the rule wants TLS.
	m := new(dns.Msg)
	m.SetAxfr("example.test.")
	m.SetTsig(xfrKey, dns.HmacSHA256, 300, time.Now().Unix())
	tr := &dns.Transfer{TsigSecret: map[string]string{xfrKey: xfrSecret}}
	ch, err := tr.In(m, p.Addr)
	if err == nil {
		env := <-ch
		err = env.Error
		for range ch {
		}
	}
	if err == nil || !strings.Contains(err.Error(), "REFUSED") && !strings.Contains(err.Error(), "bad xfr rcode: 5") {
		t.Fatalf("plain TCP AXFR: %v, want REFUSED", err)
	}
	if l := p.WaitLog(mark, `AXFR from 127\.0\.0\.1 key xfr-key\. refused: transfer over TLS \(XoT\) required`, 1, 10*time.Second); len(l) == 0 {
		t.Fatalf("no refusal in the log:\n%s", p.Output())
	}
}

// BIND 9.18 is an XoT primary; dnspki its secondary over TLS, strict with
// the primary's pinned SPKI, with TSIG: AXFR, then an UPDATE at BIND,
// NOTIFY and IXFR over TLS. Secondaries with the wrong pin or another CA
// refuse the primary, with a log line naming it and the reason, and serve
// nothing.
func TestXoTFromBind(t *testing.T) {
	harness.Need(t, "named")
	bdir := t.TempDir()
	ca := harness.NewTestCA(t, "BIND XoT")
	cert, key, _, pin := certFiles(t, ca, bdir, "bind-primary.test")
	other := harness.NewTestCA(t, "Other")
	_, _, otherRoot, otherPin := certFiles(t, other, bdir, "other.test")
	bindPort, bindTLS, secPort := harness.FreePort(t), harness.FreePort(t), harness.FreePort(t)
	write(t, filepath.Join(bdir, "example.test.db"), zoneText(200, ""))
	b := startNamed(t, bdir, namedOptions(bdir, bindPort, bindTLS)+fmt.Sprintf(`tls local { key-file "%s"; cert-file "%s"; };
zone "example.test" {
	type primary;
	file "example.test.db";
	allow-transfer port %d transport tls { key "%s"; };
	allow-update { key "%s"; };
	also-notify { 127.0.0.1 port %d key "%s"; };
};
`, key, cert, bindTLS, xfrKey, xfrKey, secPort, xfrKey))
	harness.WaitServes(t, harness.Addr(bindPort), "example.test.", 200, 30*time.Second, b)

	sdir := t.TempDir()
	s := harness.StartDnspki(t, sdir, fmt.Sprintf(`example.test:%[1]d {
    bind 127.0.0.1
    authzone example.test {
        primary 127.0.0.1:%[2]d key %[3]s tls-spki %[5]s
        key %[3]s hmac-sha256 %[4]s
    }
}
`, secPort, bindTLS, xfrKey, xfrSecret, pin), secPort)
	harness.WaitServes(t, s.Addr, "example.test.", 200, 30*time.Second, s.Proc)
	primary := fmt.Sprintf("127.0.0.1:%d", bindTLS)
	if l := s.LogLines(`AXFR from ` + primary + `: primary serial none -> 200`); len(l) == 0 {
		t.Fatalf("dnspki did not log the AXFR from BIND over TLS:\n%s", s.Output())
	}

	// An UPDATE at BIND: NOTIFY, IXFR over TLS.
	mark := s.LogMark()
	up := new(dns.Msg)
	up.SetUpdate("example.test.")
	rr, _ := dns.NewRR(`new.example.test. 300 IN TXT "from BIND over TLS"`)
	up.Insert([]dns.RR{rr})
	up.SetTsig(xfrKey, dns.HmacSHA256, 300, time.Now().Unix())
	c := &dns.Client{Net: "tcp", TsigSecret: map[string]string{xfrKey: xfrSecret}}
	if r, _, err := c.Exchange(up, harness.Addr(bindPort)); err != nil || r.Rcode != dns.RcodeSuccess {
		t.Fatalf("UPDATE at BIND: %v %v", err, r)
	}
	harness.WaitServes(t, s.Addr, "example.test.", 201, 30*time.Second, s.Proc)
	if l := s.WaitLog(mark, `IXFR from `+primary+`: primary serial 200 -> 201`, 1, 10*time.Second); len(l) == 0 {
		t.Fatalf("no IXFR over TLS in the log:\n%s", s.Output())
	}
	if v := harness.TXTValues(t, s.Addr, "new.example.test."); len(v) != 1 || v[0] != "from BIND over TLS" {
		t.Fatalf("dnspki serves %v", v)
	}
	if l := b.LogLines(`transfer of 'example.test/IN': IXFR ended`); len(l) == 0 {
		t.Logf("BIND's log:\n%s", b.Output())
	}

	// Opportunistic TLS: encrypted, the primary not authenticated.
	t.Run("opportunistic", func(t *testing.T) {
		port := harness.FreePort(t)
		o := harness.StartDnspki(t, t.TempDir(), fmt.Sprintf(`example.test:%[1]d {
    bind 127.0.0.1
    authzone example.test {
        primary 127.0.0.1:%[2]d key %[3]s tls
        key %[3]s hmac-sha256 %[4]s
    }
}
`, port, bindTLS, xfrKey, xfrSecret), port)
		harness.WaitServes(t, o.Addr, "example.test.", 201, 30*time.Second, o.Proc)
	})

	// Wrong certificates: a pin of another key, a CA that did not issue it.
	for _, tc := range []struct{ name, opts, why string }{
		{"wrong pin", "tls-spki " + otherPin, "is not pinned"},
		{"other CA", "tls-ca " + otherRoot + " tls-name bind-primary.test", "certificate signed by unknown authority"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			port := harness.FreePort(t)
			w := harness.StartDnspki(t, t.TempDir(), fmt.Sprintf(`example.test:%[1]d {
    bind 127.0.0.1
    authzone example.test {
        primary 127.0.0.1:%[2]d key %[3]s %[5]s
        key %[3]s hmac-sha256 %[4]s
    }
}
`, port, bindTLS, xfrKey, xfrSecret, tc.opts), port)
			lines := w.WaitLog(0, `refresh from `+primary+` failed: .*refusing the primary's TLS certificate: .*`+tc.why, 1, 30*time.Second)
			if len(lines) == 0 {
				t.Fatalf("no refusal naming the primary and the reason:\n%s", w.Output())
			}
			if _, ok := harness.SOASerial(w.Addr, "example.test."); ok {
				t.Fatal("the secondary serves a zone from a primary it refused")
			}
		})
	}
}

// Two dnspki: the primary's XoT listener has no certificate configured (it
// generates one into its state directory on first start and keeps it
// across restarts) and asks clients for a certificate from a CA (mutual
// TLS); a secondary pinning the generated key and presenting its
// certificate transfers the zone; one without a certificate is refused,
// and the primary's log names it and the reason.
func TestXoTMutualTLS(t *testing.T) {
	dir := t.TempDir()
	p, tlsPort, ccert, ckey := startMutualPrimary(t, dir, "Secondaries", "secondary.test", 300)
	certPath := filepath.Join(dir, "state", "tls", "xot.crt")
	certs := harness.ParseCerts(t, mustRead(t, certPath))
	pin := spkiPin(certs[0])
	if l := p.LogLines(`generated a self-signed certificate for XoT: state/tls/xot.crt \(SPKI pin ` + regexpQuote(pin) + `\)`); len(l) != 1 {
		t.Fatalf("the generated certificate is not logged with its pin %s:\n%s", pin, p.Output())
	}

	start := func(opts string) *harness.Server {
		port := harness.FreePort(t)
		return harness.StartDnspki(t, t.TempDir(), fmt.Sprintf(`example.test:%[1]d {
    bind 127.0.0.1
    authzone example.test {
        primary 127.0.0.1:%[2]d key %[3]s tls-spki %[5]s %[6]s
        key %[3]s hmac-sha256 %[4]s
    }
}
`, port, tlsPort, xfrKey, xfrSecret, pin, opts), port)
	}
	good := start("tls-cert " + ccert + " " + ckey)
	harness.WaitServes(t, good.Addr, "example.test.", 300, 30*time.Second, good.Proc)
	if l := p.LogLines(`AXFR to 127\.0\.0\.1 key xfr-key\. over TLS: serial 300`); len(l) == 0 {
		t.Fatalf("no AXFR over TLS:\n%s", p.Output())
	}

	mark := p.LogMark()
	bad := start("")
	if l := p.WaitLog(mark, `refused TLS client 127\.0\.0\.1:\d+: client certificate refused: no certificate`, 1, 30*time.Second); len(l) == 0 {
		t.Fatalf("the primary did not log the refused client:\n%s", p.Output())
	}
	if l := bad.WaitLog(0, `refresh from 127\.0\.0\.1:\d+ failed`, 1, 30*time.Second); len(l) == 0 {
		t.Fatalf("the secondary without a certificate did not log its failure:\n%s", bad.Output())
	}
	if _, ok := harness.SOASerial(bad.Addr, "example.test."); ok {
		t.Fatal("a secondary without a client certificate got the zone")
	}

	// A restart keeps the certificate (and so the pin secondaries use).
	p.Stop()
	p.Restart()
	harness.WaitDNS(t, p.Addr, "example.test.", 30*time.Second, p.Proc)
	if again := harness.ParseCerts(t, mustRead(t, certPath)); spkiPin(again[0]) != pin {
		t.Fatal("the certificate changed across a restart")
	}
	if l := p.LogLines(`XoT certificate state/tls/xot.crt \(self-signed, SPKI pin ` + regexpQuote(pin) + `\)`); len(l) != 1 {
		t.Fatalf("the restart does not reuse the certificate:\n%s", p.Output())
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func regexpQuote(s string) string { return regexp.QuoteMeta(s) }

// TestExample runs corefile-examples/xot.Corefile as documented (ports
// rewritten): the certificate generated into ./state/tls/, its pin printed
// by 'dnspki spki'; a dnspki secondary pinning it transfers the zone over
// TLS with xfr-key.; a plain-TCP transfer is refused.
func TestExample(t *testing.T) {
	port, tlsPort, secPort := harness.FreePort(t), harness.FreePort(t), harness.FreePort(t)
	p := harness.StartExampleAt(t, port, "xot.Corefile", "example.test.", map[string]string{
		":1853": fmt.Sprintf(":%d", tlsPort), "127.0.0.1:1054": harness.Addr(secPort),
	})
	pin := strings.TrimSpace(harness.MustRun(t, 30*time.Second, p.Dir, harness.Dnspki(t), "spki", "state/tls/xot.crt"))
	if l := p.LogLines(regexp.QuoteMeta(pin)); len(l) == 0 {
		t.Fatalf("dnspki spki printed %q, not the pin logged at start:\n%s", pin, p.Output())
	}
	exampleSecret := "eGZyLWtleS1zZWNyZXQtZm9yLXRlc3RzLTAxMjM0NTY="
	s := harness.StartDnspki(t, t.TempDir(), fmt.Sprintf(`example.test:%[1]d {
    bind 127.0.0.1
    authzone example.test {
        primary 127.0.0.1:%[2]d key xfr-key. tls-spki %[3]s
        key xfr-key. hmac-sha256 %[4]s
    }
}
`, secPort, tlsPort, pin, exampleSecret), secPort)
	harness.WaitServes(t, s.Addr, "example.test.", 2026010100, 30*time.Second, s.Proc)
	if l := p.LogLines(`AXFR to 127\.0\.0\.1 key xfr-key\. over TLS`); len(l) == 0 {
		t.Fatalf("no AXFR over TLS:\n%s", p.Output())
	}
	// The zone carries its digest, with the SOA serial.
	r, err := harness.Query(s.Addr, "example.test.", dns.TypeZONEMD, true, false)
	if err != nil || len(r.Answer) != 1 || r.Answer[0].(*dns.ZONEMD).Serial != 2026010100 {
		t.Fatalf("ZONEMD at the secondary: %v %v", r, err)
	}
	m := new(dns.Msg)
	m.SetAxfr("example.test.")
	m.SetTsig("xfr-key.", dns.HmacSHA256, 300, time.Now().Unix())
	tr := &dns.Transfer{TsigSecret: map[string]string{"xfr-key.": exampleSecret}}
	ch, err := tr.In(m, p.Addr)
	if err == nil {
		env := <-ch
		err = env.Error
		for range ch {
		}
	}
	if err == nil {
		t.Fatal("a plain-TCP AXFR of the example was not refused")
	}
}

// startMutualPrimary starts dnspki in dir serving example.test (serial) with
// an XoT listener that asks for client certificates from a new test CA
// (caName) and allows transfers over TLS with xfrKey; it returns the server,
// the XoT port and a client certificate and key for name from that CA.
func startMutualPrimary(t *testing.T, dir, caName, name string, serial uint32) (p *harness.Server, tlsPort int, ccert, ckey string) {
	t.Helper()
	ca := harness.NewTestCA(t, caName)
	ccert, ckey, root, _ := certFiles(t, ca, dir, name)
	write(t, filepath.Join(dir, "example.test.zone"), zoneText(serial, ""))
	port := harness.FreePort(t)
	tlsPort = harness.FreePort(t)
	p = harness.StartDnspki(t, dir, fmt.Sprintf(`example.test:%[1]d tls://example.test:%[2]d {
    bind 127.0.0.1
    xot {
        client-ca %[3]s
    }
    authzone example.test {
        file example.test.zone
        key %[4]s hmac-sha256 %[5]s
        transfer to 127.0.0.1 key %[4]s tls
    }
}
`, port, tlsPort, root, xfrKey, xfrSecret), port)
	harness.WaitDNS(t, p.Addr, "example.test.", 30*time.Second, p.Proc)
	return p, tlsPort, ccert, ckey
}

// dnspki's XoT listener asks for client certificates (mutual TLS) from a
// CA. BIND 9.18 does not present a client certificate for XoT, even with
// key-file and cert-file in its tls block (mutual TLS with a secondary that
// does is TestXoTMutualTLS, between two dnspki): such a BIND secondary is
// refused during the handshake, dnspki's log names it and why, and BIND
// gets nothing.
func TestXoTMutualTLSRefusesBind(t *testing.T) {
	harness.Need(t, "named")
	dir := t.TempDir()
	p, tlsPort, ccert, ckey := startMutualPrimary(t, dir, "BIND secondaries", "bind-secondary.test", 400)

	bdir := t.TempDir()
	bport := harness.FreePort(t)
	mark := p.LogMark()
	b := startNamed(t, bdir, namedOptions(bdir, bport, 0)+fmt.Sprintf(`tls client { key-file "%s"; cert-file "%s"; };
zone "example.test" { type secondary; file "example.test.db"; primaries { 127.0.0.1 port %d key "%s" tls client; }; };
`, ckey, ccert, tlsPort, xfrKey))
	if l := p.WaitLog(mark, `refused TLS client 127\.0\.0\.1:\d+: client certificate refused: no certificate`, 1, 30*time.Second); len(l) == 0 {
		t.Fatalf("dnspki did not log the refused BIND secondary:\n%s", p.Output())
	}
	if l := b.WaitLog(0, `transfer of 'example.test/IN' from 127\.0\.0\.1#\d+: failed`, 1, 30*time.Second); len(l) == 0 {
		t.Fatalf("BIND did not fail its transfer:\n%s", b.Output())
	}
	if _, ok := harness.SOASerial(harness.Addr(bport), "example.test."); ok {
		t.Fatal("BIND got the zone without a client certificate")
	}
}

// Two server blocks (two zones) share one tls:// port: same xot
// configuration, one TLS policy; both zones transfer over it.
func TestXoTSharedListener(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "a.zone"), strings.ReplaceAll(zoneText(500, ""), "example.test.", "a.test."))
	write(t, filepath.Join(dir, "b.zone"), strings.ReplaceAll(zoneText(600, ""), "example.test.", "b.test."))
	port, tlsPort := harness.FreePort(t), harness.FreePort(t)
	block := func(zone, file string) string {
		return fmt.Sprintf(`%[1]s:%[2]d tls://%[1]s:%[3]d {
    bind 127.0.0.1
    xot
    authzone %[1]s {
        file %[4]s
        key %[5]s hmac-sha256 %[6]s
        transfer to 127.0.0.1 key %[5]s tls
    }
}
`, zone, port, tlsPort, file, xfrKey, xfrSecret)
	}
	p := harness.StartDnspki(t, dir, block("a.test", "a.zone")+block("b.test", "b.zone"), port)
	harness.WaitDNS(t, p.Addr, "a.test.", 30*time.Second, p.Proc)
	harness.WaitDNS(t, p.Addr, "b.test.", 30*time.Second, p.Proc)
	pin := spkiPin(harness.ParseCerts(t, mustRead(t, filepath.Join(dir, "state", "tls", "xot.crt")))[0])
	for zone, serial := range map[string]uint32{"a.test": 500, "b.test": 600} {
		port := harness.FreePort(t)
		s := harness.StartDnspki(t, t.TempDir(), fmt.Sprintf(`%[1]s:%[2]d {
    bind 127.0.0.1
    authzone %[1]s {
        primary 127.0.0.1:%[3]d key %[4]s tls-spki %[6]s
        key %[4]s hmac-sha256 %[5]s
    }
}
`, zone, port, tlsPort, xfrKey, xfrSecret, pin), port)
		harness.WaitServes(t, s.Addr, zone+".", serial, 30*time.Second, s.Proc)
	}
}
