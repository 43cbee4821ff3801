package hardening

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/dnspki/dnspki/test/harness"
)

// floodRate is the spoofed flood's rate: 25 times the example's limit of
// 20 answers a second, yet light for the machine.
const floodRate = 500

// TestResolversUnderFlood: a flood of queries for random names forges the
// source addresses of the network the resolvers ask from (127.0.0.0/24)
// and saturates its NXDOMAIN bucket of example.test (20 a second, slip 2).
// A plain UDP client there gets most answers dropped or truncated (shown
// first: the flood does limit that network). Real resolvers keep getting
// answers:
//
//   - BIND (named as a resolver forwarding example.test to dnspki) sends
//     DNS Cookies: it learns the server cookie and returns it, and its
//     queries are exempt (counted as such);
//   - unbound 1.17 (Debian 12) sends no cookies: a slipped (truncated)
//     answer makes it ask again over TCP, which is never limited (its TCP
//     queries are counted).
func TestResolversUnderFlood(t *testing.T) {
	s := startHardened(t)
	// infra-keep-probing: a dropped answer (slip 2 drops every other limited
	// one) that also times out on a loaded machine can make unbound mark
	// dnspki as down and answer SERVFAIL at once until it probes again;
	// keep probing, as a resolver facing RRL is advised to.
	u := harness.StartUnbound(t, harness.UnboundConfig{Stubs: map[string][]string{zone: {s.Addr}}, Extra: []string{"infra-keep-probing: yes"}})
	b := startBindResolver(t, s.Addr)

	f := startFlood(t, s.Addr, floodRate, func(int) string { return randomName("flood-") }, dns.TypeA)
	dropped := s.waitMetricAbove(t, 0, "coredns_dnspki_rrl_dropped_total", "category", "nxdomain")
	s.waitMetricAbove(t, 0, "coredns_dnspki_rrl_slipped_total", "category", "nxdomain")
	t.Logf("flood: %d queries sent, %v NXDOMAIN answers dropped so far", f.sent.Load(), dropped)

	// The victim network is limited: a client without cookies, UDP only.
	limited := 0
	for range 20 {
		m := new(dns.Msg)
		m.SetQuestion(randomName("plain-"), dns.TypeA)
		r, err := udpFrom(s.Addr, m)
		if err != nil {
			t.Fatal(err)
		}
		if r == nil || r.Truncated {
			limited++
		}
	}
	if limited == 0 {
		t.Fatal("a plain UDP client in the flooded network got every answer: the flood is not limiting it")
	}
	t.Logf("plain UDP client in the flooded /24: %d of 20 answers dropped or truncated", limited)

	// resolve asks the resolver 20 random names, as a stub resolver does:
	// again when no answer came in its timeout (a resolver whose UDP query
	// was dropped waits for its own retry) or a SERVFAIL came, backing off
	// as a stub does, at most 10 times each. Every name must get dnspki's
	// NXDOMAIN. (On a loaded machine, a dropped answer and a slow retry can
	// make unbound take dnspki for down and answer SERVFAIL at once until
	// its next probe: without the back-off, the tries were spent in
	// milliseconds.)
	resolve := func(name string, ask func(string) (*dns.Msg, error)) (retries int) {
		t.Helper()
		for i := range 20 {
			q := randomName(fmt.Sprintf("%s%d-", name, i))
			wait := 50 * time.Millisecond
			for try := 1; ; try++ {
				r, err := ask(q)
				if err == nil && r.Rcode == dns.RcodeNameError {
					break
				}
				if try == 10 {
					t.Fatalf("%s: %s: no NXDOMAIN after %d tries: %v %v", name, q, try, r, err)
				}
				retries++
				if err == nil { // an answer, not a timeout: back off before asking again
					time.Sleep(wait)
					wait = min(2*wait, 2*time.Second)
				}
			}
		}
		return retries
	}

	tcpBefore := s.metric(t, "coredns_dns_requests_total", "proto", "tcp")
	retries := resolve("unbound", func(q string) (*dns.Msg, error) { return u.Resolve(q, dns.TypeA) })
	tcp := s.metric(t, "coredns_dns_requests_total", "proto", "tcp") - tcpBefore
	if tcp == 0 {
		t.Fatal("unbound's 20 queries were all answered over UDP in the flooded network: it should have been slipped to TCP")
	}
	t.Logf("unbound: 20 of 20 answered (%d client retries), %v of its queries to dnspki over TCP after a slip", retries, tcp)

	validBefore := s.metric(t, "coredns_dnspki_cookie_requests_total", "result", "valid")
	exemptBefore := s.metric(t, "coredns_dnspki_rrl_exempt_total", "reason", "cookie")
	retries = resolve("bind", func(q string) (*dns.Msg, error) { return recursive(b, q) })
	valid := s.metric(t, "coredns_dnspki_cookie_requests_total", "result", "valid") - validBefore
	exempt := s.metric(t, "coredns_dnspki_rrl_exempt_total", "reason", "cookie") - exemptBefore
	if valid < 19 || exempt < 19 {
		t.Fatalf("BIND's 20 queries: %v with a valid server cookie, %v exempt from the limit; want at least 19 (all but its first)", valid, exempt)
	}
	t.Logf("BIND: 20 of 20 answered (%d client retries), %v queries with a valid server cookie", retries, valid)
	f.stop()
	if s.Exited() {
		t.Fatal("dnspki exited during the flood")
	}
}

// startBindResolver runs named as a caching resolver on a free loopback
// port that forwards example.test to dnspki at addr (forward only, no
// DNSSEC validation: the zone is unsigned) and returns its address. named
// sends DNS Cookies to the servers it asks (send-cookie, the default).
func startBindResolver(t *testing.T, addr string) string {
	t.Helper()
	bins := harness.Need(t, "named")
	dir := t.TempDir()
	port := harness.FreePort(t)
	h, p := splitAddr(t, addr)
	conf := fmt.Sprintf(`options {
	directory "%[1]s";
	pid-file "%[1]s/named.pid";
	session-keyfile "%[1]s/session.key";
	managed-keys-directory "%[1]s";
	listen-on port %[2]d { 127.0.0.1; };
	listen-on-v6 { none; };
	recursion yes;
	allow-recursion { 127.0.0.0/8; };
	allow-query { 127.0.0.0/8; };
	dnssec-validation no;
	qname-minimization off;
	query-source address 127.0.0.1;
	notify no;
	send-cookie yes;
};
controls { };
logging {
	channel out { stderr; severity info; print-time yes; print-category yes; };
	category default { out; };
	category lame-servers { null; };
};
zone "example.test" {
	type forward;
	forward only;
	forwarders { %[3]s port %[4]d; };
};
`, dir, port, h, p)
	path := filepath.Join(dir, "named.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	proc := harness.Start(t, "named resolver", []string{bins[0], "-f", "-c", path, "-n", "1"}, harness.StartOpts{Dir: dir})
	a := harness.Addr(port)
	harness.Eventually(t, 30*time.Second, "named to answer", func() bool {
		if proc.Exited() {
			t.Fatalf("named exited:\n%s", proc.Output())
		}
		r, err := recursive(a, "www.example.test.")
		return err == nil && r.Rcode == dns.RcodeSuccess && len(r.Answer) > 0
	})
	return a
}

func splitAddr(t *testing.T, addr string) (string, int) {
	t.Helper()
	var h string
	var p int
	if _, err := fmt.Sscanf(addr, "127.0.0.1:%d", &p); err != nil {
		t.Fatalf("address %s: %v", addr, err)
	}
	h = "127.0.0.1"
	return h, p
}

// recursive asks the resolver at addr for name/A with RD set (UDP, TCP on
// truncation).
func recursive(addr, name string) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeA)
	m.RecursionDesired = true
	m.SetEdns0(1232, false)
	c := &dns.Client{Timeout: 5 * time.Second}
	r, _, err := c.Exchange(m, addr)
	if err == nil && r.Truncated {
		c.Net = "tcp"
		r, _, err = c.Exchange(m, addr)
	}
	return r, err
}
