package authzone

import (
	"bytes"
	"context"
	"fmt"
	stdlog "log"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/request"
	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/dnspki/dnspki/plugin/pkg/loglimit"
	"github.com/dnspki/dnspki/plugin/pkg/secondary"
	"github.com/dnspki/dnspki/plugin/pkg/tsigauth"
	"github.com/dnspki/dnspki/plugin/pkg/xfrpeer"
	"github.com/dnspki/dnspki/plugin/pkg/zonemodel"
)

const (
	testKey    = "xfr-key."
	testSecret = "eGZyLWtleS1zZWNyZXQtZm9yLXRlc3RzLTAxMjM0NTY="
)

func testZoneText(serial uint32, extra string) string {
	return fmt.Sprintf(`$ORIGIN example.test.
$TTL 3600
@ IN SOA ns1 hostmaster %d 2 1 30 300
  IN NS ns1
ns1 IN A 192.0.2.53
www IN A 192.0.2.10
%s`, serial, extra)
}

// testServer is an AuthZone served on loopback UDP and TCP by miekg/dns
// servers set up as CoreDNS sets them up (TSIG secrets, scrub writer).
type testServer struct {
	a     *AuthZone
	reg   *zonemodel.Registry
	addr  string
	stops []func()
	dir   string
}

// startTest builds the authzone directive body (the zone is example.test)
// with STATE replaced by a state directory, opens the zones and serves them
// on addr ("" for a free port).
func startTest(t *testing.T, dir, body, addr string) *testServer {
	t.Helper()
	body = strings.ReplaceAll(body, "STATE", filepath.Join(dir, "state"))
	c := caddy.NewTestController("dns", "authzone example.test {\n"+body+"\n}")
	a, reg, err := build(c)
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	return serve(t, a, reg, dir, addr)
}

func (ts *testServer) stop() {
	for _, f := range ts.stops {
		f()
	}
	ts.stops = nil
}

func (ts *testServer) zone() *zonemodel.Zone { return ts.a.Zone("example.test.") }

func writeZone(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// addRecords commits a change adding records through a test source.
func addTXT(t *testing.T, z *zonemodel.Zone, name string, n int, size int) {
	t.Helper()
	src := z.Source("test")
	if err := src.Update(nil, func(tx *zonemodel.Tx) error {
		for i := 0; i < n; i++ {
			rr, err := dns.NewRR(fmt.Sprintf(`%s 60 IN TXT "%d-%s"`, name, i, strings.Repeat("x", size)))
			if err != nil {
				return err
			}
			tx.Add(rr)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

func axfr(t *testing.T, addr string, key, secret string) ([]dns.RR, error) {
	t.Helper()
	m := new(dns.Msg)
	m.SetAxfr("example.test.")
	tr := &dns.Transfer{}
	if key != "" {
		m.SetTsig(key, dns.HmacSHA256, 300, time.Now().Unix())
		tr.TsigSecret = map[string]string{key: secret}
	}
	ch, err := tr.In(m, addr)
	if err != nil {
		return nil, err
	}
	var out []dns.RR
	for e := range ch {
		if e.Error != nil {
			return out, e.Error
		}
		out = append(out, e.RR...)
	}
	return out, nil
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ body, want string }{
		{"file db\nprimary 127.0.0.1", "exclusive"},
		{"transfer to 127.0.0.1 key nokey.", "not defined"},
		{"file db\ntransfer 127.0.0.1", "transfer to"},
		{"file db\ntransfer to 300.1.1.1", "not an address"},
		{"file db\nnotify example.com:53", "not an IP address"},
		{"file db\nkey k. hmac-sha999 c2VjcmV0", "unknown TSIG algorithm"},
		{"file db\nkey k. hmac-sha256 !!!", "not base64"},
		{"file db\ntransfer to * view nosuch", "not declared"},
		{"file db\nallow-notify 127.0.0.1", "secondary"},
		{"primary 127.0.0.1 key a. b.\nkey a. hmac-sha256 c2VjcmV0", "one key"},
		{"file db\ntransfer to * signed yes", "no arguments"},
	} {
		c := caddy.NewTestController("dns", "authzone example.test {\n"+tc.body+"\n}")
		_, err := parse(c, tsigauth.ForBlock(c))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: got %v, want an error with %q", tc.body, err, tc.want)
		}
	}
	c := caddy.NewTestController("dns", `authzone example.test {
    primary 192.0.2.1 [2001:db8::1]:5300 key xfr-key.
    allow-notify 10.0.0.0/8 key xfr-key.
    key xfr-key. hmac-sha256 `+testSecret+`
    transfer to 127.0.0.0/8 ::1 key xfr-key.
    transfer to *
    notify 127.0.0.1:1054 key xfr-key.
}`)
	specs, err := parse(c, tsigauth.ForBlock(c))
	if err != nil {
		t.Fatal(err)
	}
	sp := specs[0]
	if len(sp.primaries) != 2 || sp.primaries[1].Addr != "[2001:db8::1]:5300" || sp.primaries[0].Addr != "192.0.2.1:53" || sp.primaries[1].Key == nil || sp.primaries[1].Key.Algorithm != dns.HmacSHA256 {
		t.Fatalf("primaries: %+v", sp.primaries)
	}
	if len(sp.transfers) != 2 || len(sp.transfers[0].nets) != 2 || sp.transfers[0].keys[0] != testKey || len(sp.transfers[1].keys) != 0 {
		t.Fatalf("transfers: %+v", sp.transfers)
	}
	if len(sp.notifies) != 1 || sp.notifies[0].Key == nil {
		t.Fatalf("notifies: %+v", sp.notifies)
	}
}

func primaryBody(zonefile string, extra string) string {
	return fmt.Sprintf(`file %s
    state STATE
    reload 0
    key %s hmac-sha256 %s
    %s`, zonefile, testKey, testSecret, extra)
}

// startPrimary serves a primary with a dynamic "test" source for changes.
func startPrimary(t *testing.T, extra string) *testServer {
	t.Helper()
	dir := t.TempDir()
	zf := filepath.Join(dir, "db")
	writeZone(t, zf, testZoneText(100, ""))
	body := primaryBody(zf, extra)
	body = strings.ReplaceAll(body, "STATE", filepath.Join(dir, "state"))
	return serveWithTestSource(t, body, dir)
}

func serve(t *testing.T, a *AuthZone, reg *zonemodel.Registry, dir, addr string) *testServer {
	t.Helper()
	ts := &testServer{a: a, reg: reg, dir: dir}
	for _, zs := range a.zones {
		if err := a.start(reg, zs); err != nil {
			t.Fatalf("start: %v", err)
		}
		ts.stops = append(ts.stops, zs.stop)
	}
	l, pc := listen(t, addr)
	addr = l.Addr().String()
	// As CoreDNS serves it: the DNS server checks MACs with the block's
	// secrets, the block's gate comes first and decides who signed.
	secrets := a.block.Ring.Secrets()
	ctx := context.WithValue(context.Background(), dnsserver.Key{}, &dnsserver.Server{Addr: "dns://" + addr, TsigSecret: secrets})
	gate := a.block.Gate(a)
	h := dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		gate.ServeDNS(ctx, request.NewScrubWriter(r, w), r)
	})
	for _, srv := range []*dns.Server{
		{Listener: l, Handler: h, TsigSecret: secrets},
		{PacketConn: pc, Handler: h, TsigSecret: secrets},
	} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		go srv.ActivateAndServe()
		select {
		case <-started:
		case <-time.After(5 * time.Second):
			t.Fatalf("server on %s did not start", addr)
		}
		ts.stops = append([]func(){func() { srv.Shutdown() }}, ts.stops...)
	}
	ts.addr = addr
	t.Cleanup(ts.stop)
	return ts
}

// listen opens TCP and UDP on addr, or on a port free for both when addr
// is "".
func listen(t *testing.T, addr string) (net.Listener, net.PacketConn) {
	t.Helper()
	for i := 0; i < 50; i++ {
		a := addr
		if a == "" {
			a = "127.0.0.1:0"
		}
		l, err := net.Listen("tcp", a)
		if err != nil {
			t.Fatal(err)
		}
		pc, err := net.ListenPacket("udp", l.Addr().String())
		if err == nil {
			return l, pc
		}
		l.Close()
		if addr != "" {
			t.Fatal(err)
		}
	}
	t.Fatal("no port free for TCP and UDP")
	return nil, nil
}

// freeAddr is an address to serve on later (a port free for TCP and UDP now).
func freeAddr(t *testing.T) string {
	t.Helper()
	l, pc := listen(t, "")
	addr := l.Addr().String()
	l.Close()
	pc.Close()
	return addr
}

func TestTransferACLAndTSIG(t *testing.T) {
	p := startPrimary(t, "transfer to 127.0.0.0/8 key "+testKey)
	// Enough data for several messages.
	addTXT(t, p.zone(), "big.example.test.", 300, 200)

	if _, err := axfr(t, p.addr, "", ""); err == nil || !strings.Contains(err.Error(), "rcode: 5") {
		t.Fatalf("unsigned AXFR: %v, want REFUSED", err)
	}
	if _, err := axfr(t, p.addr, testKey, "d3Jvbmctc2VjcmV0LXdyb25nLXNlY3JldC0wMTIzNDU="); err == nil {
		t.Fatal("AXFR with a bad MAC succeeded")
	}
	if _, err := axfr(t, p.addr, "other.", testSecret); err == nil {
		t.Fatal("AXFR with an unknown key succeeded")
	}
	rrs, err := axfr(t, p.addr, testKey, testSecret)
	if err != nil {
		t.Fatalf("signed AXFR: %v", err)
	}
	if n := p.zone().View("").Snapshot().Records(); len(rrs) != n+1 {
		t.Fatalf("AXFR gave %d records, zone has %d (+1 closing SOA)", len(rrs), n)
	}

	// The secondary's client reads with strict TSIG on every message.
	pr := &xfrpeer.Peer{Addr: p.addr}
	k, _ := p.a.block.Ring.Get(testKey)
	pr.Key = &k
	res, err := secondary.Transfer(context.Background(), pr, "example.test.", dns.TypeAXFR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if res.Msgs < 3 || res.Kind != "axfr" || len(res.All) != len(rrs)-1 {
		t.Fatalf("xfrIn: %d messages, kind %s, %d records", res.Msgs, res.Kind, len(res.All))
	}
}

// Refused transfers from strangers are logged within the refusal log
// budget (package loglimit), not a line per request, and counted in full.
func TestRefusedTransferLogBudget(t *testing.T) {
	p := startPrimary(t, "transfer to 127.0.0.0/8 key "+testKey)
	loglimit.Refusals.Reset()
	var buf bytes.Buffer
	stdlog.SetOutput(&buf)
	defer stdlog.SetOutput(os.Stderr)
	refused := xfrOut.WithLabelValues("example.test.", "default", "unauthorized", "IXFR", "refused")
	counted := testutil.ToFloat64(refused)
	const n = 100
	start := time.Now()
	for i := 0; i < n; i++ {
		m := new(dns.Msg)
		m.SetIxfr("example.test.", 1, "ns1.example.test.", "hostmaster.example.test.")
		r, err := dns.Exchange(m, p.addr)
		if err != nil || r.Rcode != dns.RcodeRefused {
			t.Fatalf("unsigned IXFR over UDP: %v %v", r, err)
		}
	}
	if got := testutil.ToFloat64(refused) - counted; got != n {
		t.Fatalf("%v refused IXFRs counted, want %d", got, n)
	}
	lines := strings.Count(buf.String(), "IXFR from 127.0.0.1 refused")
	seconds := int(time.Since(start)/time.Second) + 2
	if lines == 0 || lines > loglimit.Burst*seconds || lines >= n {
		t.Fatalf("%d log lines for %d refused transfers in at most %d seconds", lines, n, seconds)
	}
}

func TestIXFRFromJournal(t *testing.T) {
	p := startPrimary(t, "transfer to * key "+testKey+"\n    journal 3")
	z := p.zone()
	v := z.View("")
	base := v.Snapshot().Serial
	addTXT(t, z, "a.example.test.", 1, 10)
	addTXT(t, z, "b.example.test.", 1, 10)
	k, _ := p.a.block.Ring.Get(testKey)
	pr := &xfrpeer.Peer{Addr: p.addr, Key: &k}

	res, err := secondary.Transfer(context.Background(), pr, "example.test.", dns.TypeIXFR, base)
	if err != nil {
		t.Fatal(err)
	}
	if res.Kind != "ixfr" || len(res.Diffs) != 2 || res.SOA.Serial != base+2 || len(res.Diffs[0].Add) != 1 {
		t.Fatalf("IXFR: kind %s, %d diffs, serial %d", res.Kind, len(res.Diffs), res.SOA.Serial)
	}
	res, err = secondary.Transfer(context.Background(), pr, "example.test.", dns.TypeIXFR, base+2)
	if err != nil || res.Kind != "uptodate" {
		t.Fatalf("IXFR when current: %v %+v", err, res)
	}

	// UDP: fits.
	ixfrMsg := func() *dns.Msg {
		m := new(dns.Msg)
		m.SetQuestion("example.test.", dns.TypeIXFR)
		m.Ns = []dns.RR{&dns.SOA{Hdr: dns.RR_Header{Name: "example.test.", Rrtype: dns.TypeSOA, Class: dns.ClassINET}, Ns: ".", Mbox: ".", Serial: base}}
		m.SetTsig(testKey, dns.HmacSHA256, 300, time.Now().Unix())
		return m
	}
	c := &dns.Client{Net: "udp", TsigSecret: map[string]string{testKey: testSecret}}
	r, _, err := c.Exchange(ixfrMsg(), p.addr)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Answer) != 8 || r.IsTsig() == nil {
		t.Fatalf("UDP IXFR: %d records (want 8), signed %v", len(r.Answer), r.IsTsig() != nil)
	}
	// UDP: too large → the SOA alone.
	addTXT(t, z, "c.example.test.", 20, 100)
	r, _, err = c.Exchange(ixfrMsg(), p.addr)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Answer) != 1 || r.Answer[0].(*dns.SOA).Serial != base+3 {
		t.Fatalf("large UDP IXFR: %v", r.Answer)
	}

	// The journal keeps 3 changes: from base it no longer reaches, TCP falls back to AXFR.
	addTXT(t, z, "d.example.test.", 1, 10)
	res, err = secondary.Transfer(context.Background(), pr, "example.test.", dns.TypeIXFR, base)
	if err != nil {
		t.Fatal(err)
	}
	if res.Kind != "axfr" || res.SOA.Serial != base+4 {
		t.Fatalf("IXFR beyond the journal: kind %s serial %d", res.Kind, res.SOA.Serial)
	}
}

func TestSecondaryFollowsPrimary(t *testing.T) {
	// The secondary's address must be known to the primary's notify line.
	secAddr := freeAddr(t)
	p := startPrimary(t, "transfer to 127.0.0.1 key "+testKey+"\n    notify "+secAddr+" key "+testKey)
	pz := p.zone()

	sdir := t.TempDir()
	secBody := fmt.Sprintf("primary %s key %s\n    key %s hmac-sha256 %s\n    state STATE\n    transfer to 127.0.0.1", p.addr, testKey, testKey, testSecret)
	s := startTest(t, sdir, secBody, secAddr)
	sz := s.zone()
	waitFor(t, 10*time.Second, "the first transfer", func() bool {
		return sz.View("").Snapshot().Serial == pz.View("").Snapshot().Serial
	})
	if sz.Source(secondary.SourceName).Meta(secondary.MetaPrimarySerial) == nil {
		t.Fatal("primary serial not stored")
	}

	// A change on the primary reaches the secondary by NOTIFY + IXFR.
	addTXT(t, pz, "new.example.test.", 1, 10)
	want := pz.View("").Snapshot().Serial
	waitFor(t, 5*time.Second, "the change on the secondary", func() bool {
		return sz.View("").Snapshot().Get("new.example.test.", dns.TypeTXT) != nil
	})
	if got := sz.View("").Snapshot().Serial; got != want {
		t.Fatalf("secondary serves serial %d, primary %d", got, want)
	}
	if n := sz.View("").JournalLen(); n != 1 {
		t.Fatalf("secondary journal has %d entries, want 1 (the IXFR)", n)
	}

	// A NOTIFY from a non-primary or unsigned is refused.
	m := new(dns.Msg)
	m.SetNotify("example.test.")
	r, err := dns.Exchange(m, secAddr)
	if err != nil || r.Rcode != dns.RcodeRefused {
		t.Fatalf("unsigned NOTIFY: %v %v", err, r)
	}

	// Restart the secondary with the primary down: it serves at once.
	s.stop()
	p.stop()
	s2 := startTest(t, sdir, secBody, secAddr)
	if got := s2.zone().View("").Snapshot(); got.Serial != want || got.Get("new.example.test.", dns.TypeTXT) == nil {
		t.Fatalf("restarted secondary serves serial %d", got.Serial)
	}
	r, err = dns.Exchange(func() *dns.Msg { m := new(dns.Msg); m.SetQuestion("www.example.test.", dns.TypeA); return m }(), secAddr)
	if err != nil || r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
		t.Fatalf("restarted secondary answers %v %v", err, r)
	}
	// SOA expire is 30 s in the test zone: the stored refresh time carries
	// over, so only simulate the clock: expire the zone as its timer would.
	zs := s2.a.zones["example.test."]
	zs.sec.Expire("test")
	r, err = dns.Exchange(func() *dns.Msg { m := new(dns.Msg); m.SetQuestion("www.example.test.", dns.TypeA); return m }(), secAddr)
	if err != nil || r.Rcode != dns.RcodeServerFailure {
		t.Fatalf("expired secondary answers %v %v", err, r)
	}
}

func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A secondary's own sources join the transferred zone: the served serial
// then runs ahead of the primary's, and the primary's serial (kept in the
// source's metadata) is what the secondary asks IXFR from.
func TestSecondaryWithLocalSource(t *testing.T) {
	p := startPrimary(t, "transfer to 127.0.0.1 key "+testKey)
	pz := p.zone()
	sz, sec := secondaryWithLocalSource(t, p)
	waitFor(t, 10*time.Second, "the first transfer", func() bool { return sz.View("").Snapshot().Serial == 100 })

	addTXT(t, sz, "local.example.test.", 1, 5)
	if got := sz.View("").Snapshot().Serial; got != 101 {
		t.Fatalf("serial after a local change %d, want 101", got)
	}
	addTXT(t, pz, "remote.example.test.", 1, 5) // primary: 101
	sec.Notified(netip.MustParseAddr("127.0.0.1"), 101, true)
	waitFor(t, 10*time.Second, "the IXFR", func() bool {
		ps, _, _ := sec.State()
		return sz.View("").Snapshot().Get("remote.example.test.", dns.TypeTXT) != nil && ps == 101
	})
	snap := sz.View("").Snapshot()
	if snap.Get("local.example.test.", dns.TypeTXT) == nil {
		t.Fatal("the local record was lost by the transfer")
	}
	if snap.Serial != 102 {
		t.Fatalf("served serial %d, want 102 (ahead of the primary's 101)", snap.Serial)
	}
	if ps, known, _ := sec.State(); !known || ps != 101 {
		t.Fatalf("stored primary serial %d (known %v), want 101", ps, known)
	}
	if n := sz.View("").JournalLen(); n != 2 {
		t.Fatalf("journal %d entries, want 2 (local change, IXFR)", n)
	}
}

// fakeChainSigner stands in for onlinesign in the signed-transfer mode: it
// returns the snapshot's records plus a marker record.
type fakeChainSigner struct{}

func (fakeChainSigner) Render(ctx context.Context, v *zonemodel.View, req *dns.Msg, resp *zonemodel.Response, m *dns.Msg) error {
	resp.Render(m)
	return nil
}

func (fakeChainSigner) SignedZone(ctx context.Context, v *zonemodel.View, snap *zonemodel.Snapshot) ([]dns.RR, error) {
	rrs := snap.RRs()
	marker, _ := dns.NewRR(`signed.example.test. 300 IN TXT "chain"`)
	return append(rrs, marker), nil
}

func TestSignedTransferUsesChainSigner(t *testing.T) {
	dir := t.TempDir()
	zf := filepath.Join(dir, "db")
	writeZone(t, zf, testZoneText(100, ""))
	body := strings.ReplaceAll(primaryBody(zf, "transfer to 127.0.0.1 key "+testKey+" signed"), "STATE", filepath.Join(dir, "state"))

	// Without a signer that signs whole zones, the zone does not start.
	c := caddy.NewTestController("dns", "authzone example.test {\n"+body+"\n}")
	a, reg, err := build(c)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.start(reg, a.zones["example.test."]); err == nil || !strings.Contains(err.Error(), "signed") {
		t.Fatalf("start without a ChainSigner: %v", err)
	}
	a.zones["example.test."].stop()

	c = caddy.NewTestController("dns", "authzone example.test {\n"+body+"\n}")
	a, reg, err = build(c)
	if err != nil {
		t.Fatal(err)
	}
	reg.Bind("example.test.", zonemodel.Binding{Plugin: "test", Attach: func(z *zonemodel.Zone) error {
		z.SetSigner(fakeChainSigner{})
		return nil
	}})
	s := serve(t, a, reg, dir, "")
	rrs, err := axfr(t, s.addr, testKey, testSecret)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, rr := range rrs {
		if rr.Header().Name == "signed.example.test." {
			found = true
		}
	}
	if !found || rrs[0].Header().Rrtype != dns.TypeSOA || rrs[len(rrs)-1].Header().Rrtype != dns.TypeSOA {
		t.Fatalf("signed AXFR did not come from the ChainSigner: %v", rrs)
	}
}

// secondaryWithLocalSource starts a secondary of p (TSIG testKey) whose zone
// also has a dynamic source "test", and returns its zone and secondary.
func secondaryWithLocalSource(t *testing.T, p *testServer) (*zonemodel.Zone, *secondary.Secondary) {
	t.Helper()
	sdir := t.TempDir()
	body := fmt.Sprintf("primary %s key %s\n    key %s hmac-sha256 %s\n    state %s", p.addr, testKey, testKey, testSecret, filepath.Join(sdir, "state"))
	s := serveWithTestSource(t, body, sdir)
	return s.zone(), s.a.zones["example.test."].sec
}

// serveWithTestSource builds authzone example.test from the directive body,
// with a dynamic source "test" bound as other plugins bind theirs, and serves
// it with state in dir.
func serveWithTestSource(t *testing.T, body, dir string) *testServer {
	t.Helper()
	c := caddy.NewTestController("dns", "authzone example.test {\n"+body+"\n}")
	a, reg, err := build(c)
	if err != nil {
		t.Fatal(err)
	}
	reg.Bind("example.test.", zonemodel.Binding{Plugin: "test", Attach: func(z *zonemodel.Zone) error {
		_, err := z.AddSource("test", zonemodel.SourceOptions{Dynamic: true})
		return err
	}})
	return serve(t, a, reg, dir, "")
}
