package hardening

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/dnspki/dnspki/test/harness"
)

// Every refusal dnspki produces explains itself with an Extended DNS Error
// (RFC 8914), seen by a real client (dig prints it) and on the wire, and
// never says more than the refusal: the split-horizon example refuses an
// outside transfer of the internal view as Prohibited without naming the
// view, a query signed with an unknown key is Prohibited ("badkey"), a meta
// type is an Invalid Query Type; an answer
// for an internal-only name from outside carries none (it is an ordinary
// NXDOMAIN).
func TestExtendedErrors(t *testing.T) {
	harness.Need(t, "dig")
	s := harness.StartExample(t, "split-horizon.Corefile", "example.test.", nil)
	ext := harness.NewClient("127.0.0.2", s.Port)
	ask := func(m *dns.Msg, tcp bool) *dns.Msg {
		t.Helper()
		m.SetEdns0(1232, false)
		r, err := ext.Exchange(m, tcp)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	edeOf := func(m *dns.Msg) *dns.EDNS0_EDE {
		if o := m.IsEdns0(); o != nil {
			for _, e := range o.Option {
				if x, ok := e.(*dns.EDNS0_EDE); ok {
					return x
				}
			}
		}
		return nil
	}
	axfr := new(dns.Msg)
	axfr.SetAxfr("example.test.")
	meta := new(dns.Msg)
	meta.SetQuestion("www.example.test.", dns.TypeNXNAME)
	for _, c := range []struct {
		name  string
		m     *dns.Msg
		tcp   bool
		rcode int
		code  uint16
	}{
		{"outside AXFR of the internal view", axfr, true, dns.RcodeRefused, dns.ExtendedErrorCodeProhibited},
		{"the NXNAME meta type", meta, false, dns.RcodeFormatError, dns.ExtendedErrorCodeInvalidQueryType},
	} {
		r := ask(c.m, c.tcp)
		e := edeOf(r)
		if r.Rcode != c.rcode || e == nil || e.InfoCode != c.code {
			t.Errorf("%s: %s, EDE %v; want %s with EDE %d", c.name, dns.RcodeToString[r.Rcode], e, dns.RcodeToString[c.rcode], c.code)
			continue
		}
		if e != nil && (contains(e.ExtraText, "internal") || contains(e.ExtraText, "intra")) {
			t.Errorf("%s: the EDE text %q names what the view hides", c.name, e.ExtraText)
		}
	}
	q := new(dns.Msg)
	q.SetQuestion("www.intra.example.test.", dns.TypeA)
	if r := ask(q, false); edeOf(r) != nil {
		t.Errorf("internal-only name from outside: EDE %v, want an ordinary answer", edeOf(r))
	}
	// dig shows it to an operator.
	out := harness.MustRun(t, 30*time.Second, "", "dig", "-b", "127.0.0.2", "@127.0.0.1", "-p", fmt.Sprint(s.Port), "example.test.", "SOA", "+norec", "-y", "hmac-sha256:nobody.:c2VjcmV0LWFjbWUtd3d3LWtleS0wMTIzNDU2Nzg5YWI=")
	if !contains(out, "EDE: 18 (Prohibited): (badkey)") {
		t.Errorf("dig does not show the EDE of a query signed with an unknown key:\n%s", out)
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
