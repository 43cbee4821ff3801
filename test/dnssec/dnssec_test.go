// Package dnssec tests dnspki's online signing (onlinesign) against real
// validators: unbound (with aggressive NSEC) and delv validate every kind of
// answer, dnsviz finds no errors, a tampered signature is rejected, BIND
// tools use dnspki's keys (and dnspki uses theirs), and ZSK and CSK
// rollovers run under a steady stream of queries without one validation
// failure.
package dnssec

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/dnspki/dnspki/test/harness"
)

// readFile returns testdata/name.
func readFile(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func write(t testing.TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// dnspkiDS runs "dnspki ds" in dir and returns its output (DS records).
func dnspkiDS(t testing.TB, dir string, args ...string) string {
	t.Helper()
	return harness.MustRun(t, 30*time.Second, dir, append([]string{harness.Dnspki(t), "ds"}, args...)...)
}

// startChild serves secure.example.test (signed) and insecure.example.test
// (unsigned) in one dnspki.
func startChild(t testing.TB) *harness.Server {
	t.Helper()
	dir := t.TempDir()
	zone := readFile(t, "child.zone")
	write(t, filepath.Join(dir, "secure.zone"), zone)
	write(t, filepath.Join(dir, "insecure.zone"), zone)
	port := harness.FreePort(t)
	s := harness.StartDnspki(t, dir, fmt.Sprintf(`secure.example.test:%[1]d insecure.example.test:%[1]d {
    bind 127.0.0.1
    authzone secure.example.test {
        file secure.zone
    }
    authzone insecure.example.test {
        file insecure.zone
    }
    onlinesign secure.example.test
}
`, port), port)
	harness.WaitDNS(t, s.Addr, "secure.example.test.", 30*time.Second, s.Proc)
	harness.WaitDNS(t, s.Addr, "insecure.example.test.", 30*time.Second, s.Proc)
	return s
}

// startParent serves example.test signed, with the DS of the child's key.
func startParent(t testing.TB, childDS string, signOpts string) *harness.Server {
	t.Helper()
	dir := t.TempDir()
	write(t, filepath.Join(dir, "example.test.zone"), strings.ReplaceAll(readFile(t, "example.test.zone"), "{SECURE_DS}", childDS))
	port := harness.FreePort(t)
	s := harness.StartDnspki(t, dir, fmt.Sprintf(`example.test:%d {
    bind 127.0.0.1
    authzone example.test {
        file example.test.zone
    }
    onlinesign example.test {
%s
    }
}
`, port, signOpts), port)
	harness.WaitDNS(t, s.Addr, "example.test.", 30*time.Second, s.Proc)
	return s
}

// answerTypes lists the types in the answer section.
func answerTypes(m *dns.Msg) string {
	var out []string
	for _, rr := range m.Answer {
		out = append(out, dns.TypeToString[rr.Header().Rrtype])
	}
	return strings.Join(out, " ")
}

// expectSecure resolves through unbound and checks rcode, the AD bit and
// that the answer holds a record of type want (0: empty answer).
func expectSecure(t *testing.T, u *harness.Unbound, name string, qtype uint16, rcode int, want uint16) {
	t.Helper()
	r, err := u.Resolve(name, qtype)
	if err != nil {
		t.Errorf("%s/%s: %v", name, dns.TypeToString[qtype], err)
		return
	}
	if r.Rcode != rcode || !r.AuthenticatedData {
		t.Errorf("%s/%s: rcode %s AD %v, want %s AD (answer: %s)", name, dns.TypeToString[qtype], dns.RcodeToString[r.Rcode], r.AuthenticatedData, dns.RcodeToString[rcode], answerTypes(r))
		return
	}
	has := false
	for _, rr := range r.Answer {
		if rr.Header().Rrtype == want {
			has = true
		}
	}
	if want == 0 && len(r.Answer) > 0 || want != 0 && !has {
		t.Errorf("%s/%s: answer %q, want %s", name, dns.TypeToString[qtype], answerTypes(r), dns.TypeToString[want])
	}
}

func TestValidation(t *testing.T) {
	harness.Need(t, "unbound", "delv")
	child := startChild(t)
	ds := strings.TrimSpace(dnspkiDS(t, child.Dir, "secure.example.test"))
	if !strings.Contains(ds, "IN\tDS\t") {
		t.Fatalf("dnspki ds printed %q", ds)
	}
	parent := startParent(t, ds, "")
	anchor := filepath.Join(parent.Dir, "state/keys/example.test.trust-anchor")
	u := harness.StartUnbound(t, harness.UnboundConfig{
		TrustAnchorFiles: []string{anchor},
		Stubs: map[string][]string{
			"example.test":          {parent.Addr},
			"secure.example.test":   {child.Addr},
			"insecure.example.test": {child.Addr},
		},
	})

	t.Run("unbound", func(t *testing.T) {
		const ok, nx = dns.RcodeSuccess, dns.RcodeNameError
		for _, c := range []struct {
			name        string
			qtype, want uint16
			rcode       int
		}{
			// positive answers of every type in the zone
			{"example.test", dns.TypeSOA, dns.TypeSOA, ok},
			{"example.test", dns.TypeNS, dns.TypeNS, ok},
			{"example.test", dns.TypeA, dns.TypeA, ok},
			{"example.test", dns.TypeAAAA, dns.TypeAAAA, ok},
			{"example.test", dns.TypeMX, dns.TypeMX, ok},
			{"example.test", dns.TypeTXT, dns.TypeTXT, ok},
			{"example.test", dns.TypeCAA, dns.TypeCAA, ok},
			{"example.test", dns.TypeDNSKEY, dns.TypeDNSKEY, ok},
			{"example.test", dns.TypeCDS, dns.TypeCDS, ok},
			{"example.test", dns.TypeCDNSKEY, dns.TypeCDNSKEY, ok},
			{"www.example.test", dns.TypeA, dns.TypeA, ok},
			{"www.example.test", dns.TypeAAAA, dns.TypeAAAA, ok},
			{"www.example.test", dns.TypeTXT, dns.TypeTXT, ok},
			{"www.example.test", dns.TypeHTTPS, dns.TypeHTTPS, ok},
			{"www.example.test", dns.TypeSSHFP, dns.TypeSSHFP, ok},
			{"_443._tcp.www.example.test", dns.TypeTLSA, dns.TypeTLSA, ok},
			{"_sip._udp.example.test", dns.TypeSRV, dns.TypeSRV, ok},
			{"mail.example.test", dns.TypeMX, dns.TypeMX, ok},
			// CNAME chains, DNAME
			{"alias.example.test", dns.TypeA, dns.TypeA, ok},
			{"dangling.example.test", dns.TypeA, dns.TypeCNAME, ok}, // chain ends in a name that does not exist
			{"www.dn.example.test", dns.TypeA, dns.TypeA, ok},
			// wildcards
			{"foo.wild.example.test", dns.TypeA, dns.TypeA, ok},
			{"a.b.wild.example.test", dns.TypeTXT, dns.TypeTXT, ok},
			{"x.wc.example.test", dns.TypeA, dns.TypeA, ok},
			{"foo.wild.example.test", dns.TypeMX, 0, ok}, // wildcard NODATA
			// denial: NXDOMAIN (compact: NOERROR), NODATA, empty non-terminals
			{"nothere.example.test", dns.TypeA, 0, ok},
			{"a.nothere.example.test", dns.TypeAAAA, 0, ok},
			{"www.example.test", dns.TypeMX, 0, ok},
			{"ent.example.test", dns.TypeA, 0, ok},
			{"b.ent.example.test", dns.TypeTXT, 0, ok},
			// delegations with DS (secure child) and without (proof of no DS)
			{"secure.example.test", dns.TypeDS, dns.TypeDS, ok},
			{"www.secure.example.test", dns.TypeA, dns.TypeA, ok},
			{"nothere.secure.example.test", dns.TypeA, 0, ok},
			{"insecure.example.test", dns.TypeDS, 0, ok},
		} {
			expectSecure(t, u, c.name, c.qtype, c.rcode, c.want)
		}
		_ = nx
		// The insecure child resolves (proven insecure), without AD.
		r, err := u.Resolve("www.insecure.example.test", dns.TypeA)
		if err != nil || r.Rcode != dns.RcodeSuccess || r.AuthenticatedData || len(r.Answer) != 1 {
			t.Errorf("insecure delegation: %v %v", r, err)
		}
	})

	t.Run("aggressive-nsec", func(t *testing.T) {
		// A NODATA for TXT at a name that has CAA must not deny the CAA (the
		// bitmap lists every type at the name): unbound answers CAA from the
		// NSEC it cached only if the bitmap lies.
		expectSecure(t, u, "caaonly.example.test", dns.TypeTXT, dns.RcodeSuccess, 0)
		expectSecure(t, u, "caaonly.example.test", dns.TypeCAA, dns.RcodeSuccess, dns.TypeCAA)
		// And an NXDOMAIN proof covers nothing but the name itself.
		expectSecure(t, u, "mail0.example.test", dns.TypeA, dns.RcodeSuccess, 0)
		expectSecure(t, u, "mail.example.test", dns.TypeA, dns.RcodeSuccess, dns.TypeA)
		expectSecure(t, u, "x.wild.example.test", dns.TypeMX, dns.RcodeSuccess, 0)
		expectSecure(t, u, "x.wild.example.test", dns.TypeTXT, dns.RcodeSuccess, dns.TypeTXT)
		expectSecure(t, u, "y.wild.example.test", dns.TypeA, dns.RcodeSuccess, dns.TypeA)
	})

	t.Run("delv", func(t *testing.T) {
		for _, q := range []string{
			"example.test SOA", "example.test DNSKEY", "example.test CDS", "example.test CDNSKEY", "example.test MX",
			"www.example.test A", "www.example.test AAAA", "www.example.test TXT", "www.example.test HTTPS", "www.example.test CAA",
			"_443._tcp.www.example.test TLSA", "_sip._udp.example.test SRV", "caaonly.example.test CAA",
			"alias.example.test A", "x.wc.example.test A", "foo.wild.example.test A", "a.b.wild.example.test TXT",
			"foo.wild.example.test MX", "nothere.example.test A", "www.example.test MX", "ent.example.test A",
			"b.ent.example.test AAAA", "secure.example.test DS", "insecure.example.test DS", "www.dn.example.test A",
		} {
			f := strings.Fields(q)
			out, ok := harness.Delv(t, parent.Addr, anchor, "example.test", f[0], f[1])
			if !ok {
				t.Errorf("delv %s: not validated:\n%s", q, out)
			}
		}
	})

	t.Run("protocol", func(t *testing.T) {
		// RFC 9824 §3.5: an explicit NXNAME query is a format error.
		r, err := harness.Query(parent.Addr, "www.example.test", dns.TypeNXNAME, false, true)
		if err != nil || r.Rcode != dns.RcodeFormatError {
			t.Errorf("NXNAME query: %v %v", r, err)
		}
		// NXDOMAIN answered NOERROR with NSEC qname \000.qname RRSIG NSEC NXNAME ...
		r, err = harness.Query(parent.Addr, "nothere.example.test", dns.TypeA, false, true)
		if err != nil || r.Rcode != dns.RcodeSuccess {
			t.Fatalf("NXDOMAIN: %v %v", r, err)
		}
		var nsec *dns.NSEC
		for _, rr := range r.Ns {
			if n, ok := rr.(*dns.NSEC); ok {
				nsec = n
			}
		}
		if nsec == nil || nsec.NextDomain != `\000.nothere.example.test.` || fmt.Sprint(nsec.TypeBitMap) != "[46 47 128]" {
			t.Errorf("compact denial NSEC: %v", nsec)
		}
		// ... unless the client sets the Compact Answers OK flag.
		m := new(dns.Msg)
		m.SetQuestion("nothere.example.test.", dns.TypeA)
		m.SetEdns0(1232, true)
		m.IsEdns0().SetCo()
		r, err = harness.Exchange(parent.Addr, m, false)
		if err != nil || r.Rcode != dns.RcodeNameError {
			t.Errorf("CO flag: %v %v", r, err)
		}
		// Without DO: unsigned, NXDOMAIN.
		r, err = harness.Query(parent.Addr, "nothere.example.test", dns.TypeA, false, false)
		if err != nil || r.Rcode != dns.RcodeNameError || len(r.Ns) != 1 {
			t.Errorf("no DO: %v %v", r, err)
		}
	})

	t.Run("dnsviz", func(t *testing.T) {
		bin := harness.Need(t, "dnsviz")[0]
		dir := t.TempDir()
		probe := filepath.Join(dir, "probe.json")
		names := []string{"example.test", "www.example.test", "caaonly.example.test", "mail.example.test", "foo.wild.example.test",
			"a.b.wild.example.test", "b.ent.example.test", "alias.example.test", "x.wc.example.test", "_443._tcp.www.example.test",
			"_sip._udp.example.test", "nothere.example.test", "dn.example.test"}
		args := append([]string{bin, "probe", "-A", "-4", "-x", "example.test+:ns1.example.test=" + parent.Addr, "-p", "-o", probe}, names...)
		if out, err := harness.Run(t, 3*time.Minute, dir, args...); err != nil {
			t.Fatalf("dnsviz probe: %v\n%s", err, out)
		}
		out, err := harness.Run(t, 2*time.Minute, dir, bin, "print", "-P", "-t", anchor, "-r", probe)
		if err != nil {
			t.Fatalf("dnsviz print: %v\n%s", err, out)
		}
		if !strings.HasPrefix(out, "example.test [.]") {
			t.Errorf("dnsviz: the zone is not secure:\n%s", out)
		}
		for _, l := range strings.Split(out, "\n") {
			f := strings.TrimSpace(l)
			if strings.HasPrefix(f, "E:") || strings.Contains(l, "[!]") || strings.Contains(l, "[-!]") {
				t.Errorf("dnsviz reports an error: %s", l)
			}
			if strings.HasPrefix(f, "W:") {
				t.Logf("dnsviz warning: %s", l)
			}
		}
		if t.Failed() {
			t.Logf("dnsviz print:\n%s", out)
		}
	})

	t.Run("tamper", func(t *testing.T) {
		// A proxy flips one byte of every RRSIG over www.example.test A:
		// unbound must refuse the answer while others still validate.
		proxy := startTamperProxy(t, parent.Addr, "www.example.test.", dns.TypeA)
		u2 := harness.StartUnbound(t, harness.UnboundConfig{
			TrustAnchorFiles: []string{anchor},
			Stubs:            map[string][]string{"example.test": {proxy}},
		})
		expectSecure(t, u2, "mail.example.test", dns.TypeA, dns.RcodeSuccess, dns.TypeA)
		r, err := u2.Resolve("www.example.test", dns.TypeA)
		if err != nil {
			t.Fatal(err)
		}
		if r.Rcode != dns.RcodeServerFailure {
			t.Errorf("tampered RRSIG: rcode %s, want SERVFAIL (answer %v)", dns.RcodeToString[r.Rcode], r.Answer)
		}
		if !strings.Contains(u2.Log(), "www.example.test") {
			t.Errorf("unbound's log does not mention the bogus answer")
		}
	})
}

// TestExample runs corefile-examples/signed.Corefile as documented: keys and
// trust anchor in ./state/keys, DS from "dnspki ds", validated by delv. (Its
// status page goes to a free port instead of 8054: test/status checks it.)
func TestExample(t *testing.T) {
	s := harness.StartExample(t, "signed.Corefile", "example.test.", map[string]string{
		"127.0.0.1:8054": harness.Addr(harness.FreePort(t)),
	})
	keys := filepath.Join(s.Dir, "state", "keys")
	anchor := filepath.Join(keys, "example.test.trust-anchor")
	ta, err := os.ReadFile(anchor)
	if err != nil {
		t.Fatal(err)
	}
	rr, err := dns.NewRR(string(ta))
	if err != nil {
		t.Fatalf("trust anchor %q: %v", ta, err)
	}
	dk := rr.(*dns.DNSKEY)
	if dk.Flags != 257 || dk.Algorithm != dns.ECDSAP256SHA256 {
		t.Errorf("trust anchor %v: want a CSK of algorithm 13", dk)
	}
	m, _ := filepath.Glob(filepath.Join(keys, fmt.Sprintf("Kexample.test.+013+%05d.*", dk.KeyTag())))
	if len(m) != 2 {
		t.Fatalf("key files: %v", m)
	}
	for _, f := range m {
		fi, _ := os.Stat(f)
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0600", f, fi.Mode().Perm())
		}
	}
	ds := dnspkiDS(t, s.Dir, "example.test")
	if !strings.Contains(ds, strings.ToUpper(dk.ToDS(dns.SHA256).Digest)) {
		t.Errorf("dnspki ds printed %q, want the DS of key %d", ds, dk.KeyTag())
	}
	r, err := harness.Query(s.Addr, "example.test", dns.TypeCDS, false, true)
	if err != nil || len(r.Answer) != 2 || !strings.Contains(r.Answer[0].String(), strings.ToUpper(dk.ToDS(dns.SHA256).Digest)) {
		t.Errorf("served CDS %v (%v) does not match dnspki ds", r, err)
	}
	for _, q := range [][2]string{{"www.example.test", "A"}, {"foo.apps.example.test", "TXT"}, {"nothere.example.test", "A"}} {
		if out, ok := harness.Delv(t, s.Addr, anchor, "example.test", q[0], q[1]); !ok {
			t.Errorf("delv %v:\n%s", q, out)
		}
	}
}
