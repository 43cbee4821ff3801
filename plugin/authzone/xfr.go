package authzone

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/plugin/transfer"
	"github.com/miekg/dns"

	"github.com/dnspki/dnspki/plugin/pkg/zonemodel"
)

// xfrMsgSize is the uncompressed size at which an outgoing transfer starts a
// new message (each message stays far below 64 KiB).
const xfrMsgSize = 16 << 10

var errNoData = errors.New("zone has no data")

// xfrPlan is what one outgoing transfer sends, fixed when it starts.
type xfrPlan struct {
	view    *zonemodel.View
	kind    string // "axfr", "ixfr" or "uptodate"
	soa     dns.RR // the SOA the transfer opens and closes with
	snap    *zonemodel.Snapshot
	entries []*zonemodel.JournalEntry
	records []dns.RR // signed transfers: the signed zone, SOA first
}

// planTransfer decides what a transfer of view v sends: for IXFR (ixfr set,
// serial the client's) the difference sequences from the journal, one SOA
// when the client is current, or else the whole zone; signed transfers come
// from the zone's ChainSigner and are always whole zones.
func planTransfer(ctx context.Context, v *zonemodel.View, ixfr bool, serial uint32, signed bool) (*xfrPlan, error) {
	snap := v.Snapshot()
	if snap.SOA() == nil {
		return nil, errNoData
	}
	p := &xfrPlan{view: v, snap: snap, soa: snap.SOA().RRs[0]}
	if ixfr && !zonemodel.SerialGreater(snap.Serial, serial) {
		p.kind = "uptodate"
		return p, nil
	}
	if signed {
		cs, ok := v.Zone().Signer().(zonemodel.ChainSigner)
		if !ok {
			return nil, errors.New("signed transfer configured but the zone has no signer that signs whole zones")
		}
		recs, err := cs.SignedZone(ctx, v, snap)
		if err != nil {
			return nil, fmt.Errorf("signing the zone for the transfer: %w", err)
		}
		if len(recs) == 0 || recs[0].Header().Rrtype != dns.TypeSOA {
			return nil, errors.New("signer returned a zone that does not start with its SOA")
		}
		p.kind, p.records, p.soa = "axfr", recs, recs[0]
		return p, nil
	}
	if ixfr {
		entries, ok, err := v.JournalSince(serial)
		if err != nil {
			log.Errorf("zone %s view %s: reading the journal: %v", v.Zone().Origin, v.Name, err)
		}
		if ok && len(entries) > 0 {
			p.kind, p.entries, p.soa = "ixfr", entries, entries[len(entries)-1].NewSOA
			return p, nil
		}
	}
	p.kind = "axfr"
	return p, nil
}

// each calls fn for every record of the transfer in order, opening and
// closing SOA included.
func (p *xfrPlan) each(fn func(dns.RR) error) error {
	switch p.kind {
	case "uptodate":
		return fn(p.soa)
	case "ixfr":
		if err := fn(p.soa); err != nil {
			return err
		}
		for _, e := range p.entries {
			for _, part := range [][]dns.RR{{e.OldSOA}, e.Del, {e.NewSOA}, e.Add} {
				for _, rr := range part {
					if err := fn(rr); err != nil {
						return err
					}
				}
			}
		}
		return fn(p.soa)
	}
	if p.records != nil {
		for _, rr := range p.records {
			if err := fn(rr); err != nil {
				return err
			}
		}
		return fn(p.records[0])
	}
	if err := fn(p.soa); err != nil {
		return err
	}
	var err error
	p.snap.Each(func(set *zonemodel.RRset) bool {
		if set.Type == dns.TypeSOA && set.Name() == p.snap.Origin {
			return true
		}
		for _, rr := range set.RRs {
			if err = fn(rr); err != nil {
				return false
			}
		}
		return true
	})
	if err != nil {
		return err
	}
	return fn(p.soa)
}

// Transfer implements transfer.Transferer for the stock transfer plugin: AXFR
// of the zone's default view, and IXFR (RFC 1995) from the view's journal,
// falling back to AXFR when the journal does not reach the client's serial.
// authzone's own transfer configuration (`transfer to`) is the way to get
// address and key ACLs, TSIG-signed multi-message transfers and IXFR over
// UDP; this stays for Corefiles that use the stock plugin.
func (a *AuthZone) Transfer(zone string, serial uint32) (<-chan []dns.RR, error) {
	zs := a.zones[zonemodel.Fqdn(zone)]
	if zs == nil {
		return nil, transfer.ErrNotAuthoritative
	}
	if zs.sec != nil && zs.sec.IsExpired() {
		return nil, transfer.ErrNotAuthoritative
	}
	return TransferView(zs.zone.DefaultView(), serial, serial != 0)
}

// TransferView streams a transfer of view v in batches of records: for IXFR
// (ixfr set, serial the client's) the difference sequences from the journal,
// an up-to-date answer (one SOA) when the client is current, or the whole
// zone (AXFR form). The view is explicit: the caller chose it (by the
// client's TSIG key or address, for split horizon).
func TransferView(v *zonemodel.View, serial uint32, ixfr bool) (<-chan []dns.RR, error) {
	p, err := planTransfer(context.Background(), v, ixfr, serial, false)
	if err != nil {
		return nil, transfer.ErrNotAuthoritative
	}
	qtype := "AXFR"
	if ixfr {
		qtype = "IXFR"
	}
	xfrOut.WithLabelValues(v.Zone().Origin, v.Name, "transfer-plugin", qtype, p.kind).Inc()
	ch := make(chan []dns.RR, 4)
	go func() {
		defer close(ch)
		batch := make([]dns.RR, 0, 256)
		p.each(func(rr dns.RR) error {
			batch = append(batch, rr)
			if len(batch) >= 256 {
				ch <- batch
				batch = make([]dns.RR, 0, 256)
			}
			return nil
		})
		if len(batch) > 0 {
			ch <- batch
		}
	}()
	return ch, nil
}

// transferView returns the view a transfer request gets: the one a view
// selector put in the context, else the view of the ACL entry, else the
// default (last) view.
func (zs *zoneState) transferView(ctxView string, e *aclEntry) *zonemodel.View {
	if ctxView != "" {
		return zs.zone.View(ctxView)
	}
	if e != nil && e.view != "" {
		return zs.zone.View(e.view)
	}
	return zs.zone.DefaultView()
}

// matchTransfer returns the first transfer ACL entry that allows a request
// from ip signed with key ("" unsigned) for the view the context selected
// ("" none), or why none does.
func (zs *zoneState) matchTransfer(ip netip.Addr, key, ctxView string, overTLS bool) (*aclEntry, string) {
	reason := "no transfer is allowed"
	if len(zs.spec.transfers) > 0 {
		reason = "address not allowed"
	}
	for _, e := range zs.spec.transfers {
		if ctxView != "" && e.view != "" && e.view != ctxView {
			continue
		}
		if !e.matchAddr(ip) {
			continue
		}
		if !e.matchKey(key) {
			if key == "" {
				reason = "TSIG key required"
			} else {
				reason = "TSIG key " + key + " not allowed"
			}
			continue
		}
		if e.tls && !overTLS {
			reason = "transfer over TLS (XoT) required"
			continue
		}
		return e, ""
	}
	return nil, reason
}

// ctxViewName is the view assigned to the request, if any: by a selector
// plugin (horizon), else by the stock view plugin's server block (see
// stockView).
func ctxViewName(ctx context.Context, zs *zoneState) string {
	if v := zonemodel.ViewFromContext(ctx); v != "" {
		return v
	}
	if v := stockView(ctx, zs); v != nil {
		return v.Name
	}
	return ""
}

// stockView is the zone's view named like the stock view plugin's server
// block the request went to, or nil: no view plugin, or a zone without a
// view of that name (a zone without views serves its one view in any block;
// a zone with views in a block whose view names none of them does not
// start, see setup).
func stockView(ctx context.Context, zs *zoneState) *zonemodel.View {
	if name, ok := ctx.Value(dnsserver.ViewKey{}).(string); ok && name != "" {
		return zs.zone.View(name)
	}
	return nil
}

func remoteIP(w dns.ResponseWriter) netip.Addr {
	var ip net.IP
	switch a := w.RemoteAddr().(type) {
	case *net.UDPAddr:
		ip = a.IP
	case *net.TCPAddr:
		ip = a.IP
	default:
		if a == nil {
			return netip.Addr{}
		}
		ap, err := netip.ParseAddrPort(a.String())
		if err != nil {
			return netip.Addr{}
		}
		return ap.Addr().Unmap()
	}
	addr, _ := netip.AddrFromSlice(ip)
	return addr.Unmap()
}

// peerLabel is the metrics label of a client: its key, else its address.
func peerLabel(key string, ip netip.Addr) string {
	if key != "" {
		return key
	}
	return ip.String()
}
