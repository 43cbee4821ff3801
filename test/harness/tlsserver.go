package harness

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TLSServer is a TLS server (Go crypto/tls) on a free loopback port that
// serves the certificate and key read from files, like a web or mail server:
// Reload reads them again, the way a deploy hook reloads a server after a
// renewal. An SMTP server speaks just enough ESMTP for STARTTLS (RFC 3207).
type TLSServer struct {
	Addr     string
	Port     int
	CertFile string
	KeyFile  string
	smtp     bool
	ln       net.Listener
	cert     atomic.Pointer[tls.Certificate]
	wg       sync.WaitGroup
}

// StartTLSServer serves TLS directly (a TLS handshake, then it closes).
func StartTLSServer(t testing.TB, certFile, keyFile string) *TLSServer {
	return startTLS(t, certFile, keyFile, false)
}

// StartSMTPServer is a minimal ESMTP responder that offers STARTTLS.
func StartSMTPServer(t testing.TB, certFile, keyFile string) *TLSServer {
	return startTLS(t, certFile, keyFile, true)
}

func startTLS(t testing.TB, certFile, keyFile string, smtp bool) *TLSServer {
	t.Helper()
	s := &TLSServer{CertFile: certFile, KeyFile: keyFile, smtp: smtp}
	s.Reload(t)
	// In this process: listen on port 0 and read the port back.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	s.ln, s.Port, s.Addr = ln, port, Addr(port)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.wg.Add(1)
			go func() { defer s.wg.Done(); s.serve(c) }()
		}
	}()
	t.Cleanup(func() { ln.Close(); s.wg.Wait() })
	return s
}

// Reload reads the certificate and key files again.
func (s *TLSServer) Reload(t testing.TB) {
	t.Helper()
	c, err := tls.LoadX509KeyPair(s.CertFile, s.KeyFile)
	if err != nil {
		t.Fatalf("TLS server: loading %s and %s: %v", s.CertFile, s.KeyFile, err)
	}
	c.Leaf, _ = x509.ParseCertificate(c.Certificate[0])
	s.cert.Store(&c)
}

// Leaf is the certificate served now.
func (s *TLSServer) Leaf() *x509.Certificate { return s.cert.Load().Leaf }

func (s *TLSServer) config() *tls.Config {
	return &tls.Config{GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return s.cert.Load(), nil }}
}

func (s *TLSServer) serve(c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	if !s.smtp {
		tc := tls.Server(c, s.config())
		if tc.Handshake() == nil {
			// Answer one line so a client can see data flow, then close.
			tc.Write([]byte("hello\n"))
		}
		tc.Close()
		return
	}
	var conn net.Conn = c
	r := bufio.NewReader(conn)
	say := func(format string, a ...any) { fmt.Fprintf(conn, format+"\r\n", a...) }
	say("220 mail.example.test ESMTP dnspki-test")
	tlsOn := false
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		cmd := strings.ToUpper(strings.TrimSpace(line))
		switch {
		case strings.HasPrefix(cmd, "EHLO"):
			if tlsOn {
				say("250 mail.example.test")
			} else {
				say("250-mail.example.test")
				say("250 STARTTLS")
			}
		case strings.HasPrefix(cmd, "HELO"):
			say("250 mail.example.test")
		case cmd == "STARTTLS" && !tlsOn:
			say("220 2.0.0 Ready to start TLS")
			tc := tls.Server(c, s.config())
			if tc.Handshake() != nil {
				return
			}
			conn, r, tlsOn = tc, bufio.NewReader(tc), true
		case cmd == "QUIT":
			say("221 2.0.0 Bye")
			return
		case cmd == "NOOP" || cmd == "RSET":
			say("250 2.0.0 OK")
		default:
			say("502 5.5.2 Not implemented")
		}
	}
}

// OpenSSLDANE connects to addr with openssl s_client and verifies the
// server's certificate with DANE against TLSA record data ("3 1 1 <hex>")
// for domain (RFC 7671 name checks as openssl does them); starttls is "" or
// an s_client -starttls protocol such as "smtp". It reports whether openssl
// verified the peer by a TLSA record, with openssl's output.
func OpenSSLDANE(t testing.TB, addr, domain string, rrdata []string, starttls string) (bool, string) {
	t.Helper()
	argv := []string{"openssl", "s_client", "-connect", addr, "-servername", domain, "-brief", "-verify_return_error",
		"-dane_tlsa_domain", domain}
	for _, r := range rrdata {
		argv = append(argv, "-dane_tlsa_rrdata", r)
	}
	if starttls != "" {
		argv = append(argv, "-starttls", starttls)
	}
	out, err := Run(t, 20*time.Second, "", argv...)
	ok := err == nil && strings.Contains(out, "Verification: OK") && strings.Contains(out, "matched")
	return ok, strings.Join(argv, " ") + "\n" + out
}
