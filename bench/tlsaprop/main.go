// Command tlsaprop measures how long dnspki's tlsa plugin takes from a
// certificate file change to the new TLSA record being served: a staged next
// key written (atomic rename), and a renewal (certificate and key replaced).
// It starts its own dnspki on a free loopback port with a copy of a zone
// (the bench zone if it exists) and prints percentiles.
//
//	go run ./bench/tlsaprop -n 40
package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"flag"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/miekg/dns"
)

const smallZone = `$ORIGIN bench.test.
$TTL 3600
@ IN SOA ns1 hostmaster 1 3600 600 86400 60
  IN NS ns1
ns1 IN A 127.0.0.1
www1 IN A 127.0.0.1
`

func main() {
	n := flag.Int("n", 40, "changes of each kind")
	bin := flag.String("bin", "", "dnspki binary (default: build ./cmd/dnspki)")
	zoneFile := flag.String("zone", "/tmp/dns-bench/data/bench.test.zone", "zone file of bench.test (bench/zone.sh); a small zone when missing")
	flag.Parse()
	dir, err := os.MkdirTemp("", "tlsaprop-")
	check(err)
	defer os.RemoveAll(dir)
	if *bin == "" {
		*bin = filepath.Join(dir, "dnspki")
		out, err := exec.Command("go", "build", "-o", *bin, "./cmd/dnspki").CombinedOutput()
		if err != nil {
			fail("go build ./cmd/dnspki (run from the repository root): %v\n%s", err, out)
		}
	}
	zone, err := os.ReadFile(*zoneFile)
	if err != nil {
		zone = []byte(smallZone)
		*zoneFile = "(built-in, 4 records)"
	}
	check(os.WriteFile(filepath.Join(dir, "db.zone"), zone, 0o644))
	certs := filepath.Join(dir, "certs")
	key := newKey()
	writeCert(certs, key)
	port := freePort()
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	corefile := fmt.Sprintf(`bench.test:%d {
    bind 127.0.0.1
    authzone bench.test {
        file db.zone
    }
    tlsa bench.test {
        cert www certs {
            service 443/tcp www1
            ttl 60
        }
    }
}
`, port)
	check(os.WriteFile(filepath.Join(dir, "Corefile"), []byte(corefile), 0o644))
	cmd := exec.Command(*bin, "-conf", "Corefile")
	cmd.Dir = dir
	logPath = filepath.Join(dir, "dnspki.log")
	logf, _ := os.Create(logPath)
	cmd.Stdout, cmd.Stderr = logf, logf
	check(cmd.Start())
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	deadline := time.Now().Add(30 * time.Second)
	for !has(addr, digest(key)) {
		if time.Now().After(deadline) {
			out, _ := os.ReadFile(filepath.Join(dir, "dnspki.log"))
			fail("dnspki did not serve the TLSA record:\n%s", out)
		}
		time.Sleep(50 * time.Millisecond)
	}
	fmt.Printf("zone %s, %d changes of each kind, dnspki %s\n", *zoneFile, *n, *bin)

	var staged, renewed []time.Duration
	for i := 0; i < *n; i++ {
		next := newKey()
		t0 := time.Now()
		atomicWrite(filepath.Join(certs, "privkey.next.pem"), keyPEM(next))
		staged = append(staged, waitFor(addr, digest(next), t0))
		time.Sleep(100 * time.Millisecond)
		t0 = time.Now()
		writeCert(certs, next) // renewal with the staged key; nothing new to publish
		k2 := newKey()
		t0 = time.Now()
		writeCert(certs, k2) // renewal with a key never staged
		renewed = append(renewed, waitFor(addr, digest(k2), t0))
		time.Sleep(100 * time.Millisecond)
	}
	report("next key staged -> its 3 1 1 served", staged)
	report("certificate renewed -> its 3 1 1 served", renewed)
}

func report(what string, d []time.Duration) {
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	p := func(q float64) time.Duration { return d[int(q*float64(len(d)-1))].Round(time.Millisecond) }
	fmt.Printf("%-45s n=%d p50=%s p90=%s max=%s\n", what, len(d), p(0.5), p(0.9), d[len(d)-1].Round(time.Millisecond))
}

var logPath string

func waitFor(addr, want string, t0 time.Time) time.Duration {
	deadline := t0.Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if has(addr, want) {
			return time.Since(t0)
		}
		time.Sleep(2 * time.Millisecond)
	}
	out, _ := os.ReadFile(logPath)
	fail("%s not served within 20 s\n%s", want, out)
	return 0
}

func has(addr, want string) bool {
	m := new(dns.Msg)
	m.SetQuestion("_443._tcp.www1.bench.test.", dns.TypeTLSA)
	m.SetEdns0(4096, false) // retiring digests make the RRset larger than 512 bytes
	r, err := dns.Exchange(m, addr)
	if err != nil {
		return false
	}
	for _, rr := range r.Answer {
		if t, ok := rr.(*dns.TLSA); ok && strings.EqualFold(t.Certificate, want) {
			return true
		}
	}
	return false
}

func newKey() *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	check(err)
	return k
}

func digest(k *ecdsa.PrivateKey) string {
	der, _ := x509.MarshalPKIXPublicKey(k.Public())
	s := sha256.Sum256(der)
	return hex.EncodeToString(s[:])
}

func keyPEM(k *ecdsa.PrivateKey) []byte {
	der, _ := x509.MarshalPKCS8PrivateKey(k)
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// writeCert writes a self-signed certificate for k and k (key first, then
// the certificate, each atomically, as an ACME client does).
func writeCert(dir string, k *ecdsa.PrivateKey) {
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "www1.bench.test"},
		DNSNames: []string{"www1.bench.test"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(90 * 24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, k.Public(), k)
	check(err)
	check(os.MkdirAll(dir, 0o755))
	atomicWrite(filepath.Join(dir, "privkey.pem"), keyPEM(k))
	atomicWrite(filepath.Join(dir, "fullchain.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

func atomicWrite(p string, data []byte) {
	check(os.WriteFile(p+".tmp", data, 0o600))
	check(os.Rename(p+".tmp", p))
}

func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	check(err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func check(err error) {
	if err != nil {
		fail("%v", err)
	}
}

func fail(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "tlsaprop: "+format+"\n", a...)
	os.Exit(1)
}
