package xotls

import (
	"crypto/tls"
	"fmt"
	"net"
)

// Server is the TLS profile of a primary's XoT listener: its certificate
// and, for mutual TLS, who its clients must be.
type Server struct {
	Cert tls.Certificate
	// Clients: with pins or a CA, every client must present a matching
	// certificate (mutual TLS, RFC 9103 §9.3.3); empty: none is asked.
	Clients Auth
	// Refused is told of every client refused during the handshake, with
	// its address and the reason (the log line and metric of the caller).
	Refused func(peer net.Addr, reason error)
}

// Config returns the listener's TLS configuration. Each connection gets
// its own copy (GetConfigForClient) so that a refusal can name the peer.
func (s *Server) Config() *tls.Config {
	base := &tls.Config{
		MinVersion:   tls.VersionTLS13,
		NextProtos:   []string{ALPN},
		Certificates: []tls.Certificate{s.Cert},
	}
	if s.Clients.Strict() {
		// Asked, verified here: a client without one is refused with a
		// reason, not by the TLS stack without a word.
		base.ClientAuth = tls.RequestClientCert
	}
	base.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		peer := hello.Conn.RemoteAddr()
		if !offers(hello.SupportedProtos, ALPN) {
			err := fmt.Errorf("the client does not offer ALPN %q (RFC 9103 §7.1)", ALPN)
			s.refused(peer, err)
			return nil, err
		}
		c := base.Clone()
		c.GetConfigForClient = nil
		c.VerifyConnection = func(cs tls.ConnectionState) error {
			if err := s.Clients.verify(cs, false); err != nil {
				err = fmt.Errorf("client certificate refused: %w", err)
				s.refused(peer, err)
				return err
			}
			return nil
		}
		return c, nil
	}
	return base
}

func (s *Server) refused(peer net.Addr, err error) {
	if s.Refused != nil {
		s.Refused(peer, err)
	}
}

func offers(protos []string, p string) bool {
	for _, x := range protos {
		if x == p {
			return true
		}
	}
	return false
}
