package horizon

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/plugin/test"
	"github.com/miekg/dns"

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
	tsig          error
}

func (f *fakeWriter) RemoteAddr() net.Addr { return f.remote }
func (f *fakeWriter) LocalAddr() net.Addr  { return f.local }
func (f *fakeWriter) TsigStatus() error    { return f.tsig }

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
	q := func(src string, key string, tsigErr error) string {
		w := &fakeWriter{remote: &net.UDPAddr{IP: net.ParseIP(src), Port: 5353}, local: &net.UDPAddr{IP: net.ParseIP("127.0.0.1"), Port: 53}, tsig: tsigErr}
		m := new(dns.Msg)
		m.SetQuestion("www.example.test.", dns.TypeA)
		if key != "" {
			m.SetTsig(key, dns.HmacSHA256, 300, 0)
		}
		var got string
		h.Next = test.HandlerFunc(func(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
			got = zonemodel.ViewFromContext(ctx)
			return 0, nil
		})
		h.ServeDNS(context.Background(), w, m)
		return got
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
		{"192.0.2.1", "xfr-internal.", dns.ErrSig, "external"},
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

// Key selectors verify with the configuration's ring: a key bound to
// hmac-md5 (which the server cannot check) selects its view; the right
// secret under another algorithm, a wrong secret or an unknown key does
// not.
func TestSelectRing(t *testing.T) {
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
	h.Ring = tsigkey.NewRing()
	const secret = "eGZyLW1kNS1zZWNyZXQtMDEyMzQ1Njc4OWFiY2RlZg=="
	k, err := tsigkey.New("xfr-md5.", "hmac-md5", secret)
	if err != nil {
		t.Fatal(err)
	}
	h.Ring.Add(k)
	signed := func(ring *tsigkey.Ring, key, alg string) *dns.Msg {
		m := new(dns.Msg)
		m.SetAxfr("example.test.")
		m.SetTsig(key, alg, 300, time.Now().Unix())
		b, _, err := dns.TsigGenerateWithProvider(m, ring.Provider(), "", false)
		if err != nil {
			t.Fatal(err)
		}
		got := new(dns.Msg)
		if err := got.Unpack(b); err != nil {
			t.Fatal(err)
		}
		return got
	}
	other := tsigkey.NewRing()
	k2, _ := tsigkey.New("xfr-md5.", "hmac-md5", "b3RoZXItc2VjcmV0LW90aGVyLXNlY3JldA==")
	other.Add(k2)
	sha := tsigkey.NewRing()
	k3, _ := tsigkey.New("xfr-md5.", "hmac-sha256", secret)
	sha.Add(k3)
	unknown := tsigkey.NewRing()
	k4, _ := tsigkey.New("xfr-guess.", "hmac-md5", secret)
	unknown.Add(k4)
	for _, c := range []struct {
		name   string
		m      *dns.Msg
		status error // what the server's own check said
		want   string
	}{
		{"hmac-md5", signed(h.Ring, "xfr-md5.", dns.HmacMD5), dns.ErrKeyAlg, "internal"},
		{"wrong secret", signed(other, "xfr-md5.", dns.HmacMD5), dns.ErrKeyAlg, "external"},
		{"other algorithm", signed(sha, "xfr-md5.", dns.HmacSHA256), nil, "external"},
		{"unknown key", signed(unknown, "xfr-guess.", dns.HmacMD5), dns.ErrSecret, "external"},
	} {
		w := &fakeWriter{remote: &net.TCPAddr{IP: net.ParseIP("192.0.2.7"), Port: 5353}, local: &net.TCPAddr{IP: net.ParseIP("127.0.0.1"), Port: 53}, tsig: c.status}
		if v := h.Select(w, c.m); v == nil || v.Name != c.want {
			t.Errorf("%s: view %v, want %s", c.name, v, c.want)
		}
	}
}
