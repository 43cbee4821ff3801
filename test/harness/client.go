package harness

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// Client sends DNS messages to a server from a chosen local address (split
// horizon tells clients apart by it: 127.0.0.1 and 127.0.0.2 are two
// clients on one loopback).
type Client struct {
	Src    string // local address, e.g. "127.0.0.2" or "::1"
	Server string // host:port
}

// NewClient is a client at src of the server on port of 127.0.0.1 (of ::1
// when src is IPv6).
func NewClient(src string, port int) Client {
	host := "127.0.0.1"
	if strings.Contains(src, ":") {
		host = "::1"
	}
	return Client{Src: src, Server: net.JoinHostPort(host, fmt.Sprint(port))}
}

// Dialer dials from the client's address.
func (c Client) Dialer(tcp bool) *net.Dialer {
	ip := net.ParseIP(c.Src)
	d := &net.Dialer{Timeout: 3 * time.Second}
	if tcp {
		d.LocalAddr = &net.TCPAddr{IP: ip}
	} else {
		d.LocalAddr = &net.UDPAddr{IP: ip}
	}
	return d
}

// DNSClient is a miekg/dns client sending from the client's address.
func (c Client) DNSClient(tcp bool) *dns.Client {
	cl := &dns.Client{Timeout: 3 * time.Second, Dialer: c.Dialer(tcp)}
	if tcp {
		cl.Net = "tcp"
	}
	return cl
}

// Exchange sends m unsigned (retrying twice on errors) and returns the
// answer.
func (c Client) Exchange(m *dns.Msg, tcp bool) (*dns.Msg, error) {
	cl := c.DNSClient(tcp)
	var err error
	for i := 0; i < 3; i++ {
		var r *dns.Msg
		r, _, err = cl.Exchange(m, c.Server)
		if err == nil {
			return r, nil
		}
	}
	return nil, err
}

// Raw sends the bytes of one message (over TCP with its length prefix) and
// returns the bytes of the answer: for messages no DNS library would build
// (two TSIG records, a truncated MAC, a replayed capture). UDP is retried
// twice when no answer comes.
func (c Client) Raw(b []byte, tcp bool) ([]byte, error) {
	var err error
	for i := 0; i < 3; i++ {
		var out []byte
		out, err = c.rawOnce(b, tcp)
		if err == nil || tcp {
			return out, err
		}
	}
	return nil, err
}

func (c Client) rawOnce(b []byte, tcp bool) ([]byte, error) {
	network := "udp"
	if tcp {
		network = "tcp"
	}
	conn, err := c.Dialer(tcp).Dial(network, c.Server)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(3 * time.Second))
	if tcp {
		b = append([]byte{byte(len(b) >> 8), byte(len(b))}, b...)
	}
	if _, err := conn.Write(b); err != nil {
		return nil, err
	}
	if !tcp {
		buf := make([]byte, 65535)
		n, err := conn.Read(buf)
		if err != nil {
			return nil, err
		}
		return buf[:n], nil
	}
	var l [2]byte
	if _, err := io.ReadFull(conn, l[:]); err != nil {
		return nil, err
	}
	out := make([]byte, binary.BigEndian.Uint16(l[:]))
	if _, err := io.ReadFull(conn, out); err != nil {
		return nil, err
	}
	return out, nil
}

// Transfer sends the AXFR or IXFR request m over TCP from the client's
// address, signed with k (nil: unsigned), and returns every record of the
// answer, or the error (a refusal is "bad xfr rcode").
func (c Client) Transfer(m *dns.Msg, k *TSIGKey) ([]dns.RR, error) {
	conn, err := c.Dialer(true).Dial("tcp", c.Server)
	if err != nil {
		return nil, err
	}
	tr := &dns.Transfer{Conn: &dns.Conn{Conn: conn}, ReadTimeout: 10 * time.Second}
	defer tr.Close()
	if k != nil {
		tr.TsigSecret = map[string]string{k.Name: k.Secret}
		m.SetTsig(k.Name, dns.HmacSHA256, 300, time.Now().Unix())
	}
	env, err := tr.In(m, c.Server)
	if err != nil {
		return nil, err
	}
	var out []dns.RR
	for e := range env {
		if e.Error != nil {
			return out, e.Error
		}
		out = append(out, e.RR...)
	}
	return out, nil
}
