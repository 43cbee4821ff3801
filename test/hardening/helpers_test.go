// Package hardening tests DNS Cookies (plugin/cookie) and response rate
// limiting (plugin/rrl) from outside, with real peers: dig and kdig as
// cookie clients, BIND and unbound as resolvers in front of dnspki while a
// spoofed-source flood is rate limited.
package hardening

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/dnspki/dnspki/test/harness"
)

const zone = "example.test."

// server is the hardened example (corefile-examples/hardened.Corefile) on
// free ports, with its metrics endpoint.
type server struct {
	*harness.Server
	metrics string // http://127.0.0.1:PORT/metrics
}

func startHardened(t *testing.T) *server {
	t.Helper()
	mport := harness.FreePort(t)
	s := harness.StartExample(t, "hardened.Corefile", zone, map[string]string{"127.0.0.1:9153": fmt.Sprintf("127.0.0.1:%d", mport)})
	return &server{Server: s, metrics: fmt.Sprintf("http://127.0.0.1:%d/metrics", mport)}
}

// metric is the current value of a dnspki metric (summed over the samples
// whose labels include the given label=value pairs).
func (s *server) metric(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	m := map[string]string{}
	for i := 0; i+1 < len(labels); i += 2 {
		m[labels[i]] = labels[i+1]
	}
	return harness.Metric(t, s.metrics, name, m)
}

// waitMetricAbove waits until the metric exceeds v.
func (s *server) waitMetricAbove(t *testing.T, v float64, name string, labels ...string) float64 {
	t.Helper()
	var got float64
	harness.Eventually(t, 60*time.Second, fmt.Sprintf("%s%v above %v", name, labels, v), func() bool {
		got = s.metric(t, name, labels...)
		return got > v
	})
	return got
}

// flood sends queries to addr from many source addresses of 127.0.0.0/24
// (every address but 127.0.0.1, which the legitimate clients use: the
// flood forges their network, as an attacker who wants their answers
// limited would), at about perSecond queries a second, until stopped. It
// never reads the answers. name gives the i-th query's name.
type flood struct {
	sent   atomic.Int64
	cancel context.CancelFunc
	done   sync.WaitGroup
}

func startFlood(t *testing.T, addr string, perSecond int, name func(i int) string, qtype uint16) *flood {
	t.Helper()
	var conns []*net.UDPConn
	raddr, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	for host := 2; host <= 41; host++ {
		c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, byte(host))})
		if err != nil {
			t.Fatalf("a flood source 127.0.0.%d: %v", host, err)
		}
		c.SetReadBuffer(4096) // the answers are not read: let the kernel drop them
		conns = append(conns, c)
	}
	// Bounded: a test that forgets to stop its flood stops it after 5 minutes.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	f := &flood{cancel: cancel}
	f.done.Add(1)
	go func() {
		defer f.done.Done()
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		per := max(perSecond/100, 1)
		i := 0
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			for range per {
				m := new(dns.Msg)
				m.SetQuestion(name(i), qtype)
				m.Id = uint16(i)
				b, _ := m.Pack()
				conns[i%len(conns)].WriteToUDP(b, raddr)
				i++
				f.sent.Add(1)
			}
		}
	}()
	t.Cleanup(f.stop)
	return f
}

func (f *flood) stop() {
	f.cancel()
	f.done.Wait()
}

// randomName is a name under the zone that does not exist.
func randomName(prefix string) string {
	const letters = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 12)
	for i := range b {
		b[i] = letters[rand.IntN(len(letters))]
	}
	return prefix + string(b) + "." + zone
}

// cookieOf returns the COOKIE option of m (hex, lower case), "" if none.
func cookieOf(m *dns.Msg) string {
	if o := m.IsEdns0(); o != nil {
		for _, e := range o.Option {
			if c, ok := e.(*dns.EDNS0_COOKIE); ok {
				return strings.ToLower(c.Cookie)
			}
		}
	}
	return ""
}

// udpFrom asks m over UDP from 127.0.0.1 with a short timeout, once (no
// retry, no TCP fallback): nil, nil when no answer came.
func udpFrom(addr string, m *dns.Msg) (*dns.Msg, error) {
	c := &dns.Client{Timeout: 500 * time.Millisecond}
	r, _, err := c.Exchange(m, addr)
	if err != nil {
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			return nil, nil
		}
		return nil, err
	}
	return r, nil
}
