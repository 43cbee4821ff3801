// Package authzone is dnspki's authoritative zone plugin: it owns zones (from
// zone files), holds their model (package zonemodel) and answers queries
// from it, with every other dnspki plugin contributing records to the same
// model.
package authzone

import (
	"context"
	"sync"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/plugin"
	"github.com/coredns/coredns/plugin/transfer"
	"github.com/coredns/coredns/request"
	"github.com/miekg/dns"

	"github.com/dnspki/dnspki/plugin/pkg/zonemodel"
)

// AuthZone serves the zones of one authzone directive set of a server block.
type AuthZone struct {
	Next    plugin.Handler
	zones   map[string]*zoneState
	origins []string
	xfer    *transfer.Transfer
}

type zoneState struct {
	zone     *zonemodel.Zone
	spec     *zoneSpec
	files    []*watchedFile
	notifyCh chan struct{}
	done     chan struct{}
	stopOnce sync.Once
	started  bool
	wg       sync.WaitGroup
}

// Name implements plugin.Handler.
func (a *AuthZone) Name() string { return pluginName }

// Zone returns the zone model for origin, or nil.
func (a *AuthZone) Zone(origin string) *zonemodel.Zone {
	if zs := a.zones[zonemodel.Fqdn(origin)]; zs != nil {
		return zs.zone
	}
	return nil
}

// match returns the zone that encloses the lowercase name, or nil.
func (a *AuthZone) match(name string) *zoneState {
	if len(a.zones) == 1 {
		for o, zs := range a.zones {
			if zonemodel.InZone(name, o) {
				return zs
			}
			return nil
		}
	}
	var best *zoneState
	for o, zs := range a.zones {
		if zonemodel.InZone(name, o) && (best == nil || len(o) > len(best.zone.Origin)) {
			best = zs
		}
	}
	return best
}

// start opens a zone once every plugin's setup has run: bindings attach their
// sources, the stored state and the files are loaded, then watchers start.
func (a *AuthZone) start(c *caddy.Controller, reg *zonemodel.Registry, zs *zoneState) error {
	z := zs.zone
	binds := reg.Bindings(z.Origin)
	for _, b := range binds {
		if b.Attach != nil {
			if err := b.Attach(z); err != nil {
				return plugin.Error(b.Plugin, err)
			}
		}
	}
	z.Subscribe(func(ch zonemodel.Change) {
		observe(ch)
		select {
		case zs.notifyCh <- struct{}{}:
		default:
		}
	})
	if err := z.Open(); err != nil {
		return plugin.Error(pluginName, err)
	}
	for _, v := range z.Views() {
		observe(zonemodel.Change{View: v, New: v.Snapshot()})
		log.Infof("zone %s view %s: serial %d, %d records", z.Origin, v.Name, v.Snapshot().Serial, v.Snapshot().Records())
	}
	zs.started = true
	zs.wg.Add(2)
	go func() { defer zs.wg.Done(); a.notifier(zs) }()
	go func() { defer zs.wg.Done(); zs.watch() }()
	// A (re)start announces the zone to the secondaries.
	select {
	case zs.notifyCh <- struct{}{}:
	default:
	}
	for _, b := range binds {
		if b.Started != nil {
			if err := b.Started(z); err != nil {
				return plugin.Error(b.Plugin, err)
			}
		}
	}
	return nil
}

func (zs *zoneState) stop() {
	zs.stopOnce.Do(func() {
		close(zs.done)
		zs.wg.Wait()
		zs.zone.Close()
	})
}

// notifier sends NOTIFY through the transfer plugin after changes; bursts are
// coalesced (one NOTIFY in flight per zone, the latest serial always sent).
func (a *AuthZone) notifier(zs *zoneState) {
	for {
		select {
		case <-zs.done:
			return
		case <-zs.notifyCh:
		}
		if a.xfer == nil {
			continue
		}
		if err := a.xfer.Notify(zs.zone.Origin); err != nil {
			notifyErrors.WithLabelValues(zs.zone.Origin).Inc()
			log.Warningf("zone %s: %v", zs.zone.Origin, err)
		} else {
			notifies.WithLabelValues(zs.zone.Origin).Inc()
		}
	}
}

// ServeDNS implements plugin.Handler.
func (a *AuthZone) ServeDNS(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
	q := r.Question[0]
	name := lowerName(q.Name)
	zs := a.match(name)
	if zs == nil {
		return plugin.NextOrFailure(a.Name(), a.Next, ctx, w, r)
	}
	if r.Opcode != dns.OpcodeQuery {
		// UPDATE reaches here only when no plugin before authzone handles it;
		// NOTIFY to a primary is refused.
		return writeRcode(w, r, dns.RcodeRefused)
	}
	if q.Qclass != dns.ClassINET {
		return writeRcode(w, r, dns.RcodeRefused)
	}
	switch q.Qtype {
	case dns.TypeAXFR, dns.TypeIXFR:
		// A transfer that no transfer plugin accepted.
		return writeRcode(w, r, dns.RcodeRefused)
	case dns.TypeOPT, dns.TypeTSIG, dns.TypeTKEY, dns.TypeMAILA, dns.TypeMAILB, dns.TypeNXNAME:
		// Meta types are not queries for data (RFC 6895 §3.1); NXNAME only
		// appears in compact denial bitmaps (RFC 9824 §3.5: FORMERR).
		return writeRcode(w, r, dns.RcodeFormatError)
	}
	v := zs.zone.View(zonemodel.ViewFromContext(ctx))
	if v == nil {
		v = a.defaultView(ctx, zs)
		if v == nil {
			return writeRcode(w, r, dns.RcodeRefused)
		}
	}
	snap := v.Snapshot()
	if snap.SOA() == nil {
		return writeRcode(w, r, dns.RcodeServerFailure)
	}
	state := request.Request{W: w, Req: r}
	do := state.Do()
	resp := snap.Lookup(name, q.Qtype, zonemodel.Options{DO: do})

	m := new(dns.Msg)
	m.SetReply(r)
	if s := zs.zone.Signer(); s != nil && do {
		if err := s.Render(ctx, v, r, resp, m); err != nil {
			log.Errorf("zone %s: signing the answer to %s/%s failed: %v", zs.zone.Origin, q.Name, dns.TypeToString[q.Qtype], err)
			return writeRcode(w, r, dns.RcodeServerFailure)
		}
	} else {
		resp.Render(m)
	}
	state.SizeAndDo(m)
	w.WriteMsg(m)
	return dns.RcodeSuccess, nil
}

// defaultView picks the view of a query that no view selector assigned: the
// stock view plugin's view name if it set one, else the last (default) view.
func (a *AuthZone) defaultView(ctx context.Context, zs *zoneState) *zonemodel.View {
	if name, ok := ctx.Value(dnsserver.ViewKey{}).(string); ok && name != "" {
		return zs.zone.View(name)
	}
	views := zs.zone.Views()
	return views[len(views)-1]
}

func writeRcode(w dns.ResponseWriter, r *dns.Msg, rcode int) (int, error) {
	m := new(dns.Msg)
	m.SetRcode(r, rcode)
	state := request.Request{W: w, Req: r}
	state.SizeAndDo(m)
	w.WriteMsg(m)
	return dns.RcodeSuccess, nil
}

func lowerName(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if b[j] >= 'A' && b[j] <= 'Z' {
					b[j] += 32
				}
			}
			return string(b)
		}
	}
	return s
}

// Ready implements the ready plugin's Readiness: every zone is open and has
// its SOA in every view.
func (a *AuthZone) Ready() bool {
	for _, zs := range a.zones {
		if !zs.zone.Opened() {
			return false
		}
		for _, v := range zs.zone.Views() {
			if v.Snapshot().SOA() == nil {
				return false
			}
		}
	}
	return true
}
