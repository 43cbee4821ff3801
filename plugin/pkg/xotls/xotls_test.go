package xotls

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// testCA makes a CA and issues leaf certificates.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newCA(t *testing.T) *testCA {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(c)
	return &testCA{cert: c, key: key, pool: pool}
}

func (ca *testCA) issue(t *testing.T, name string, usage x509.ExtKeyUsage) tls.Certificate {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), DNSNames: []string{name},
		ExtKeyUsage: []x509.ExtKeyUsage{usage}, KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// handshake connects a client with cfg to a server with srv over loopback
// and returns the client's and the server's handshake errors and the
// refusals the server reported.
func handshake(t *testing.T, srv *Server, cfg *tls.Config) (cerr, serr error, refused []string) {
	t.Helper()
	var mu sync.Mutex
	srv.Refused = func(peer net.Addr, reason error) {
		mu.Lock()
		refused = append(refused, peer.String()+": "+reason.Error())
		mu.Unlock()
	}
	l, err := tls.Listen("tcp", "127.0.0.1:0", srv.Config())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	done := make(chan error, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			done <- err
			return
		}
		defer c.Close()
		done <- c.(*tls.Conn).Handshake()
	}()
	c, cerr := tls.Dial("tcp", l.Addr().String(), cfg)
	if cerr == nil {
		// TLS 1.3: a client certificate refused shows at the first read.
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, rerr := c.Read(make([]byte, 1))
		if rerr != nil && !strings.Contains(rerr.Error(), "EOF") && !strings.Contains(rerr.Error(), "timeout") {
			cerr = rerr
		}
		c.Close()
	}
	serr = <-done
	mu.Lock()
	defer mu.Unlock()
	return cerr, serr, refused
}

func TestProfiles(t *testing.T) {
	dir := t.TempDir()
	self, _, created, err := SelfSigned(dir, []string{"primary.test"})
	if err != nil || !created {
		t.Fatalf("self-signed: %v %v", created, err)
	}
	again, _, created, err := SelfSigned(dir, []string{"primary.test"})
	if err != nil || created || string(again.Certificate[0]) != string(self.Certificate[0]) {
		t.Fatalf("second start: the certificate must be reused: %v %v", created, err)
	}
	selfPin, _ := LeafPin(self)
	ca := newCA(t)
	caServer := ca.issue(t, "primary.test", x509.ExtKeyUsageServerAuth)
	caClient := ca.issue(t, "secondary.test", x509.ExtKeyUsageClientAuth)
	otherCA := newCA(t)
	otherClient := otherCA.issue(t, "intruder.test", x509.ExtKeyUsageClientAuth)
	wrongPin := strings.Repeat("A", 43) + "="

	for _, tc := range []struct {
		name     string
		srv      Server
		cli      Client
		ok       bool
		cliWhy   string // in the client's error
		refusedW string // in the server's refusal
	}{
		{name: "opportunistic", srv: Server{Cert: self}, cli: Client{}, ok: true},
		{name: "pinned", srv: Server{Cert: self}, cli: Client{Auth: Auth{Pins: []string{selfPin}}}, ok: true},
		{name: "wrong pin", srv: Server{Cert: self}, cli: Client{Auth: Auth{Pins: []string{wrongPin}}}, cliWhy: "is not pinned"},
		{name: "CA and name", srv: Server{Cert: caServer}, cli: Client{Auth: Auth{CAs: ca.pool, Name: "primary.test"}}, ok: true},
		{name: "CA, other name", srv: Server{Cert: caServer}, cli: Client{Auth: Auth{CAs: ca.pool, Name: "other.test"}}, cliWhy: "not other.test"},
		{name: "self-signed, CA asked", srv: Server{Cert: self}, cli: Client{Auth: Auth{CAs: ca.pool, Name: "primary.test"}}, cliWhy: "unknown authority"},
		{name: "mutual", srv: Server{Cert: self, Clients: Auth{CAs: ca.pool}}, cli: Client{Auth: Auth{Pins: []string{selfPin}}, Cert: &caClient}, ok: true},
		{name: "mutual, no client certificate", srv: Server{Cert: self, Clients: Auth{CAs: ca.pool}}, cli: Client{}, refusedW: "client certificate refused: no certificate"},
		{name: "mutual, other CA", srv: Server{Cert: self, Clients: Auth{CAs: ca.pool}}, cli: Client{Cert: &otherClient}, refusedW: "client certificate refused: certificate \"CN=intruder.test\""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := tc.srv
			cerr, serr, refused := handshake(t, &srv, tc.cli.Config())
			if tc.ok {
				if cerr != nil || serr != nil || len(refused) > 0 {
					t.Fatalf("client %v, server %v, refused %v", cerr, serr, refused)
				}
				return
			}
			if tc.cliWhy != "" && (cerr == nil || !strings.Contains(cerr.Error(), tc.cliWhy)) {
				t.Fatalf("client error %v, want %q", cerr, tc.cliWhy)
			}
			if tc.refusedW != "" {
				if serr == nil || len(refused) != 1 || !strings.Contains(refused[0], tc.refusedW) || !strings.HasPrefix(refused[0], "127.0.0.1:") {
					t.Fatalf("server error %v, refused %q, want %q naming the peer", serr, refused, tc.refusedW)
				}
			}
		})
	}

	// A client without ALPN "dot" is refused, with its address.
	srv := Server{Cert: self}
	cfg := (&Client{}).Config()
	cfg.NextProtos = []string{"h2"}
	cfg.VerifyConnection = nil
	_, serr, refused := handshake(t, &srv, cfg)
	if serr == nil || len(refused) != 1 || !strings.Contains(refused[0], `does not offer ALPN "dot"`) {
		t.Fatalf("no ALPN dot: server %v, refused %v", serr, refused)
	}
}

func TestParsePin(t *testing.T) {
	if _, err := ParsePin("not base64!"); err == nil {
		t.Fatal("bad pin accepted")
	}
	if _, err := ParsePin("AAAA"); err == nil {
		t.Fatal("short pin accepted")
	}
	if _, err := ParsePin(strings.Repeat("A", 43) + "="); err != nil {
		t.Fatal(err)
	}
}
