package harness

import (
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// TSIGKey is a TSIG key as the peer servers' configurations take it.
type TSIGKey struct {
	Name      string // fully qualified, e.g. "xfr-key."
	Algorithm string // hmac-sha256, hmac-md5, ...
	Secret    string // base64
}

// PeerZone is one zone of a peer server (Knot, BIND, NSD). A zone with
// Primary set is a secondary of that address; otherwise it is a primary
// served from File.
type PeerZone struct {
	Name string // zone origin, e.g. "example.test."

	// Primary role.
	File      string   // zone file content
	Transfer  *TSIGKey // transfers allowed with this key (nil: to anyone)
	Notify    []string // host:port of the secondaries to notify
	NotifyKey *TSIGKey
	Update    *TSIGKey // RFC 2136 updates allowed with this key (nil: none)

	// Secondary role.
	Primary    string   // host:port of the primary
	PrimaryKey *TSIGKey // TSIG key for SOA queries, transfers and NOTIFY
	// PrimaryVia is the local address the secondary sends its SOA queries
	// and transfer requests from ("" the kernel's choice, 127.0.0.1), for a
	// primary that tells clients apart by source address (split horizon).
	// Knot and BIND only.
	PrimaryVia string
}

func (z PeerZone) secondary() bool { return z.Primary != "" }

// Peer is a running peer DNS server.
type Peer struct {
	*Proc
	Kind string // "knot", "bind", "nsd"
	Dir  string // its directory (configuration, state, zone files)
	Port int
	Addr string // 127.0.0.1:Port
}

// keys returns the distinct keys zones use, in order.
func peerKeys(zones []PeerZone) []*TSIGKey {
	var out []*TSIGKey
	seen := map[string]bool{}
	for _, z := range zones {
		for _, k := range []*TSIGKey{z.Transfer, z.NotifyKey, z.Update, z.PrimaryKey} {
			if k != nil && !seen[k.Name] {
				seen[k.Name] = true
				out = append(out, k)
			}
		}
	}
	return out
}

func splitHostPort(t testing.TB, hp string) (string, int) {
	t.Helper()
	h, p, err := net.SplitHostPort(hp)
	if err != nil {
		t.Fatalf("address %q: %v", hp, err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatalf("address %q: %v", hp, err)
	}
	return h, n
}

func writeFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func zoneFileName(dir string, z PeerZone) string {
	return filepath.Join(dir, strings.TrimSuffix(z.Name, ".")+".zone")
}

// WaitServes waits until addr answers the zone's SOA with NOERROR and a
// serial at least min (RFC 1982), and returns the serial.
func WaitServes(t testing.TB, addr, zone string, min uint32, timeout time.Duration, p *Proc) uint32 {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if p != nil && p.Exited() {
			t.Fatalf("%s exited:\n%s", p.Name, p.Output())
		}
		if s, ok := SOASerial(addr, zone); ok && (s == min || serialGE(s, min)) {
			return s
		}
		if time.Now().After(deadline) {
			out := ""
			if p != nil {
				out = p.Output()
			}
			t.Fatalf("%s did not serve %s with serial >= %d within %s\n%s", addr, zone, min, timeout, out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func serialGE(a, b uint32) bool { return a == b || (a > b && a-b < 1<<31) || (a < b && b-a > 1<<31) }

// SOASerial asks addr for the zone's SOA over UDP (one try, 1 s).
func SOASerial(addr, zone string) (uint32, bool) {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(zone), dns.TypeSOA)
	c := &dns.Client{Timeout: time.Second}
	r, _, err := c.Exchange(m, addr)
	if err != nil || r.Rcode != dns.RcodeSuccess {
		return 0, false
	}
	for _, rr := range r.Answer {
		if s, ok := rr.(*dns.SOA); ok {
			return s.Serial, true
		}
	}
	return 0, false
}

// LogLines returns the lines of the process output that match re.
func (p *Proc) LogLines(re string) []string {
	rx := regexp.MustCompile(re)
	var out []string
	for _, l := range strings.Split(p.Output(), "\n") {
		if rx.MatchString(l) {
			out = append(out, l)
		}
	}
	return out
}

// LogMark returns the current length of the output, for LogSince.
func (p *Proc) LogMark() int { return len(p.Output()) }

// LogSince returns the lines printed after mark that match re.
func (p *Proc) LogSince(mark int, re string) []string {
	out := p.Output()
	if mark > len(out) {
		mark = len(out)
	}
	rx := regexp.MustCompile(re)
	var lines []string
	for _, l := range strings.Split(out[mark:], "\n") {
		if rx.MatchString(l) {
			lines = append(lines, l)
		}
	}
	return lines
}

func fmtAddrs(addrs []string, f func(host string, port int) string, t testing.TB) string {
	var b strings.Builder
	for _, a := range addrs {
		h, p := splitHostPort(t, a)
		b.WriteString(f(h, p))
	}
	return b.String()
}

// WaitLog waits up to timeout until at least n lines printed after mark
// match re, and returns the matching lines (fewer if it timed out). A server
// often logs an event just after it becomes visible on the wire.
func (p *Proc) WaitLog(mark int, re string, n int, timeout time.Duration) []string {
	deadline := time.Now().Add(timeout)
	for {
		l := p.LogSince(mark, re)
		if len(l) >= n || time.Now().After(deadline) {
			return l
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Restart starts the peer again (after Stop or Kill, or stopping it first)
// with the same command, configuration, directory and port: its state (a
// primary's journal, a secondary's transferred zones) is kept, as when an
// operator restarts the server.
func (p *Peer) Restart(t testing.TB) {
	t.Helper()
	if !p.Exited() {
		p.Stop()
	}
	p.Proc = Start(t, p.Proc.Name, p.Cmd.Args, StartOpts{Dir: p.Cmd.Dir})
}
