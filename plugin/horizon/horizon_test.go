package horizon

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/plugin"
	"github.com/coredns/coredns/plugin/test"
	"github.com/miekg/dns"

	"github.com/dnspki/dnspki/plugin/pkg/tsigauth"
	"github.com/dnspki/dnspki/plugin/pkg/tsigkey"
	"github.com/dnspki/dnspki/plugin/pkg/zonemodel"
)

func TestParse(t *testing.T) {
	h, err := parse(caddy.NewTestController("dns", `horizon {
		view internal {
			source 127.0.0.1 10.0.0.0/8 fd00::/8
			destination 127.0.0.1/32
			key xfr-internal
		}
		view partner {
			key Partner-Key.
		}
		view external
	}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Views) != 3 || len(h.Views[0].Sources) != 3 || h.Views[0].Keys[0] != "xfr-internal." || h.Views[1].Keys[0] != "partner-key." || !h.Views[2].isDefault() {
		t.Fatalf("parsed %+v", h.Views)
	}
	for in, want := range map[string]string{
		"horizon {\nview a\nview b\n}":                         "after the default",
		"horizon {\nview a {\nsource 10.0.0.0/33\n}\n}":        "source",
		"horizon {\nview a {\necs 10.0.0.0/8\n}\n}":            "EDNS Client Subnet",
		"horizon {\nview a {\nsource 10.0.0.0/8\n}\nview a\n}": "defined twice",
		"horizon {\n}":                       "at least one view",
		"horizon {\nzone x\n}":               "unknown property",
		"horizon {\nview a {\nport 53\n}\n}": "unknown selector",
	} {
		if _, err := parse(caddy.NewTestController("dns", in)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", in, err, want)
		}
	}
}

type fakeWriter struct {
	test.ResponseWriter
	remote, local net.Addr
}

func (f *fakeWriter) RemoteAddr() net.Addr { return f.remote }
func (f *fakeWriter) LocalAddr() net.Addr  { return f.local }
func (f *fakeWriter) TsigStatus() error    { return nil }

func TestSelect(t *testing.T) {
	h, err := parse(caddy.NewTestController("dns", `horizon {
		view internal {
			source 127.0.0.1 10.0.0.0/8 fd00::/8
			key xfr-internal.
		}
		view external
	}`))
	if err != nil {
		t.Fatal(err)
	}
	internal := testKey(t, "xfr-internal.", "hmac-sha256", "eGZyLWludGVybmFsLXNlY3JldC0wMTIzNDU2Nzg5YWI=")
	other := testKey(t, "other.", "hmac-sha256", "b3RoZXItc2VjcmV0LW90aGVyLXNlY3JldA==")
	forged := testKey(t, "xfr-internal.", "hmac-sha256", "b3RoZXItc2VjcmV0LW90aGVyLXNlY3JldA==")
	block := tsigauth.NewTestBlock(internal, other)
	keys := map[string]tsigkey.Key{"xfr-internal.": internal, "other.": other, "forged": forged}
	q := func(src string, key string, _ error) string {
		w := &fakeWriter{remote: &net.UDPAddr{IP: net.ParseIP(src), Port: 5353}, local: &net.UDPAddr{IP: net.ParseIP("127.0.0.1"), Port: 53}}
		m := new(dns.Msg)
		m.SetQuestion("www.example.test.", dns.TypeA)
		if key != "" {
			m = sign(t, m, keys[key])
		}
		return viewVia(block, h, w, m)
	}
	for _, c := range []struct {
		src, key string
		err      error
		want     string
	}{
		{"127.0.0.1", "", nil, "internal"},
		{"::ffff:127.0.0.1", "", nil, "internal"},
		{"10.9.8.7", "", nil, "internal"},
		{"fd00::1", "", nil, "internal"},
		{"127.0.0.2", "", nil, "external"},
		{"::1", "", nil, "external"},
		{"192.0.2.1", "", nil, "external"},
		{"192.0.2.1", "xfr-internal.", nil, "internal"},
		{"192.0.2.1", "forged", nil, "(refused)"},
		{"192.0.2.1", "other.", nil, "external"},
	} {
		if got := q(c.src, c.key, c.err); got != c.want {
			t.Errorf("src %s key %q err %v: view %q, want %q", c.src, c.key, c.err, got, c.want)
		}
	}
}

// BenchmarkServeDNS: the cost horizon adds to a query that walks the view
// list to the default view (the bench/ entry dnspki-views measures it in
// QPS).
func BenchmarkServeDNS(b *testing.B) {
	h, err := parse(caddy.NewTestController("dns", `horizon {
		view internal {
			source 10.0.0.0/8 172.16.0.0/12 192.168.0.0/16 fd00::/8
			key xfr-internal.
		}
		view external
	}`))
	if err != nil {
		b.Fatal(err)
	}
	var got string
	h.Next = test.HandlerFunc(func(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
		got = zonemodel.ViewFromContext(ctx)
		return 0, nil
	})
	w := &fakeWriter{remote: &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5353}, local: &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 53}}
	m := new(dns.Msg)
	m.SetQuestion("www.example.test.", dns.TypeA)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		h.ServeDNS(ctx, w, m)
	}
	if got != "external" {
		b.Fatalf("view %q", got)
	}
}

// Key selectors match the key the block's gate verified (tsigauth): a key
// bound to hmac-md5 (which the server cannot check) selects its view; the
// right secret under another algorithm, a wrong secret, an unknown key or
// a second TSIG record naming the view's key is refused before horizon
// sees it.
func TestSelectVerifiedKey(t *testing.T) {
	h, err := parse(caddy.NewTestController("dns", `horizon {
		view internal {
			source 10.0.0.0/8
			key xfr-md5.
		}
		view external
	}`))
	if err != nil {
		t.Fatal(err)
	}
	const secret = "eGZyLW1kNS1zZWNyZXQtMDEyMzQ1Njc4OWFiY2RlZg=="
	md5 := testKey(t, "xfr-md5.", "hmac-md5", secret)
	acme := testKey(t, "acme-www.", "hmac-sha256", secret)
	block := tsigauth.NewTestBlock(md5, acme)
	m := func() *dns.Msg {
		m := new(dns.Msg)
		m.SetAxfr("example.test.")
		return m
	}
	twoTSIG := sign(t, m(), acme)
	twoTSIG.Extra = append(twoTSIG.Extra, &dns.TSIG{Hdr: dns.RR_Header{Name: "xfr-md5.", Rrtype: dns.TypeTSIG, Class: dns.ClassANY}, Algorithm: dns.HmacMD5, TimeSigned: uint64(time.Now().Unix()), Fudge: 300, MACSize: 16, MAC: strings.Repeat("00", 16)})
	for _, c := range []struct {
		name string
		m    *dns.Msg
		want string
	}{
		{"hmac-md5", sign(t, m(), md5), "internal"},
		{"another key of the block", sign(t, m(), acme), "external"},
		{"wrong secret", sign(t, m(), testKey(t, "xfr-md5.", "hmac-md5", "b3RoZXItc2VjcmV0LW90aGVyLXNlY3JldA==")), "(refused)"},
		{"other algorithm", sign(t, m(), testKey(t, "xfr-md5.", "hmac-sha256", secret)), "(refused)"},
		{"unknown key", sign(t, m(), testKey(t, "xfr-guess.", "hmac-md5", secret)), "(refused)"},
		{"two TSIG records", twoTSIG, "(refused)"},
	} {
		w := &fakeWriter{remote: &net.TCPAddr{IP: net.ParseIP("192.0.2.7"), Port: 5353}, local: &net.TCPAddr{IP: net.ParseIP("127.0.0.1"), Port: 53}}
		if v := viewVia(block, h, w, c.m); v != c.want {
			t.Errorf("%s: view %q, want %s", c.name, v, c.want)
		}
	}
}

func testKey(t *testing.T, name, alg, secret string) tsigkey.Key {
	t.Helper()
	k, err := tsigkey.New(name, alg, secret)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// sign returns m signed with k, as it arrives at the server.
func sign(t *testing.T, m *dns.Msg, k tsigkey.Key) *dns.Msg {
	t.Helper()
	m.SetTsig(k.Name, k.Algorithm, 300, time.Now().Unix())
	b, _, err := dns.TsigGenerateWithProvider(m, k.Provider(), "", false)
	if err != nil {
		t.Fatal(err)
	}
	got := new(dns.Msg)
	if err := got.Unpack(b); err != nil {
		t.Fatal(err)
	}
	return got
}

// viewVia sends m through the block's gate to h and returns the view h
// assigned, or "(refused)" when the gate answered the request itself.
func viewVia(b *tsigauth.Block, h *Horizon, w dns.ResponseWriter, m *dns.Msg) string {
	got := "(refused)"
	h.Next = test.HandlerFunc(func(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
		got = zonemodel.ViewFromContext(ctx)
		return 0, nil
	})
	b.Gate(h).ServeDNS(context.Background(), w, m)
	return got
}

// addrString is a net.Addr that is neither UDP nor TCP (DoH, gRPC): its
// String form is parsed.
type addrString string

func (a addrString) Network() string { return "other" }
func (a addrString) String() string  { return string(a) }

// Destination selectors match the local address the query arrived on (UDP,
// TCP, IPv4-mapped, other transports' address strings); in a view that also
// has source selectors both must match, as the manual says; a query whose
// local address is unknown matches no destination selector.
func TestSelectDestination(t *testing.T) {
	h, err := parse(caddy.NewTestController("dns", `horizon {
		view lan {
			destination 127.0.0.3 fd00::53
		}
		view both {
			source 10.0.0.0/8
			destination 192.0.2.53/32
		}
		view partner {
			destination 198.51.100.0/24
			key partner.
		}
		view external
	}`))
	if err != nil {
		t.Fatal(err)
	}
	if !h.needDst || !h.needSrc {
		t.Fatalf("needDst %v needSrc %v", h.needDst, h.needSrc)
	}
	partner := testKey(t, "partner.", "hmac-sha256", "cGFydG5lci1zZWNyZXQtMDEyMzQ1Njc4OWFiY2RlZg==")
	block := tsigauth.NewTestBlock(partner)
	udp := func(ip string) net.Addr { return &net.UDPAddr{IP: net.ParseIP(ip), Port: 53} }
	tcp := func(ip string) net.Addr { return &net.TCPAddr{IP: net.ParseIP(ip), Port: 53} }
	for _, c := range []struct {
		name       string
		src, local net.Addr
		key        string
		want       string
	}{
		{"dst 127.0.0.3 udp", udp("127.0.0.2"), udp("127.0.0.3"), "", "lan"},
		{"dst 127.0.0.3 tcp", tcp("127.0.0.2"), tcp("127.0.0.3"), "", "lan"},
		{"dst 127.0.0.3 mapped", udp("::ffff:127.0.0.2"), udp("::ffff:127.0.0.3"), "", "lan"},
		{"dst fd00::53", udp("fd00::9"), udp("fd00::53"), "", "lan"},
		{"dst 127.0.0.3 other transport", addrString("127.0.0.2:4444"), addrString("127.0.0.3:443"), "", "lan"},
		{"dst 127.0.0.1", udp("127.0.0.2"), udp("127.0.0.1"), "", "external"},
		{"dst 127.0.0.1 from the lan view's address", udp("127.0.0.3"), udp("127.0.0.1"), "", "external"},
		{"source and destination match", udp("10.1.2.3"), udp("192.0.2.53"), "", "both"},
		{"source matches, destination not", udp("10.1.2.3"), udp("192.0.2.54"), "", "external"},
		{"destination matches, source not", udp("192.0.2.1"), udp("192.0.2.53"), "", "external"},
		{"destination selector with key: address", udp("192.0.2.1"), udp("198.51.100.7"), "", "partner"},
		{"destination selector with key: key from elsewhere", udp("192.0.2.1"), udp("127.0.0.1"), "partner.", "partner"},
		{"wildcard local address", udp("192.0.2.1"), udp("::"), "", "external"},
		{"wildcard local address v4", udp("10.1.2.3"), udp("0.0.0.0"), "", "external"},
		{"no local address", udp("10.1.2.3"), nil, "", "external"},
		{"unparsable local address", udp("10.1.2.3"), addrString("@unix"), "", "external"},
	} {
		w := &fakeWriter{remote: c.src, local: c.local}
		m := new(dns.Msg)
		m.SetQuestion("www.example.test.", dns.TypeA)
		if c.key != "" {
			m = sign(t, m, partner)
		}
		if v := viewVia(block, h, w, m); v != c.want {
			t.Errorf("%s: view %v, want %s", c.name, v, c.want)
		}
	}

	// Without a default view, a query no view matches is REFUSED.
	h, err = parse(caddy.NewTestController("dns", `horizon {
		view lan {
			destination 127.0.0.3
		}
	}`))
	if err != nil {
		t.Fatal(err)
	}
	called := false
	h.Next = test.HandlerFunc(func(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
		called = true
		return 0, nil
	})
	rec := &recorder{fakeWriter: fakeWriter{remote: udp("127.0.0.3"), local: udp("127.0.0.1")}}
	m := new(dns.Msg)
	m.SetQuestion("www.example.test.", dns.TypeA)
	h.ServeDNS(context.Background(), rec, m)
	if called || rec.msg == nil || rec.msg.Rcode != dns.RcodeRefused {
		t.Fatalf("no view matches: next called %v, reply %v", called, rec.msg)
	}
}

type recorder struct {
	fakeWriter
	msg *dns.Msg
}

func (r *recorder) WriteMsg(m *dns.Msg) error { r.msg = m; return nil }

// A view selected by destination needs the server bound to specific
// addresses for UDP (a wildcard UDP socket reports 0.0.0.0 or :: as every
// query's local address, TCP the real one).
func TestCheckListeners(t *testing.T) {
	dst, err := parse(caddy.NewTestController("dns", "horizon {\nview lan {\ndestination 127.0.0.3\n}\nview external\n}"))
	if err != nil {
		t.Fatal(err)
	}
	src, err := parse(caddy.NewTestController("dns", "horizon {\nview lan {\nsource 127.0.0.3\n}\nview external\n}"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		h         *Horizon
		transport string
		hosts     []string
		ok        bool
	}{
		{dst, "dns", []string{""}, false},
		{dst, "dns", []string{"0.0.0.0"}, false},
		{dst, "dns", []string{"127.0.0.1", "::"}, false},
		{dst, "quic", []string{""}, false},
		{dst, "dns", []string{"127.0.0.1", "127.0.0.3", "::1"}, true},
		{dst, "tls", []string{""}, true},
		{dst, "https", []string{""}, true},
		{src, "dns", []string{""}, true},
	} {
		err := checkListeners(c.h, c.transport, c.hosts)
		if (err == nil) != c.ok || (err != nil && !strings.Contains(err.Error(), "bind the server to its addresses")) {
			t.Errorf("destination %v %s %q: %v", c.h.needDst, c.transport, c.hosts, err)
		}
	}
	// Through setup: the server block's listen addresses (none: wildcard).
	err = setup(caddy.NewTestController("dns", "horizon {\nview lan {\ndestination 127.0.0.3\n}\nview external\n}"))
	if err == nil || !strings.Contains(err.Error(), "view lan selects by destination") {
		t.Fatalf("setup without bind: %v", err)
	}
}

// A view-unaware stock plugin beside horizon does not start (it would
// share one view's answers with another view's clients), named with the
// fix; the others are fine.
func TestCheckNeighbours(t *testing.T) {
	for name, want := range map[string]string{"cache": "remove cache", "transfer": "authzone's own"} {
		err := checkNeighbours(func(n string) plugin.Handler {
			if n == name {
				return test.ErrorHandler()
			}
			return nil
		})
		if err == nil || !strings.Contains(err.Error(), "the "+name+" plugin cannot share a server block with horizon") || !strings.Contains(err.Error(), want) {
			t.Errorf("%s beside horizon: %v", name, err)
		}
	}
	if err := checkNeighbours(func(n string) plugin.Handler { return nil }); err != nil {
		t.Fatal(err)
	}
}

// A key selector must name a key of the server block's dnspki plugins.
func TestCheckKeys(t *testing.T) {
	h, err := parse(caddy.NewTestController("dns", "horizon {\nview internal {\nkey xfr-internal.\n}\nview external\n}"))
	if err != nil {
		t.Fatal(err)
	}
	if err := checkKeys(h, tsigauth.NewTestBlock()); err == nil || !strings.Contains(err.Error(), "no dnspki plugin of this server block defines") {
		t.Fatalf("undefined key: %v", err)
	}
	k := testKey(t, "xfr-internal.", "hmac-sha256", "eGZyLWludGVybmFsLXNlY3JldC0wMTIzNDU2Nzg5YWI=")
	if err := checkKeys(h, tsigauth.NewTestBlock(k)); err != nil {
		t.Fatal(err)
	}
}
