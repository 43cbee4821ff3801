package authzone

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/coredns/coredns/plugin/pkg/dnstest"
	"github.com/coredns/coredns/plugin/test"
	"github.com/miekg/dns"

	"github.com/dnspki/dnspki/plugin/pkg/zonemodel"
)

// newTestAuthZone serves the conformance zone from an opened model, without
// caddy.
func newTestAuthZone(t testing.TB) *AuthZone {
	t.Helper()
	b, err := os.ReadFile("../../test/conformance/testdata/example.test.zone")
	if err != nil {
		t.Fatal(err)
	}
	zd, err := zonemodel.ParseZone(strings.NewReader(string(b)), "example.test.", "example.test.zone")
	if err != nil {
		t.Fatal(err)
	}
	z := zonemodel.New(zonemodel.Config{Origin: "example.test.", StateDir: t.TempDir()})
	src, err := z.AddSource("file", zonemodel.SourceOptions{Base: true})
	if err != nil {
		t.Fatal(err)
	}
	src.SetInitial(nil, zd.RRs)
	if err := z.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(z.Close)
	return &AuthZone{zones: map[string]*zoneState{z.Origin: {zone: z, spec: &zoneSpec{origin: z.Origin}}}, origins: []string{z.Origin}}
}

func serveMsg(a *AuthZone, m *dns.Msg) *dns.Msg {
	w := &test.ResponseWriter{}
	rec := &recorder{ResponseWriter: w}
	a.ServeDNS(context.Background(), rec, m)
	return rec.msg
}

type recorder struct {
	dns.ResponseWriter
	msg *dns.Msg
}

func (r *recorder) WriteMsg(m *dns.Msg) error { r.msg = m; return nil }

func TestServeDNSRcodes(t *testing.T) {
	a := newTestAuthZone(t)
	a.Next = test.NextHandler(dns.RcodeRefused, nil)
	q := func(name string, qtype uint16, mod func(*dns.Msg)) *dns.Msg {
		m := new(dns.Msg)
		m.SetQuestion(name, qtype)
		if mod != nil {
			mod(m)
		}
		return serveMsg(a, m)
	}
	if r := q("www.example.test.", dns.TypeA, nil); r == nil || r.Rcode != dns.RcodeSuccess || !r.Authoritative || len(r.Answer) != 1 {
		t.Fatalf("www A: %v", r)
	}
	if r := q("nope.example.test.", dns.TypeA, nil); r.Rcode != dns.RcodeNameError || len(r.Ns) != 1 || r.Ns[0].Header().Ttl != 300 {
		t.Fatalf("NXDOMAIN: %v", r)
	}
	if r := q("www.example.test.", dns.TypeA, func(m *dns.Msg) { m.Question[0].Qclass = dns.ClassCHAOS }); r.Rcode != dns.RcodeRefused {
		t.Fatalf("CH class: %v", r)
	}
	if r := q("example.test.", dns.TypeAXFR, nil); r.Rcode != dns.RcodeRefused {
		t.Fatalf("AXFR without transfer rules: %v", r)
	}
	if r := q("www.example.test.", dns.TypeAXFR, nil); r.Rcode != dns.RcodeNotAuth {
		t.Fatalf("AXFR of a name that is not a zone: %v", r)
	}
	if r := q("www.example.test.", dns.TypeA, func(m *dns.Msg) { m.Opcode = dns.OpcodeUpdate }); r.Rcode != dns.RcodeRefused {
		t.Fatalf("UPDATE: %v", r)
	}
	if r := q("www.example.test.", dns.TypeOPT, nil); r.Rcode != dns.RcodeFormatError {
		t.Fatalf("OPT query: %v", r)
	}
	// Not our zone: passed on to the next plugin.
	if r := q("www.example.org.", dns.TypeA, nil); r != nil {
		t.Fatalf("answered a zone it does not serve: %v", r)
	}
	// Last in the chain (a catch-all block): REFUSED, not SERVFAIL.
	a.Next = nil
	m := new(dns.Msg)
	m.SetQuestion("www.example.org.", dns.TypeA)
	m.SetEdns0(1232, false)
	rec := dnstest.NewRecorder(&test.ResponseWriter{})
	if rc, err := a.ServeDNS(context.Background(), rec, m); rc != dns.RcodeSuccess || err != nil || rec.Msg == nil || rec.Msg.Rcode != dns.RcodeRefused {
		t.Fatalf("not our zone, no next plugin: rcode %s, %v, answer %v; want REFUSED written", dns.RcodeToString[rc], err, rec.Msg)
	}
	if e := edeOf(rec.Msg); e == nil || e.InfoCode != dns.ExtendedErrorCodeNotAuthoritative {
		t.Fatalf("not our zone: EDE %v, want Not Authoritative", e)
	}
	a.Next = test.NextHandler(dns.RcodeRefused, nil)
	// EDNS is echoed.
	r := q("www.example.test.", dns.TypeA, func(m *dns.Msg) { m.SetEdns0(1232, true) })
	if opt := r.IsEdns0(); opt == nil || !opt.Do() {
		t.Fatalf("EDNS/DO not echoed: %v", r)
	}
}

// FuzzServeDNS feeds arbitrary messages to the query path: it must never
// panic and must answer every message it accepts for its zone with a sane
// rcode.
func FuzzServeDNS(f *testing.F) {
	for _, q := range []struct {
		name string
		t    uint16
	}{{"www.example.test.", dns.TypeA}, {"x.wild.example.test.", dns.TypeTXT}, {"a.b.dn.example.test.", dns.TypeA},
		{"host.sub.example.test.", dns.TypeNS}, {"example.test.", dns.TypeANY}, {"loop1.example.test.", dns.TypeA},
		{"\\000.example.test.", dns.TypeDS}} {
		m := new(dns.Msg)
		m.SetQuestion(q.name, q.t)
		m.SetEdns0(1232, true)
		b, _ := m.Pack()
		f.Add(b)
	}
	a := newTestAuthZone(f)
	a.Next = test.NextHandler(dns.RcodeRefused, nil)
	f.Fuzz(func(t *testing.T, b []byte) {
		m := new(dns.Msg)
		if err := m.Unpack(b); err != nil || len(m.Question) != 1 {
			return
		}
		r := serveMsg(a, m)
		if r == nil {
			return // not our zone: next plugin
		}
		switch r.Rcode {
		case dns.RcodeSuccess, dns.RcodeNameError, dns.RcodeRefused, dns.RcodeFormatError, dns.RcodeServerFailure, dns.RcodeYXDomain:
		default:
			t.Fatalf("rcode %d for %v", r.Rcode, m.Question[0])
		}
		if _, err := r.Pack(); err != nil {
			t.Fatalf("answer does not pack: %v", err)
		}
	})
}

// edeOf is the Extended DNS Error of an answer, or nil.
func edeOf(m *dns.Msg) *dns.EDNS0_EDE {
	if o := m.IsEdns0(); o != nil {
		for _, e := range o.Option {
			if x, ok := e.(*dns.EDNS0_EDE); ok {
				return x
			}
		}
	}
	return nil
}
