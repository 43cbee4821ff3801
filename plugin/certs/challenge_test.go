package certs

import (
	"context"
	"net"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/miekg/dns"

	"github.com/dnspki/dnspki/plugin/pkg/zonemodel"
)

const testZone = `$ORIGIN example.test.
$TTL 300
@ IN SOA ns1 hostmaster 1 3600 600 86400 60
  IN NS ns1
  IN NS ns2
ns1 IN A 192.0.2.53
ns2 IN AAAA 2001:db8::54
www IN A 192.0.2.10
`

// openZone opens example.test with the given views and binds m's zone to it.
func openZone(t *testing.T, m *manager, views ...string) *zonemodel.Zone {
	t.Helper()
	z := zonemodel.New(zonemodel.Config{Origin: "example.test", StateDir: t.TempDir(), Views: views})
	base, _ := z.AddSource("file", zonemodel.SourceOptions{Base: true})
	zd, err := zonemodel.ParseZone(strings.NewReader(testZone), "example.test.", "z")
	if err != nil {
		t.Fatal(err)
	}
	base.SetInitial(nil, zd.RRs)
	zb := &zoneBinding{origin: "example.test."}
	if err := zb.attach(z); err != nil {
		t.Fatal(err)
	}
	if err := z.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(z.Close)
	m.zones["example.test."] = zb
	return z
}

// The dns-01 provider writes the challenge into the zone model (every
// view) and removes it; the check sees it in every view.
func TestProviderWritesEveryView(t *testing.T) {
	m := testManager(t)
	z := openZone(t, m, "inside", "outside")
	c := &cert{m: m, cfg: &certConfig{id: "unit-dns01"}}
	p := &dnsProvider{m: m, c: c}
	rr := challengeTXT(dns01Owner("*.www.example.test"), accountValue("token.thumb"), 60)
	if rr.Hdr.Name != "_acme-challenge.www.example.test." {
		t.Fatalf("owner %s", rr.Hdr.Name)
	}
	match := func(rrs []dns.RR) bool {
		for _, x := range rrs {
			if x.(*dns.TXT).Txt[0] == rr.Txt[0] {
				return true
			}
		}
		return false
	}
	if _, missing := m.served(context.Background(), m.zones["example.test."], rr.Hdr.Name, dns.TypeTXT, true, match); len(missing) != 2 {
		t.Fatalf("missing before Present: %v", missing)
	}
	if err := p.Present(context.Background(), "www.example.test", "token", "token.thumb"); err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"inside", "outside"} {
		set := z.View(v).Snapshot().Get(rr.Hdr.Name, dns.TypeTXT)
		if set == nil || set.RRs[0].(*dns.TXT).Txt[0] != rr.Txt[0] || set.TTL() != 60 {
			t.Fatalf("view %s: %v", v, set)
		}
	}
	servers, missing := m.served(context.Background(), m.zones["example.test."], rr.Hdr.Name, dns.TypeTXT, true, match)
	if len(missing) != 0 || len(servers) != 2 {
		t.Fatalf("served: %v missing %v", servers, missing)
	}
	if err := p.CleanUp(context.Background(), "www.example.test", "token", "token.thumb"); err != nil {
		t.Fatal(err)
	}
	if set := z.View("outside").Snapshot().Get(rr.Hdr.Name, dns.TypeTXT); set != nil {
		t.Fatalf("after CleanUp: %v", set)
	}
}

// The check asks every check server and reports the ones that do not serve
// the record yet.
func TestServedAsksCheckServers(t *testing.T) {
	var has atomic.Bool
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		a := new(dns.Msg)
		a.SetReply(r)
		a.Authoritative = true
		if has.Load() {
			a.Answer = append(a.Answer, &dns.TXT{Hdr: dns.RR_Header{Name: r.Question[0].Name, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 60}, Txt: []string{"v"}})
		}
		w.WriteMsg(a)
	})}
	go srv.ActivateAndServe()
	defer srv.Shutdown()
	m := testManager(t)
	m.b.checks = []string{pc.LocalAddr().String()}
	z := openZone(t, m)
	src := z.Source(SourceName)
	name := "_acme-challenge.www.example.test."
	src.Update(nil, func(tx *zonemodel.Tx) error {
		tx.Add(&dns.TXT{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 60}, Txt: []string{"v"}})
		return nil
	})
	match := func(rrs []dns.RR) bool { return len(rrs) == 1 && rrs[0].(*dns.TXT).Txt[0] == "v" }
	_, missing := m.served(context.Background(), m.zones["example.test."], name, dns.TypeTXT, true, match)
	if len(missing) != 1 || missing[0] != pc.LocalAddr().String() {
		t.Fatalf("missing %v, want the check server", missing)
	}
	has.Store(true)
	if _, missing := m.served(context.Background(), m.zones["example.test."], name, dns.TypeTXT, true, match); len(missing) != 0 {
		t.Fatalf("missing %v", missing)
	}
}

func TestNSAddresses(t *testing.T) {
	m := testManager(t)
	z := openZone(t, m)
	got := nsAddresses(context.Background(), z.View("").Snapshot(), "example.test.")
	if strings.Join(got, " ") != "192.0.2.53:53 [2001:db8::54]:53" {
		t.Fatalf("NS addresses %v", got)
	}
	m.b.checks = []string{checkNS, "192.0.2.53:53", checkNone}
	ts := m.targets(context.Background(), m.zones["example.test."])
	if len(ts) != 2 || ts[0].view != "default" {
		t.Fatalf("targets %+v", ts)
	}
}
