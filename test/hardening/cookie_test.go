package hardening

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/dnspki/dnspki/test/harness"
)

var (
	digCookie  = regexp.MustCompile(`(?m)^; COOKIE: ([0-9a-f]+)`)
	kdigCookie = regexp.MustCompile(`(?m)^;; COOKIE: ([0-9A-Fa-f]+)`)
)

// TestDigAndKdigCookies: dig +cookie and kdig +cookie learn a server cookie
// from the hardened example (the 8-octet client cookie they sent, then 16
// octets of RFC 9018 server cookie), and the cookie is accepted on the
// next query: the server counts a valid cookie and returns it unchanged
// (it is fresh).
func TestDigAndKdigCookies(t *testing.T) {
	bins := harness.Need(t, "dig", "kdig")
	s := startHardened(t)
	port := fmt.Sprint(s.Port)
	for _, tool := range []struct {
		name string
		argv func(cookie string) []string
		re   *regexp.Regexp
	}{
		{"dig", func(c string) []string {
			return []string{bins[0], "@127.0.0.1", "-p", port, "+norec", "+tries=1", "+cookie" + c, "www.example.test", "A"}
		}, digCookie},
		{"kdig", func(c string) []string {
			return []string{bins[1], "@127.0.0.1", "-p", port, "+norec", "+retry=0", "+cookie" + c, "www.example.test", "A"}
		}, kdigCookie},
	} {
		t.Run(tool.name, func(t *testing.T) {
			out := harness.MustRun(t, 30*time.Second, s.Dir, tool.argv("")...)
			m := tool.re.FindStringSubmatch(out)
			if m == nil || len(m[1]) != 2*(8+16) || !strings.Contains(out, "192.0.2.10") {
				t.Fatalf("%s +cookie: want the answer with an 8+16 octet cookie:\n%s", tool.name, out)
			}
			learned := strings.ToLower(m[1])
			if learned[16:18] != "01" {
				t.Fatalf("server cookie %s: version %s, want 01 (RFC 9018)", learned[16:], learned[16:18])
			}
			valid := s.metric(t, "coredns_dnspki_cookie_requests_total", "result", "valid")
			out = harness.MustRun(t, 30*time.Second, s.Dir, tool.argv("="+learned)...)
			m = tool.re.FindStringSubmatch(out)
			if m == nil || strings.ToLower(m[1]) != learned || !strings.Contains(out, "192.0.2.10") {
				t.Fatalf("%s +cookie=%s: want the answer with the same cookie back:\n%s", tool.name, learned, out)
			}
			if got := s.metric(t, "coredns_dnspki_cookie_requests_total", "result", "valid"); got != valid+1 {
				t.Fatalf("valid cookies counted: %v, want %v", got, valid+1)
			}
		})
	}
}

// TestMalformedCookie: a COOKIE option of an illegal length is FORMERR with
// an Extended DNS Error (dig shows it), over UDP and TCP; so is one longer
// than 40 octets (which dig refuses to send: a Go client does). A malformed
// second option is ignored (RFC 7873 §5.2: only the first counts).
func TestMalformedCookie(t *testing.T) {
	bins := harness.Need(t, "dig")
	s := startHardened(t)
	for _, c := range []string{"0102", "0102030405060708090a"} {
		for _, tcp := range []string{"+notcp", "+tcp"} {
			out := harness.MustRun(t, 30*time.Second, s.Dir, bins[0], "@127.0.0.1", "-p", fmt.Sprint(s.Port), "+norec", "+tries=1", tcp, "+cookie="+c, "www.example.test", "A")
			if !strings.Contains(out, "status: FORMERR") || !strings.Contains(out, "EDE: 0 (Other)") || !strings.Contains(out, "COOKIE option of") {
				t.Fatalf("dig %s +cookie=%s: want FORMERR with the EDE:\n%s", tcp, c, out)
			}
		}
	}
	for _, tcp := range []bool{false, true} {
		r, err := harness.Exchange(s.Addr, withCookies("www.example.test.", strings.Repeat("ab", 41)), tcp)
		if err != nil || r.Rcode != dns.RcodeFormatError || len(r.Answer) != 0 || cookieOf(r) != "" {
			t.Fatalf("41 octets (tcp %v): %v %v, want FORMERR", tcp, r, err)
		}
	}
	r, err := harness.Exchange(s.Addr, withCookies("www.example.test.", "0102030405060708", "01"), false)
	if err != nil || r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 || !strings.HasPrefix(cookieOf(r), "0102030405060708") {
		t.Fatalf("a malformed second COOKIE option: %v %v", r, err)
	}
}

// withCookies is an A query with these COOKIE options (hex), in order.
func withCookies(name string, cookies ...string) *dns.Msg {
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeA)
	m.SetEdns0(1232, false)
	for _, c := range cookies {
		m.IsEdns0().Option = append(m.IsEdns0().Option, &dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: c})
	}
	return m
}

// TestMalformedCookieChangesNothing: a TSIG-signed UPDATE (a valid one:
// the same message with a well-formed cookie is applied) carrying a
// malformed COOKIE option is FORMERR and changes nothing: the record is
// not served, the serial does not move.
func TestMalformedCookieChangesNothing(t *testing.T) {
	const secret = "c2VjcmV0LWFjbWUtd3d3LWtleS0wMTIzNDU2Nzg5YWI="
	dir := t.TempDir()
	port := harness.FreePort(t)
	conf := fmt.Sprintf(`example.test:%d {
    bind 127.0.0.1
    cookie
    rrl 20
    authzone example.test {
        file %s/corefile-examples/example.test.zone
    }
    acmechallenge example.test {
        key acme-www. hmac-sha256 %s
        grant acme-www. name www.example.test
    }
}
`, port, harness.Root(), secret)
	s := harness.StartDnspki(t, dir, conf, port)
	harness.WaitDNS(t, s.Addr, zone, 30*time.Second, s.Proc)
	serial := harness.MustSerial(t, s.Addr, zone)
	const owner = "_acme-challenge.www.example.test."
	const digest = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ" // an RFC 8555 digest's form
	update := func(cookie string) *dns.Msg {
		t.Helper()
		m := new(dns.Msg)
		m.SetUpdate(zone)
		txt, err := dns.NewRR(owner + ` 60 IN TXT "` + digest + `"`)
		if err != nil {
			t.Fatal(err)
		}
		m.Insert([]dns.RR{txt})
		m.SetEdns0(1232, false)
		m.IsEdns0().Option = append(m.IsEdns0().Option, &dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: cookie})
		m.SetTsig("acme-www.", dns.HmacSHA256, 300, time.Now().Unix())
		c := &dns.Client{Net: "tcp", Timeout: 5 * time.Second, TsigSecret: map[string]string{"acme-www.": secret}}
		r, _, err := c.Exchange(m, s.Addr)
		if err != nil && r == nil {
			t.Fatalf("UPDATE with COOKIE %s: %v", cookie, err)
		}
		return r
	}
	for _, bad := range []string{"0102", "0102030405060708090a0b", strings.Repeat("cd", 41)} {
		if r := update(bad); r.Rcode != dns.RcodeFormatError {
			t.Fatalf("UPDATE with COOKIE %s: %s, want FORMERR", bad, dns.RcodeToString[r.Rcode])
		}
	}
	if got := harness.TXTValues(t, s.Addr, owner); len(got) != 0 {
		t.Fatalf("after the refused UPDATEs %s has TXT %v", owner, got)
	}
	if got := harness.MustSerial(t, s.Addr, zone); got != serial {
		t.Fatalf("serial %d after the refused UPDATEs, was %d", got, serial)
	}
	// The same UPDATE with a well-formed cookie is applied: the refusals
	// above were the cookie's.
	if r := update("0102030405060708"); r.Rcode != dns.RcodeSuccess {
		t.Fatalf("UPDATE with a client cookie: %s", dns.RcodeToString[r.Rcode])
	}
	if got := harness.TXTValues(t, s.Addr, owner); len(got) != 1 || got[0] != digest {
		t.Fatalf("after the accepted UPDATE %s has TXT %v", owner, got)
	}
}
