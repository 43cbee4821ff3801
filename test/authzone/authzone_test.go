// Package authzone tests the dnspki binary end to end as an authoritative
// server for zone files: the quickstart, reload, restart, transfers, NOTIFY
// and bad input.
package authzone

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/dnspki/dnspki/test/harness"
)

const zone = "example.test."

func TestQuickstart(t *testing.T) {
	srv := harness.StartExample(t, "quickstart.Corefile", zone, nil)
	for _, tcp := range []bool{false, true} {
		r, err := harness.Query(srv.Addr, "www.example.test", dns.TypeA, tcp, false)
		if err != nil {
			t.Fatal(err)
		}
		if r.Rcode != dns.RcodeSuccess || !r.Authoritative || len(r.Answer) != 1 || r.Answer[0].(*dns.A).A.String() != "192.0.2.10" {
			t.Fatalf("tcp=%v www A: %v", tcp, r)
		}
	}
	// dig, a real client, agrees.
	dig := harness.Need(t, "dig")[0]
	out := harness.MustRun(t, 10*time.Second, "", dig, "+norec", "@127.0.0.1", "-p", fmt.Sprint(srv.Port), "mail.example.test", "AAAA")
	if !strings.Contains(out, "status: NOERROR") || !strings.Contains(out, "2001:db8::25") || !regexp.MustCompile(`flags: qr aa`).MatchString(out) {
		t.Fatalf("dig:\n%s", out)
	}
}

func TestVersionAndPlugins(t *testing.T) {
	bin := harness.Dnspki(t)
	out := harness.MustRun(t, 10*time.Second, "", bin, "-version")
	if !strings.Contains(out, "dnspki ") || !strings.Contains(out, "CoreDNS 1.15") {
		t.Fatalf("-version: %s", out)
	}
	out = harness.MustRun(t, 10*time.Second, "", bin, "-plugins")
	for _, p := range []string{"root", "bind", "log", "errors", "debug", "health", "ready", "prometheus", "reload", "acl", "tsig", "transfer", "cache", "any", "chaos", "whoami", "view", "authzone"} {
		if !regexp.MustCompile(`(?m)^` + p + `$`).MatchString(out) {
			t.Errorf("-plugins lacks %s:\n%s", p, out)
		}
	}
}

const zoneText = `$ORIGIN example.test.
$TTL 300
@ IN SOA ns1 hostmaster 2026010101 3600 600 86400 60
  IN NS ns1
ns1 IN A 192.0.2.53
www IN A 192.0.2.10
`

// server starts dnspki on a zone file in a temporary directory with metrics,
// transfers (AXFR/IXFR to anyone) and NOTIFY to notifyTo (if set).
func server(t *testing.T, dir string, notifyTo string) (*harness.Server, string, string) {
	t.Helper()
	zf := filepath.Join(dir, "example.test.zone")
	if _, err := os.Stat(zf); err != nil {
		os.WriteFile(zf, []byte(zoneText), 0o644)
	}
	port := harness.FreePort(t)
	mport := harness.FreePort(t)
	to := "*"
	if notifyTo != "" {
		to = "* " + notifyTo
	}
	cf := fmt.Sprintf(`.:%d {
    bind 127.0.0.1
    prometheus 127.0.0.1:%d
    errors
    authzone example.test {
        file %s
        reload 1s
    }
    transfer example.test {
        to %s
    }
}
`, port, mport, zf, to)
	srv := harness.StartDnspki(t, dir, cf, port)
	harness.WaitDNS(t, srv.Addr, zone, 20*time.Second, srv.Proc)
	return srv, zf, fmt.Sprintf("http://127.0.0.1:%d/metrics", mport)
}

func lookupA(addr, name string) string {
	r, err := harness.Query(addr, name, dns.TypeA, false, false)
	if err != nil || r.Rcode != dns.RcodeSuccess || len(r.Answer) == 0 {
		return ""
	}
	if a, ok := r.Answer[0].(*dns.A); ok {
		return a.A.String()
	}
	return ""
}

func metric(t *testing.T, url, name string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, name) {
			f := strings.Fields(l)
			return f[len(f)-1]
		}
	}
	return ""
}

// notifyListener is a UDP DNS server that records NOTIFY serials.
func notifyListener(t *testing.T) (string, chan uint32) {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan uint32, 16)
	s := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		if r.Opcode == dns.OpcodeNotify {
			// The SOA in the answer section is optional (RFC 1996 §3.7): 0
			// when absent.
			var serial uint32
			for _, rr := range r.Answer {
				if soa, ok := rr.(*dns.SOA); ok {
					serial = soa.Serial
				}
			}
			select {
			case ch <- serial:
			default:
			}
		}
		m := new(dns.Msg)
		m.SetReply(r)
		w.WriteMsg(m)
	})}
	go s.ActivateAndServe()
	t.Cleanup(func() { s.Shutdown() })
	return pc.LocalAddr().String(), ch
}

func TestReloadChangeAndBrokenEdit(t *testing.T) {
	dir := t.TempDir()
	notifyAddr, notified := notifyListener(t)
	srv, zf, metrics := server(t, dir, notifyAddr)
	s0 := harness.MustSerial(t, srv.Addr, zone)
	if s0 != 2026010101 {
		t.Fatalf("first serial %d, want the file's", s0)
	}
	// A startup NOTIFY announces the zone.
	select {
	case s := <-notified:
		if s != s0 && s != 0 {
			t.Fatalf("startup NOTIFY for serial %d", s)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no NOTIFY at startup")
	}

	// An edit without a serial bump: served, serial moves, NOTIFY sent.
	os.WriteFile(zf, []byte(zoneText+"new IN A 192.0.2.20\n"), 0o644)
	harness.Eventually(t, 10*time.Second, "new record served", func() bool { return lookupA(srv.Addr, "new.example.test") == "192.0.2.20" })
	s1 := harness.MustSerial(t, srv.Addr, zone)
	if s1 != s0+1 {
		t.Fatalf("serial after edit %d, want %d", s1, s0+1)
	}
	select {
	case got := <-notified:
		if got != s1 && got != 0 {
			t.Fatalf("NOTIFY for serial %d, want %d", got, s1)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("no NOTIFY after the change to serial %d", s1)
	}

	// A broken edit: logged with file and line, counted, the last good zone
	// keeps serving.
	os.WriteFile(zf, []byte(zoneText+"new IN A 192.0.2.20\nbroken IN A not-an-address\n"), 0o644)
	harness.Eventually(t, 10*time.Second, "reload error logged", func() bool {
		return strings.Contains(srv.Output(), zf+"") && strings.Contains(srv.Output(), "keeping the last good zone") && strings.Contains(srv.Output(), "line: 8")
	})
	if got := lookupA(srv.Addr, "new.example.test"); got != "192.0.2.20" {
		t.Fatalf("after a broken edit new = %q", got)
	}
	if s := harness.MustSerial(t, srv.Addr, zone); s != s1 {
		t.Fatalf("broken edit moved the serial to %d", s)
	}
	if v := metric(t, metrics, "coredns_dnspki_zone_load_errors_total"); v != "1" {
		t.Fatalf("load errors metric %q", v)
	}
	// A semantic error (CNAME beside data) is refused the same way.
	os.WriteFile(zf, []byte(zoneText+"www IN CNAME ns1\n"), 0o644)
	harness.Eventually(t, 10*time.Second, "CNAME conflict logged", func() bool { return strings.Contains(srv.Output(), "CNAME and other data") })
	if got := lookupA(srv.Addr, "www.example.test"); got != "192.0.2.10" {
		t.Fatalf("www after a refused edit: %q", got)
	}

	// Replace by rename (how editors and tools write): seen.
	tmp := zf + ".tmp"
	os.WriteFile(tmp, []byte(zoneText+"renamed IN A 192.0.2.21\n"), 0o644)
	os.Rename(tmp, zf)
	harness.Eventually(t, 10*time.Second, "renamed file served", func() bool { return lookupA(srv.Addr, "renamed.example.test") == "192.0.2.21" })
	if lookupA(srv.Addr, "new.example.test") != "" {
		t.Fatal("record removed from the file still served")
	}
	if v := metric(t, metrics, `coredns_dnspki_zone_serial{view="default",zone="example.test."}`); v != fmt.Sprint(s1+1) && v != fmt.Sprintf("%.7e", float64(s1+1)) {
		t.Logf("serial metric %q (want %d)", v, s1+1)
	}
}

func TestRestartTransfersAndIXFR(t *testing.T) {
	dir := t.TempDir()
	srv, zf, _ := server(t, dir, "")
	s0 := harness.MustSerial(t, srv.Addr, zone)
	os.WriteFile(zf, []byte(zoneText+"a IN A 192.0.2.31\n"), 0o644)
	harness.Eventually(t, 10*time.Second, "a served", func() bool { return lookupA(srv.Addr, "a.example.test") != "" })
	s1 := harness.MustSerial(t, srv.Addr, zone)

	// Restart: the serial survives.
	srv.Stop()
	srv.Restart()
	harness.WaitDNS(t, srv.Addr, zone, 20*time.Second, srv.Proc)
	if s := harness.MustSerial(t, srv.Addr, zone); s != s1 {
		t.Fatalf("serial after restart %d, want %d", s, s1)
	}
	// Edited while down: one new serial at start.
	srv.Stop()
	os.WriteFile(zf, []byte(zoneText+"a IN A 192.0.2.31\nb IN A 192.0.2.32\n"), 0o644)
	srv.Restart()
	harness.WaitDNS(t, srv.Addr, zone, 20*time.Second, srv.Proc)
	s2 := harness.MustSerial(t, srv.Addr, zone)
	if s2 != s1+1 {
		t.Fatalf("serial after an edit while down %d, want %d", s2, s1+1)
	}

	// AXFR and IXFR with dig (a real client).
	dig := harness.Need(t, "dig")[0]
	out := harness.MustRun(t, 10*time.Second, "", dig, "@127.0.0.1", "-p", fmt.Sprint(srv.Port), zone, "AXFR")
	if !strings.Contains(out, "b.example.test.") || strings.Count(out, "\tSOA\t") != 2 {
		t.Fatalf("AXFR:\n%s", out)
	}
	out = harness.MustRun(t, 10*time.Second, "", dig, "@127.0.0.1", "-p", fmt.Sprint(srv.Port), zone, fmt.Sprintf("IXFR=%d", s0), "+tcp")
	// Two difference sequences: s0→s1 adds a, s1→s2 adds b; 2×2+2 SOAs.
	if strings.Count(out, "\tSOA\t") != 6 || !strings.Contains(out, "a.example.test.") || !strings.Contains(out, "b.example.test.") {
		t.Fatalf("IXFR from %d:\n%s", s0, out)
	}
	out = harness.MustRun(t, 10*time.Second, "", dig, "@127.0.0.1", "-p", fmt.Sprint(srv.Port), zone, fmt.Sprintf("IXFR=%d", s2), "+tcp")
	if strings.Count(out, "\tSOA\t") != 1 {
		t.Fatalf("IXFR of a current serial must be one SOA:\n%s", out)
	}
}

func TestBadCorefileStopsStartup(t *testing.T) {
	dir := t.TempDir()
	zf := filepath.Join(dir, "db")
	os.WriteFile(zf, []byte(zoneText), 0o644)
	cases := []struct {
		corefile string
		want     string
	}{
		{"example.test:1 {\n  authzone example.test {\n    file " + zf + "\n    serial sometimes\n  }\n}\n", "Corefile:4"},
		{"example.test:1 {\n  authzone example.test {\n  }\n}\n", "no 'file'"},
		{"example.test:1 {\n  authzone example.test {\n    file " + zf + ".missing\n  }\n}\n", "no such file"},
	}
	for _, c := range cases {
		os.WriteFile(filepath.Join(dir, "Corefile"), []byte(c.corefile), 0o644)
		out, err := harness.Run(t, 20*time.Second, dir, harness.Dnspki(t), "-conf", "Corefile")
		if err == nil {
			t.Fatalf("started with a bad Corefile:\n%s", c.corefile)
		}
		if !strings.Contains(out, c.want) {
			t.Fatalf("error output lacks %q:\n%s", c.want, out)
		}
	}
	// A zone file error names the file and line.
	os.WriteFile(zf, []byte(zoneText+"x IN MX ten mail\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "Corefile"), []byte("example.test:1 {\n  authzone example.test {\n    file "+zf+"\n  }\n}\n"), 0o644)
	out, err := harness.Run(t, 20*time.Second, dir, harness.Dnspki(t), "-conf", "Corefile")
	if err == nil || !strings.Contains(out, zf) || !strings.Contains(out, "line: 7") {
		t.Fatalf("zone file error: %v\n%s", err, out)
	}
}

func TestMalformedInput(t *testing.T) {
	dir := t.TempDir()
	srv, _, _ := server(t, dir, "")
	send := func(b []byte) *dns.Msg {
		c, err := net.Dial("udp", srv.Addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(time.Second))
		c.Write(b)
		buf := make([]byte, 4096)
		n, err := c.Read(buf)
		if err != nil {
			return nil
		}
		m := new(dns.Msg)
		if m.Unpack(buf[:n]) != nil {
			return nil
		}
		return m
	}
	// Garbage and truncated headers: no crash (an answer is optional).
	send([]byte{0x12})
	send([]byte("not a dns message at all, just bytes"))
	// Two questions: FORMERR.
	m := new(dns.Msg)
	m.SetQuestion("www.example.test.", dns.TypeA)
	m.Question = append(m.Question, m.Question[0])
	b, _ := m.Pack()
	if r := send(b); r == nil || r.Rcode != dns.RcodeFormatError {
		t.Fatalf("two questions: %v", r)
	}
	// Unknown opcode: NOTIMP.
	m = new(dns.Msg)
	m.SetQuestion("www.example.test.", dns.TypeA)
	m.Opcode = 3
	b, _ = m.Pack()
	if r := send(b); r == nil || r.Rcode != dns.RcodeNotImplemented {
		t.Fatalf("opcode 3: %v", r)
	}
	// UPDATE without an update plugin: NOTIMP (the opcode is not enabled).
	m = new(dns.Msg)
	m.SetUpdate(zone)
	b, _ = m.Pack()
	if r := send(b); r == nil || r.Rcode != dns.RcodeNotImplemented {
		t.Fatalf("UPDATE: %v", r)
	}
	// Another class: REFUSED.
	m = new(dns.Msg)
	m.SetQuestion("www.example.test.", dns.TypeA)
	m.Question[0].Qclass = dns.ClassCHAOS
	b, _ = m.Pack()
	if r := send(b); r == nil || r.Rcode != dns.RcodeRefused {
		t.Fatalf("CH class: %v", r)
	}
	// A zone not served (the block is a catch-all "."): REFUSED.
	if r, err := harness.Query(srv.Addr, "www.example.org", dns.TypeA, false, false); err != nil || r.Rcode != dns.RcodeRefused {
		t.Fatalf("other zone: %v %v", r, err)
	}
	// Bad EDNS version: BADVERS.
	m = new(dns.Msg)
	m.SetQuestion("www.example.test.", dns.TypeA)
	m.SetEdns0(1232, false)
	m.IsEdns0().SetVersion(1)
	b, _ = m.Pack()
	if r := send(b); r == nil || r.Rcode != dns.RcodeBadVers {
		t.Fatalf("EDNS version 1: %v", r)
	}
	// Still alive and answering.
	if lookupA(srv.Addr, "www.example.test") != "192.0.2.10" {
		t.Fatal("server stopped answering after malformed input")
	}
	if srv.Exited() {
		t.Fatal("server exited")
	}
}
