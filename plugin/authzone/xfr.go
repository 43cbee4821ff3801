package authzone

import (
	"github.com/coredns/coredns/plugin/transfer"
	"github.com/miekg/dns"

	"github.com/dnspki/dnspki/plugin/pkg/zonemodel"
)

// Transfer implements transfer.Transferer for the stock transfer plugin: AXFR
// of the zone's default view, and IXFR (RFC 1995) from the view's journal,
// falling back to AXFR when the journal does not reach the client's serial.
func (a *AuthZone) Transfer(zone string, serial uint32) (<-chan []dns.RR, error) {
	zs := a.zones[zonemodel.Fqdn(zone)]
	if zs == nil {
		return nil, transfer.ErrNotAuthoritative
	}
	views := zs.zone.Views()
	v := views[len(views)-1]
	return TransferView(v, serial, serial != 0)
}

// TransferView streams a transfer of view v: for IXFR (ixfr set, serial the
// client's) the difference sequences from the journal, an up-to-date answer
// (one SOA) when the client is current, or the whole zone (AXFR form).
func TransferView(v *zonemodel.View, serial uint32, ixfr bool) (<-chan []dns.RR, error) {
	snap := v.Snapshot()
	if snap.SOA() == nil {
		return nil, transfer.ErrNotAuthoritative
	}
	origin, name := v.Zone().Origin, v.Name
	ch := make(chan []dns.RR, 4)
	soa := snap.SOA().RRs[0]
	if ixfr {
		if serial == snap.Serial || zonemodel.SerialGreater(serial, snap.Serial) {
			transfers.WithLabelValues(origin, name, "uptodate").Inc()
			go func() { ch <- []dns.RR{soa}; close(ch) }()
			return ch, nil
		}
		entries, ok, err := v.JournalSince(serial)
		if err != nil {
			log.Errorf("zone %s view %s: reading the journal: %v", origin, name, err)
		}
		if ok && len(entries) > 0 {
			transfers.WithLabelValues(origin, name, "ixfr").Inc()
			last := entries[len(entries)-1].NewSOA
			go func() {
				defer close(ch)
				ch <- []dns.RR{last}
				for _, e := range entries {
					ch <- append([]dns.RR{e.OldSOA}, e.Del...)
					ch <- append([]dns.RR{e.NewSOA}, e.Add...)
				}
				ch <- []dns.RR{last}
			}()
			return ch, nil
		}
		transfers.WithLabelValues(origin, name, "ixfr-fallback").Inc()
	} else {
		transfers.WithLabelValues(origin, name, "axfr").Inc()
	}
	go func() {
		defer close(ch)
		ch <- []dns.RR{soa}
		batch := make([]dns.RR, 0, 256)
		snap.Each(func(set *zonemodel.RRset) bool {
			if set.Type == dns.TypeSOA && set.Name == snap.Origin {
				return true
			}
			batch = append(batch, set.RRs...)
			if len(batch) >= 256 {
				ch <- batch
				batch = make([]dns.RR, 0, 256)
			}
			return true
		})
		if len(batch) > 0 {
			ch <- batch
		}
		ch <- []dns.RR{soa}
	}()
	return ch, nil
}
