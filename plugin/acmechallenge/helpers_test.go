package acmechallenge

import (
	"context"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/plugin"
	"github.com/miekg/dns"

	"github.com/dnspki/dnspki/plugin/pkg/grants"
	"github.com/dnspki/dnspki/plugin/pkg/tsigauth"
	"github.com/dnspki/dnspki/plugin/pkg/tsigkey"
	"github.com/dnspki/dnspki/plugin/pkg/zonemodel"
)

const (
	origin    = "example.test."
	wwwSecret = "c2VjcmV0LWFjbWUtd3d3LWtleS0wMTIzNDU2Nzg5YWI="
	md5Secret = "bWQ1LWtleS1mb3ItY2VydGJvdC10ZXN0cy0wMTIzNDU="
	// Two ACME digests (43 base64url characters).
	v1 = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ"
	v2 = "0123456789_-abcdefghijklmnopqrstuvwxyzABCDE"
	v3 = "ZYXWVUTSRQPONMLKJIHGFEDCBAzyxwvutsrqponmlkj"
)

const baseZone = `$ORIGIN example.test.
@ 3600 IN SOA ns1 hostmaster 1 3600 900 1209600 60
@ 3600 IN NS ns1
ns1 3600 IN A 192.0.2.53
www 3600 IN A 192.0.2.10
mail 3600 IN A 192.0.2.25
intra 3600 IN A 192.0.2.40
_acme-challenge.cn.intra 3600 IN CNAME delegated.example.org.
_validation-persist.cn.intra 3600 IN CNAME delegated.example.org.
deleg.intra 3600 IN NS ns.example.org.
`

const testCorefile = `acmechallenge example.test {
	key acme-www. hmac-sha256 ` + wwwSecret + `
	key acme-md5. hmac-md5 ` + md5Secret + `
	key host.intra.example.test. hmac-sha256 ` + wwwSecret + `
	user lego lego-pass
	grant acme-www. name www.example.test
	grant acme-www. subdomain intra.example.test
	grant acme-md5. name mail.example.test
	grant host.intra.example.test. self
	grant lego name api.example.test
	http 127.0.0.1:0
	%s
}`

// fixture is a plugin bound to a real zone model (stored in a temporary
// directory).
type fixture struct {
	t     *testing.T
	a     *AcmeChallenge
	z     *zone
	model *zonemodel.Zone
	dir   string
	extra string
	// block is the server block's TSIG trust with the plugin's keys; its
	// gate (first in the chain, as in a server) decides who signed.
	block *tsigauth.Block
}

func newFixture(t *testing.T, extra string) *fixture {
	t.Helper()
	f := &fixture{t: t, dir: t.TempDir(), extra: extra}
	f.open()
	return f
}

// open parses the Corefile and opens the zone (again, after close: a restart).
func (f *fixture) open() {
	t := f.t
	t.Helper()
	a, z, m := openZone(t, strings.Replace(testCorefile, "%s", f.extra, 1), f.dir)
	f.a, f.z, f.model = a, z, m
	f.block = blockOf(a)
	t.Cleanup(f.close)
}

// openZone parses an acmechallenge directive and opens its zone in dir, with
// baseZone as the base file and the given views (none: the default view).
func openZone(t testing.TB, corefile, dir string, views ...string) (*AcmeChallenge, *zone, *zonemodel.Zone) {
	t.Helper()
	a, err := parse(newController(corefile))
	if err != nil {
		t.Fatal(err)
	}
	m := zonemodel.New(zonemodel.Config{Origin: origin, StateDir: dir, Views: views})
	zd, err := zonemodel.ParseZone(strings.NewReader(baseZone), origin, "test")
	if err != nil {
		t.Fatal(err)
	}
	base, err := m.AddSource("file", zonemodel.SourceOptions{Base: true})
	if err != nil {
		t.Fatal(err)
	}
	base.SetInitial(nil, zd.RRs)
	z := a.zones[origin]
	if err := z.attach(m); err != nil {
		t.Fatal(err)
	}
	if err := m.Open(); err != nil {
		t.Fatal(err)
	}
	if err := z.started(m); err != nil {
		t.Fatal(err)
	}
	return a, z, m
}

func (f *fixture) close() {
	if f.model != nil {
		f.z.shutdown()
		f.model.Close()
		f.model = nil
	}
}

func (f *fixture) restart() {
	f.close()
	f.open()
}

func (f *fixture) serial() uint32 { return f.model.View("").Snapshot().Serial }

// txt returns the served TXT values at name.
func (f *fixture) txt(name string) []string {
	set := f.model.View("").Snapshot().Get(zonemodel.Fqdn(name), dns.TypeTXT)
	if set == nil {
		return nil
	}
	var out []string
	for _, rr := range set.RRs {
		out = append(out, strings.Join(rr.(*dns.TXT).Txt, ""))
	}
	return out
}

// writer is a dns.ResponseWriter that records what the plugin writes and
// reports the TSIG status the server computed.
type writer struct {
	status error
	msg    *dns.Msg
	raw    bool
}

func (w *writer) LocalAddr() net.Addr  { return &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 53} }
func (w *writer) RemoteAddr() net.Addr { return &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000} }
func (w *writer) WriteMsg(m *dns.Msg) error {
	w.msg = m
	return nil
}
func (w *writer) Write(b []byte) (int, error) {
	m := new(dns.Msg)
	if err := m.Unpack(b); err != nil {
		return 0, err
	}
	w.msg, w.raw = m, true
	return len(b), nil
}
func (w *writer) Close() error        { return nil }
func (w *writer) TsigStatus() error   { return w.status }
func (w *writer) TsigTimersOnly(bool) {}
func (w *writer) Hijack()             {}

// key is how a test signs: name, algorithm, secret; time offset.
type key struct {
	name, alg, secret string
	skew              time.Duration
}

var (
	wwwKey  = key{name: "acme-www.", alg: dns.HmacSHA256, secret: wwwSecret}
	md5Key  = key{name: "acme-md5.", alg: dns.HmacMD5, secret: md5Secret}
	hostKey = key{name: "host.intra.example.test.", alg: dns.HmacSHA256, secret: wwwSecret}
)

// send signs m with k (nil: unsigned), puts it through the wire as the
// server would (computing the TSIG status with the server's secrets) and
// returns the reply.
func (f *fixture) send(m *dns.Msg, k *key) *dns.Msg {
	t := f.t
	t.Helper()
	w := &writer{}
	var b []byte
	var err error
	if k != nil {
		ring := tsigkey.NewRing()
		kk, err := tsigkey.New(k.name, tsigkey.AlgorithmName(k.alg), k.secret)
		if err != nil {
			t.Fatal(err)
		}
		ring.Add(kk)
		m.SetTsig(k.name, k.alg, 300, time.Now().Add(k.skew).Unix())
		b, _, err = dns.TsigGenerateWithProvider(m, ring.Provider(), "", false)
		if err != nil {
			t.Fatal(err)
		}
		// What the DNS server computes with the secrets registered at setup.
		w.status = dns.TsigVerify(slices.Clone(b), f.a.ring.Secrets()[strings.ToLower(k.name)], "", false)
		if _, ok := f.a.ring.Secrets()[strings.ToLower(k.name)]; !ok {
			w.status = dns.ErrSecret
		}
	} else {
		b, err = m.Pack()
		if err != nil {
			t.Fatal(err)
		}
	}
	in := new(dns.Msg)
	if err := in.Unpack(b); err != nil {
		t.Fatal(err)
	}
	// As CoreDNS serves it: the DNS server holds the block's secrets, the
	// gate comes first.
	if _, err := f.block.Gate(f.a).ServeDNS(serverContext(f.a), w, in); err != nil {
		t.Fatal(err)
	}
	if w.msg == nil {
		t.Fatal("no reply")
	}
	return w.msg
}

func rr(s string) dns.RR {
	r, err := dns.NewRR(s)
	if err != nil {
		panic(err)
	}
	return r
}

func update(rrs ...dns.RR) *dns.Msg {
	m := new(dns.Msg)
	m.SetUpdate(origin)
	m.Insert(rrs)
	return m
}

func txtRR(name, value string) dns.RR {
	return &dns.TXT{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 120}, Txt: []string{value}}
}

func newController(corefile string) *caddy.Controller {
	return caddy.NewTestController("dns", corefile)
}

func changeAdd(r dns.RR) grants.Change {
	return grants.Change{Op: grants.Add, Name: r.Header().Name, Type: r.Header().Rrtype, RR: r}
}

// blockOf is the server block's TSIG trust holding the plugin's keys, as
// setup makes it.
func blockOf(a *AcmeChallenge) *tsigauth.Block {
	b := tsigauth.NewTestBlock()
	for _, n := range a.ring.Names() {
		k, _ := a.ring.Get(n)
		if err := b.AddKey(k, "test"); err != nil {
			panic(err)
		}
	}
	return b
}

// gateOf is the plugin behind a gate of its own block (a fresh replay memory).
func gateOf(a *AcmeChallenge) plugin.Handler { return blockOf(a).Gate(a) }

// serverContext is the context CoreDNS's DNS server gives a request: the
// server, holding the plugin's secrets (with which w's TSIG status must have
// been computed).
func serverContext(a *AcmeChallenge) context.Context {
	return context.WithValue(context.Background(), dnsserver.Key{}, &dnsserver.Server{Addr: "dns://127.0.0.1:53", TsigSecret: a.ring.Secrets()})
}
