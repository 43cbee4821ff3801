package authzone

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/dnspki/dnspki/plugin/pkg/secondary"
	"github.com/dnspki/dnspki/plugin/pkg/xfrpeer"
	"github.com/miekg/dns"
)

// downstreamOf returns the status of the secondary labelled peer in the
// zone's status (nil when absent).
func downstreamOf(t *testing.T, peer string) *DownstreamStatus {
	t.Helper()
	for _, z := range Status() {
		if z.Zone != "example.test." {
			continue
		}
		for _, d := range z.Downstream {
			if d.Peer == peer {
				return &d
			}
		}
	}
	return nil
}

// TestDownstreamStatus: a secondary's acknowledged serial is the one its
// IXFR request names when it is current, the one a transfer sent it
// otherwise; its lag is how many serials the zone moved since (RFC 1982);
// the zone's status lists its views with serial and last change.
func TestDownstreamStatus(t *testing.T) {
	p := startPrimary(t, "transfer to * key "+testKey)
	z := p.zone()
	base := z.View("").Snapshot().Serial
	k, _ := p.a.block.Ring.Get(testKey)
	pr := &xfrpeer.Peer{Addr: p.addr, Key: &k}
	if d := downstreamOf(t, testKey); d != nil {
		t.Fatalf("a secondary before any transfer: %+v", d)
	}

	if res, err := secondary.Transfer(context.Background(), pr, "example.test.", dns.TypeIXFR, base); err != nil || res.Kind != "uptodate" {
		t.Fatalf("IXFR when current: %v %+v", err, res)
	}
	// The server records the transfer once it has written it: the client
	// may read the answer first.
	waitFor(t, 10*time.Second, "the up-to-date IXFR recorded", func() bool { return downstreamOf(t, testKey) != nil })
	d := downstreamOf(t, testKey)
	if d == nil || !d.SerialKnown || d.Serial != base || d.SerialFrom != "uptodate" || d.Lag != 0 || d.Key != testKey || d.SeenAt.IsZero() {
		t.Fatalf("after an up-to-date IXFR: %+v", d)
	}

	addTXT(t, z, "a.example.test.", 1, 10)
	addTXT(t, z, "b.example.test.", 1, 10)
	if d := downstreamOf(t, testKey); d == nil || d.Serial != base || d.Lag != 2 {
		t.Fatalf("two changes later: %+v, want serial %d lag 2", d, base)
	}

	if res, err := secondary.Transfer(context.Background(), pr, "example.test.", dns.TypeIXFR, base); err != nil || res.Kind != "ixfr" {
		t.Fatalf("IXFR: %v %+v", err, res)
	}
	waitFor(t, 10*time.Second, "the IXFR recorded", func() bool {
		d := downstreamOf(t, testKey)
		return d != nil && d.SerialFrom == "ixfr"
	})
	if d := downstreamOf(t, testKey); d == nil || d.Serial != base+2 || d.SerialFrom != "ixfr" || d.Lag != 0 {
		t.Fatalf("after the IXFR: %+v, want serial %d lag 0", d, base+2)
	}

	for _, zs := range Status() {
		if zs.Zone != "example.test." {
			continue
		}
		if len(zs.Views) != 1 || zs.Views[0].Serial != base+2 || !zs.Views[0].Loaded || zs.Views[0].LastChange.IsZero() {
			t.Fatalf("views: %+v", zs.Views)
		}
		return
	}
	t.Fatal("example.test. not in the status")
}

// TestDownstreamBounded: clients transferring from ever new addresses fill
// the table up to its bound and no further; the secondaries already in it
// keep being updated.
func TestDownstreamBounded(t *testing.T) {
	d := &downstream{peers: map[string]*DownstreamStatus{}}
	first := netip.MustParseAddr("2001:db8::1")
	d.transferred("default", "", first, 1, true, "", 0)
	for i := 0; i < 3*maxDownstream; i++ {
		ip := netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 1, 2, 3, 4, 0, 0, 0, 0, byte(i >> 16), byte(i >> 8), byte(i), 0})
		d.transferred("default", "", ip, 1, true, "", 0)
	}
	if len(d.peers) != maxDownstream {
		t.Fatalf("%d secondaries remembered, want the bound %d", len(d.peers), maxDownstream)
	}
	d.transferred("default", "", first, 7, true, "", 0)
	if e := d.peers["default|"+first.String()]; e == nil || e.Serial != 7 {
		t.Fatalf("the first secondary after the table filled: %+v", e)
	}
}
