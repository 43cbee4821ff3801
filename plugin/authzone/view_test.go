package authzone

import (
	"context"
	"strings"
	"testing"

	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/plugin/test"
	"github.com/miekg/dns"

	"github.com/dnspki/dnspki/plugin/pkg/zonemodel"
)

// newViewsAuthZone serves example.test with views internal and external
// (the default): www is 192.0.2.10 in the base file, 10.0.0.10 in the
// internal view's file.
func newViewsAuthZone(t *testing.T) *AuthZone {
	t.Helper()
	z := zonemodel.New(zonemodel.Config{Origin: "example.test.", StateDir: t.TempDir(), Views: []string{"internal", "external"}})
	base, err := z.AddSource("file", zonemodel.SourceOptions{Base: true})
	if err != nil {
		t.Fatal(err)
	}
	in, err := z.AddSource("file:internal", zonemodel.SourceOptions{Views: []string{"internal"}, Override: true})
	if err != nil {
		t.Fatal(err)
	}
	zd, err := zonemodel.ParseZone(strings.NewReader(testZoneText(1, "")), "example.test.", "base")
	if err != nil {
		t.Fatal(err)
	}
	base.SetInitial(nil, zd.RRs)
	rr, _ := dns.NewRR("www.example.test. 300 IN A 10.0.0.10")
	in.SetInitial(nil, []dns.RR{rr})
	if err := z.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(z.Close)
	return &AuthZone{zones: map[string]*zoneState{z.Origin: {zone: z, spec: &zoneSpec{origin: z.Origin}}}, origins: []string{z.Origin}}
}

// wwwA asks www.example.test A with the stock view plugin's view name in
// the context ("" none) and, if horizon is set, horizon's view.
func wwwA(t *testing.T, a *AuthZone, stock, horizon string) string {
	t.Helper()
	ctx := context.Background()
	if stock != "" {
		ctx = context.WithValue(ctx, dnsserver.ViewKey{}, stock)
	}
	if horizon != "" {
		ctx = zonemodel.WithView(ctx, horizon)
	}
	m := new(dns.Msg)
	m.SetQuestion("www.example.test.", dns.TypeA)
	rec := &recorder{ResponseWriter: &test.ResponseWriter{}}
	a.ServeDNS(ctx, rec, m)
	if rec.msg == nil {
		t.Fatal("no reply")
	}
	if rec.msg.Rcode != dns.RcodeSuccess || len(rec.msg.Answer) != 1 {
		return dns.RcodeToString[rec.msg.Rcode]
	}
	return rec.msg.Answer[0].(*dns.A).A.String()
}

// The stock view plugin's view name (dnsserver.ViewKey) selects the zone's
// view of that name; horizon's view comes first; a zone without views
// serves its one view whatever the block's view is called.
func TestStockViewName(t *testing.T) {
	a := newViewsAuthZone(t)
	for _, c := range []struct{ stock, horizon, want string }{
		{"", "", "192.0.2.10"},
		{"internal", "", "10.0.0.10"},
		{"external", "", "192.0.2.10"},
		{"lan", "", "192.0.2.10"}, // not a view of the zone (setup refuses this configuration)
		{"external", "internal", "10.0.0.10"},
		{"internal", "external", "192.0.2.10"},
	} {
		if got := wwwA(t, a, c.stock, c.horizon); got != c.want {
			t.Errorf("stock view %q, horizon %q: %s, want %s", c.stock, c.horizon, got, c.want)
		}
	}
	plain := newTestAuthZone(t)
	if got := wwwA(t, plain, "internal", ""); got == "REFUSED" || got == "SERVFAIL" {
		t.Fatalf("zone without views in a block with view internal: %s", got)
	}

	if err := checkStockView(a, "internal", false); err != nil {
		t.Fatal(err)
	}
	if err := checkStockView(a, "", false); err != nil {
		t.Fatal(err)
	}
	if err := checkStockView(a, "lan", true); err != nil {
		t.Fatalf("with horizon: %v", err)
	}
	if err := checkStockView(plain, "lan", false); err != nil {
		t.Fatalf("zone without views: %v", err)
	}
	if err := checkStockView(a, "lan", false); err == nil || !strings.Contains(err.Error(), `view "lan"`) || !strings.Contains(err.Error(), "internal external") {
		t.Fatalf("block view lan, zone views internal external: %v", err)
	}
}
