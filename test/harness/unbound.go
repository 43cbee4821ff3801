package harness

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// UnboundConfig configures a validating unbound started by StartUnbound.
type UnboundConfig struct {
	// TrustAnchorFiles are unbound trust-anchor-file paths (DNSKEY or DS
	// records in zone file format, such as onlinesign's
	// <keydir>/<zone>.trust-anchor).
	TrustAnchorFiles []string
	// Stubs maps a zone to the authoritative servers unbound asks for it
	// ("127.0.0.1:port").
	Stubs map[string][]string
	// AggressiveNSEC turns on RFC 8198 aggressive use of NSEC (default on:
	// set DisableAggressiveNSEC to turn it off).
	DisableAggressiveNSEC bool
	// Extra lines for the server: clause.
	Extra []string
}

// Unbound is a running unbound.
type Unbound struct {
	*Proc
	Addr    string // 127.0.0.1:port
	Port    int
	Dir     string
	Conf    string
	LogFile string
	t       testing.TB
}

// StartUnbound runs a validating recursive unbound on a free loopback port:
// module-config "validator iterator", the given trust anchors, stub zones to
// the given servers (do-not-query-localhost: no), aggressive NSEC on, no
// chroot, no user switch, its log in a temporary directory, remote control
// on a free port without certificates. It waits until unbound answers.
func StartUnbound(t testing.TB, cfg UnboundConfig) *Unbound {
	t.Helper()
	bins := Need(t, "unbound", "unbound-control", "unbound-checkconf")
	dir := t.TempDir()
	port, ctl := FreePort(t), FreePort(t)
	u := &Unbound{Addr: Addr(port), Port: port, Dir: dir, Conf: filepath.Join(dir, "unbound.conf"), LogFile: filepath.Join(dir, "unbound.log"), t: t}
	conf := unboundConf(cfg, u, ctl)
	if err := os.WriteFile(u.Conf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := Run(t, 30*time.Second, dir, bins[2], u.Conf); err != nil {
		t.Fatalf("unbound-checkconf: %v\n%s\n%s", err, out, conf)
	}
	u.Proc = Start(t, "unbound", []string{bins[0], "-d", "-c", u.Conf}, StartOpts{Dir: dir})
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := os.ReadFile(u.LogFile)
			s := string(out)
			if len(s) > 20000 {
				s = "...\n" + s[len(s)-20000:]
			}
			t.Logf("---- unbound log ----\n%s", s)
		}
	})
	u.waitAnswer()
	return u
}

// waitAnswer waits until unbound answers (fails the test if it exits or
// does not answer within 20 seconds).
func (u *Unbound) waitAnswer() {
	t := u.t
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if u.Exited() {
			out, _ := os.ReadFile(u.LogFile)
			t.Fatalf("unbound exited:\n%s\n%s", u.Output(), out)
		}
		m := new(dns.Msg)
		m.SetQuestion("localhost.", dns.TypeA)
		c := &dns.Client{Timeout: 500 * time.Millisecond}
		if _, _, err := c.Exchange(m, u.Addr); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("unbound did not answer on %s", u.Addr)
}

// unboundConf is the configuration of u: the server (validating, the
// stub zones' top-level domains not answered locally), remote control on
// port ctl, the stub zones.
func unboundConf(cfg UnboundConfig, u *Unbound, ctl int) string {
	port, dir := u.Port, u.Dir
	aggr := "yes"
	if cfg.DisableAggressiveNSEC {
		aggr = "no"
	}
	lo, hi := portRange()
	var b strings.Builder
	fmt.Fprintf(&b, `server:
    interface: 127.0.0.1
    port: %d
    do-ip6: no
    do-not-query-localhost: no
    access-control: 127.0.0.0/8 allow
    chroot: ""
    username: ""
    directory: %q
    pidfile: %q
    logfile: %q
    use-syslog: no
    verbosity: 1
    val-log-level: 2
    log-servfail: yes
    module-config: "validator iterator"
    aggressive-nsec: %s
    qname-minimisation: no
    num-threads: 1
    so-reuseport: no
    prefetch: no
    prefetch-key: no
    serve-expired: no
    harden-algo-downgrade: yes
    minimal-responses: no
    # unbound picks its own random source ports: not among those FreePort
    # reserves for servers (ports.go).
    outgoing-port-avoid: %d-%d
`, port, dir, filepath.Join(dir, "unbound.pid"), u.LogFile, aggr, lo, hi)
	// unbound answers special-use names (test., invalid., ...) itself unless
	// told not to: the stub zones' top-level domains get "nodefault".
	tlds := map[string]bool{}
	for z := range cfg.Stubs {
		labels := dns.SplitDomainName(z)
		if len(labels) > 0 {
			tlds[labels[len(labels)-1]] = true
		}
	}
	for tld := range tlds {
		fmt.Fprintf(&b, "    local-zone: %q nodefault\n", tld+".")
	}
	for _, f := range cfg.TrustAnchorFiles {
		fmt.Fprintf(&b, "    trust-anchor-file: %q\n", f)
	}
	for _, l := range cfg.Extra {
		fmt.Fprintf(&b, "    %s\n", l)
	}
	fmt.Fprintf(&b, `remote-control:
    control-enable: yes
    control-interface: 127.0.0.1
    control-port: %d
    control-use-cert: no
`, ctl)
	zones := make([]string, 0, len(cfg.Stubs))
	for z := range cfg.Stubs {
		zones = append(zones, z)
	}
	sort.Strings(zones)
	for _, z := range zones {
		fmt.Fprintf(&b, "stub-zone:\n    name: %q\n", dns.Fqdn(z))
		for _, a := range cfg.Stubs[z] {
			fmt.Fprintf(&b, "    stub-addr: %s\n", strings.Replace(a, ":", "@", 1))
		}
	}
	return b.String()
}

// Control runs unbound-control against this unbound.
func (u *Unbound) Control(args ...string) (string, error) {
	u.t.Helper()
	bin := Need(u.t, "unbound-control")[0]
	return Run(u.t, 30*time.Second, u.Dir, append([]string{bin, "-c", u.Conf}, args...)...)
}

// Resolve asks unbound for name/qtype with RD and AD set (so that the AD
// bit of the answer says whether unbound validated it), over UDP with a TCP
// retry on truncation.
func (u *Unbound) Resolve(name string, qtype uint16) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	m.RecursionDesired = true
	m.AuthenticatedData = true
	m.SetEdns0(1232, false)
	c := &dns.Client{Timeout: 5 * time.Second}
	r, _, err := c.Exchange(m, u.Addr)
	if err == nil && r.Truncated {
		c.Net = "tcp"
		r, _, err = c.Exchange(m, u.Addr)
	}
	return r, err
}

// Log returns unbound's log so far.
func (u *Unbound) Log() string {
	b, _ := os.ReadFile(u.LogFile)
	return string(b)
}
