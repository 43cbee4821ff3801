// Package authzone is dnspki's authoritative zone plugin: it owns zones (from
// zone files), holds their model (package zonemodel) and answers queries
// from it, with every other dnspki plugin contributing records to the same
// model.
package authzone

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coredns/coredns/plugin"
	"github.com/coredns/coredns/plugin/transfer"
	"github.com/miekg/dns"

	"github.com/dnspki/dnspki/plugin/pkg/loglimit"
	"github.com/dnspki/dnspki/plugin/pkg/sched"
	"github.com/dnspki/dnspki/plugin/pkg/secondary"
	"github.com/dnspki/dnspki/plugin/pkg/tsigauth"
	"github.com/dnspki/dnspki/plugin/pkg/zonemodel"
)

// AuthZone serves the zones of one authzone directive set of a server block.
type AuthZone struct {
	Next    plugin.Handler
	zones   map[string]*zoneState
	origins []string
	xfer    *transfer.Transfer // the stock transfer plugin, if in the server block
	// block is the server block's TSIG trust (its keys; its gate, first in
	// the chain, decides who signed each request: tsigauth).
	block *tsigauth.Block
	// members are the zones of consumed catalogs (origin -> zone), replaced
	// whole on every change of a catalog.
	members atomic.Pointer[map[string]*zoneState]
	// files watches the zone files of every zone of the block.
	files *fileWatcher
}

type zoneState struct {
	zone       *zonemodel.Zone
	spec       *zoneSpec
	files      []*watchedFile
	notifyCh   chan struct{}        // the stock transfer plugin's NOTIFY
	notifiers  []*notifier          // authzone's own NOTIFY targets
	sec        *secondary.Secondary // nil unless the zone is a secondary
	secJobs    *sched.Group         // the secondary's refresh, once started
	expiryJobs *sched.Group         // the secondary's expiry, once started
	notifyJobs *sched.Group         // the NOTIFY senders' jobs, once started
	watcher    *fileWatcher         // the server block's, once the zone's files are watched
	done       chan struct{}
	ctx        context.Context // ends when the zone stops (with done)
	cancel     context.CancelFunc
	stopOnce   sync.Once
	started    bool
	wg         sync.WaitGroup
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

// match returns the zone that encloses the lowercase name, or nil: the
// longest origin among the configured zones and the members of consumed
// catalogs, found by walking up the name's labels (one map lookup per
// label, whatever the number of zones). (Not inlined: keeps ServeDNS's
// frame small.)
//
//go:noinline
func (a *AuthZone) match(name string) *zoneState {
	dyn := a.members.Load()
	for off := 0; ; {
		if zs := a.zones[name[off:]]; zs != nil {
			return zs
		}
		if dyn != nil {
			if zs := (*dyn)[name[off:]]; zs != nil {
				return zs
			}
		}
		next, end := dns.NextLabel(name, off)
		if end {
			break
		}
		off = next
	}
	if name == "." {
		return nil
	}
	if zs := a.zones["."]; zs != nil {
		return zs
	}
	if dyn != nil {
		return (*dyn)["."]
	}
	return nil
}

// start opens a zone once every plugin's setup has run: bindings attach their
// sources, the stored state and the files are loaded, then watchers start.
func (a *AuthZone) start(reg *zonemodel.Registry, zs *zoneState) error {
	z := zs.zone
	binds := reg.Bindings(z.Origin)
	for _, b := range binds {
		if b.Attach != nil {
			if err := b.Attach(z); err != nil {
				return plugin.Error(b.Plugin, err)
			}
		}
	}
	if err := zs.checkSignedTransfers(); err != nil {
		return err
	}
	zs.subscribe()
	if err := z.Open(); err != nil {
		return plugin.Error(pluginName, err)
	}
	for _, v := range z.Views() {
		observe(zonemodel.Change{View: v, New: v.Snapshot()})
		log.Infof("zone %s view %s: serial %d, %d records", z.Origin, v.Name, v.Snapshot().Serial, v.Snapshot().Records())
	}
	zs.publishStatus()
	zs.started = true
	a.startWorkers(zs)
	for _, b := range binds {
		if b.Started != nil {
			if err := b.Started(z); err != nil {
				return plugin.Error(b.Plugin, err)
			}
		}
	}
	return nil
}

// checkSignedTransfers: 'transfer ... signed' needs a signer that signs
// whole zones (checked once the bindings attached theirs).
func (zs *zoneState) checkSignedTransfers() error {
	z := zs.zone
	for _, e := range zs.spec.transfers {
		if e.signed {
			if _, ok := z.Signer().(zonemodel.ChainSigner); !ok {
				return fmt.Errorf("plugin/%s: zone %s: 'transfer ... signed' (line %d) needs a signer that signs whole zones with an NSEC/NSEC3 chain (onlinesign); the zone has none", pluginName, z.Origin, e.line)
			}
		}
	}
	return nil
}

// subscribe follows the zone's changes: metrics, the NOTIFY senders of the
// changed view, the stock transfer plugin's notifier.
func (zs *zoneState) subscribe() {
	zs.zone.Subscribe(func(ch zonemodel.Change) {
		observe(ch)
		for _, n := range zs.notifiers {
			if n.view == ch.View {
				n.poke()
			}
		}
		select {
		case zs.notifyCh <- struct{}{}:
		default:
		}
	})
}

// startWorkers starts what serves an open zone besides answering. Goroutines
// only for what the zone has, none per zone for its NOTIFY targets or its
// refresh (thousands of zones: jobs in the shared schedulers, no idle
// goroutine or file watcher per zone).
func (a *AuthZone) startWorkers(zs *zoneState) {
	if a.xfer != nil {
		zs.wg.Add(1)
		go func() { defer zs.wg.Done(); a.notifier(zs) }()
	}
	if len(zs.files) > 0 {
		zs.watcher = a.files
		a.files.add(zs)
	}
	zs.startNotifiers()
	if zs.sec != nil {
		// Expired already (stored refresh time) before the first answer.
		zs.sec.Load(time.Now())
		zs.secJobs, zs.expiryJobs = refreshScheduler().Group(), expiryScheduler().Group()
		zs.sec.Start(zs.ctx, zs.secJobs, zs.expiryJobs)
	}
	select {
	case zs.notifyCh <- struct{}{}:
	default:
	}
}

// startNotifiers starts the zone's NOTIFY senders; a (re)start announces the
// zone to the secondaries. After a reload, they start once the old
// generation no longer answers (it would give the old serial to the SOA
// query): a goroutine per zone waits for that only while it still serves.
func (zs *zoneState) startNotifiers() {
	if len(zs.notifiers) == 0 {
		return
	}
	zs.notifyJobs = notifyScheduler().Group()
	start := func() {
		for _, n := range zs.notifiers {
			n.start(zs.ctx, zs.notifyJobs)
		}
	}
	for _, n := range zs.notifiers {
		n.onAck = func(serial uint32) { zs.down().notifyAcked(n, serial) }
	}
	select {
	case <-zs.zone.PreviousClosed():
		start()
		return
	default:
	}
	zs.wg.Add(1)
	go func() {
		defer zs.wg.Done()
		select {
		case <-zs.zone.PreviousClosed():
			start()
		case <-zs.done:
		}
	}()
}

func (zs *zoneState) stop() {
	zs.stopOnce.Do(func() {
		if zs.watcher != nil {
			zs.watcher.remove(zs)
		}
		if zs.cancel != nil {
			zs.cancel()
		}
		close(zs.done)
		for _, g := range []*sched.Group{zs.secJobs, zs.expiryJobs, zs.notifyJobs} {
			if g != nil {
				g.Stop() // after cancel: a transfer in progress is abandoned
			}
		}
		zs.wg.Wait()
		zs.zone.Close()
		targets.Delete(zs.zone)
		zs.forgetStatus()
	})
}

// notifier sends NOTIFY through the stock transfer plugin after changes (for
// Corefiles that use it; authzone's own `notify` targets have their own
// notifiers); bursts are coalesced (one round in flight per zone).
func (a *AuthZone) notifier(zs *zoneState) {
	def := zs.zone.DefaultView().Name
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
			notifyOut.WithLabelValues(zs.zone.Origin, def, "transfer-plugin", "failed").Inc()
			log.Warningf("zone %s: %v", zs.zone.Origin, err)
		} else {
			notifyOut.WithLabelValues(zs.zone.Origin, def, "transfer-plugin", "ok").Inc()
		}
	}
}

// ServeDNS implements plugin.Handler.
//
// The frames live while the answer is written (the deepest point of a
// query: packing and the send system call) are kept small: each query runs
// on a new goroutine whose stack starts small, and a path that crosses a
// stack size boundary pays a stack copy on every query. So the answer is
// built in functions that return before it is written, and anything but a
// plain query (TSIG, NOTIFY, transfers, other classes and opcodes) goes to
// serveOther.
func (a *AuthZone) ServeDNS(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
	q := &r.Question[0]
	name := lowerName(q.Name)
	zs := a.match(name)
	if zs == nil {
		if a.Next == nil {
			// Last in the chain (a catch-all "." block): a name in no zone
			// of ours is REFUSED, as an authoritative server answers, not
			// SERVFAIL (NextOrFailure's "no next plugin").
			return writeRcode(ctx, w, r, dns.RcodeRefused, dns.ExtendedErrorCodeNotAuthoritative, "")
		}
		return plugin.NextOrFailure(a.Name(), a.Next, ctx, w, r)
	}
	if r.Opcode != dns.OpcodeQuery || q.Qclass != dns.ClassINET || !plainType(q.Qtype) || r.IsTsig() != nil {
		return a.serveOther(ctx, w, r, zs, name)
	}
	writeReply(ctx, w, r, a.answer(ctx, r, zs, name))
	return dns.RcodeSuccess, nil
}

// plainType: a query of this type is answered from the zone's data.
func plainType(t uint16) bool {
	switch t {
	case dns.TypeAXFR, dns.TypeIXFR, dns.TypeOPT, dns.TypeTSIG, dns.TypeTKEY, dns.TypeMAILA, dns.TypeMAILB, dns.TypeNXNAME:
		return false
	}
	return true
}

// serveOther handles what is not a plain unsigned query: the TSIG check,
// NOTIFY, other opcodes and classes, transfers, meta types, and signed
// queries (answered like plain ones, with a signed reply).
func (a *AuthZone) serveOther(ctx context.Context, w dns.ResponseWriter, r *dns.Msg, zs *zoneState, name string) (int, error) {
	q := r.Question[0]
	// Who signed the request was decided once, by the server block's
	// gate (package tsigauth); a request it refused never gets here.
	id, ok := tsigauth.Decided(ctx, w, r)
	if !ok {
		a.refusedKey(ctx, r, zs)
		return dns.RcodeSuccess, nil
	}
	key := id.KeyName()
	if r.Opcode == dns.OpcodeNotify {
		return a.serveNotify(ctx, w, r, zs, key)
	}
	if key != "" && q.Qtype == dns.TypeSOA && name == zs.zone.Origin {
		zs.down().askedSOA(key) // a secondary checking for a new serial
	}
	if r.Opcode != dns.OpcodeQuery {
		// UPDATE reaches here only when no plugin before authzone handles it.
		return writeRcode(ctx, w, r, dns.RcodeRefused, dns.ExtendedErrorCodeNotSupported, dns.OpcodeToString[r.Opcode]+" not accepted for this zone")
	}
	if q.Qclass != dns.ClassINET {
		return writeRcode(ctx, w, r, dns.RcodeRefused, dns.ExtendedErrorCodeNotSupported, "class "+dns.ClassToString[q.Qclass])
	}
	switch q.Qtype {
	case dns.TypeAXFR, dns.TypeIXFR:
		if name != zs.zone.Origin {
			return writeRcode(ctx, w, r, dns.RcodeNotAuth, dns.ExtendedErrorCodeNotAuthoritative, "transfers are asked at the zone's apex")
		}
		return a.serveTransfer(ctx, w, r, zs, key)
	case dns.TypeOPT, dns.TypeTSIG, dns.TypeTKEY, dns.TypeMAILA, dns.TypeMAILB, dns.TypeNXNAME:
		// Meta types are not queries for data (RFC 6895 §3.1); NXNAME only
		// appears in compact denial bitmaps (RFC 9824 §3.5: FORMERR).
		return writeRcode(ctx, w, r, dns.RcodeFormatError, dns.ExtendedErrorCodeInvalidQueryType, "")
	}
	writeReply(ctx, w, r, a.answer(ctx, r, zs, name))
	return dns.RcodeSuccess, nil
}

// refusedKey counts a request signed with a key that is not one of the
// block's dnspki keys (tsigauth.Decided has answered and logged it, with
// the key, the name and why).
func (a *AuthZone) refusedKey(ctx context.Context, r *dns.Msg, zs *zoneState) {
	q := r.Question[0]
	switch {
	case r.Opcode == dns.OpcodeNotify:
		notifyIn.WithLabelValues(zs.zone.Origin, "unauthorized", "notauth").Inc()
	case q.Qtype == dns.TypeAXFR || q.Qtype == dns.TypeIXFR:
		v := ctxViewName(ctx, zs)
		if v == "" {
			v = zs.transferView("", nil).Name
		}
		xfrOut.WithLabelValues(zs.zone.Origin, v, "unauthorized", dns.TypeToString[q.Qtype], "notauth").Inc()
	}
}

// answer builds the reply to a query for data from the view the query was
// assigned to: the answer (signed when the zone has a signer and the query
// has DO), or an error rcode.
func (a *AuthZone) answer(ctx context.Context, r *dns.Msg, zs *zoneState, name string) *dns.Msg {
	var v *zonemodel.View
	if vn := zonemodel.ViewFromContext(ctx); vn != "" {
		v = zs.zone.View(vn)
	}
	if v == nil {
		v = a.defaultView(ctx, zs)
		if v == nil {
			return rcodeMsg(r, dns.RcodeRefused, dns.ExtendedErrorCodeProhibited, "")
		}
	}
	snap := v.Snapshot()
	if snap.SOA() == nil {
		return rcodeMsg(r, dns.RcodeServerFailure, dns.ExtendedErrorCodeNotReady, "zone not loaded yet")
	}
	if zs.sec != nil && zs.sec.IsExpired() {
		return rcodeMsg(r, dns.RcodeServerFailure, dns.ExtendedErrorCodeNoReachableAuthority, "zone expired: no primary reached")
	}
	do := false
	if o := r.IsEdns0(); o != nil {
		do = o.Do()
	}
	resp := snap.Lookup(name, r.Question[0].Qtype, zonemodel.Options{DO: do})
	m := new(dns.Msg)
	m.SetReply(r)
	if s := zs.zone.Signer(); s != nil && do {
		if err := s.Render(ctx, v, r, resp, m); err != nil {
			signFailed(zs, r, err)
			return rcodeMsg(r, dns.RcodeServerFailure, dns.ExtendedErrorCodeOther, "DNSSEC signing failed")
		}
	} else {
		resp.Render(m)
	}
	return m
}

func signFailed(zs *zoneState, r *dns.Msg, err error) {
	q := r.Question[0]
	log.Errorf("zone %s: signing the answer to %s/%s failed: %v", zs.zone.Origin, q.Name, dns.TypeToString[q.Qtype], err)
}

// serveNotify answers a NOTIFY (RFC 1996 §3.7): a secondary zone accepts it
// from its primaries (with their keys) and refreshes at once; a primary zone
// refuses it.
func (a *AuthZone) serveNotify(ctx context.Context, w dns.ResponseWriter, r *dns.Msg, zs *zoneState, key string) (int, error) {
	origin := zs.zone.Origin
	ip := remoteIP(w)
	q := r.Question[0]
	if zs.sec == nil || lowerName(q.Name) != origin || q.Qtype != dns.TypeSOA {
		notifyIn.WithLabelValues(origin, "unauthorized", "refused").Inc()
		log.Debugf("zone %s: NOTIFY from %s refused: not a secondary zone", origin, ip)
		return writeRcode(ctx, w, r, dns.RcodeRefused, dns.ExtendedErrorCodeNotSupported, "not a secondary zone")
	}
	if ok, why := zs.sec.AllowNotify(ip, key); !ok {
		notifyIn.WithLabelValues(origin, "unauthorized", "refused").Inc()
		if loglimit.Refusals.Allow() {
			log.Warningf("zone %s: NOTIFY from %s refused: %s%s", origin, ip, why, loglimit.Refusals.Suppressed())
		}
		return writeRcode(ctx, w, r, dns.RcodeRefused, dns.ExtendedErrorCodeProhibited, "")
	}
	m := new(dns.Msg)
	m.SetReply(r)
	m.Authoritative = true
	writeReply(ctx, w, r, m)
	var serial uint32
	has := false
	for _, rr := range r.Answer {
		if s, ok := rr.(*dns.SOA); ok && lowerName(s.Hdr.Name) == origin {
			serial, has = s.Serial, true
		}
	}
	notifyIn.WithLabelValues(origin, ip.String(), "accepted").Inc()
	if has {
		log.Infof("zone %s: NOTIFY from %s, serial %d", origin, ip, serial)
	} else {
		log.Infof("zone %s: NOTIFY from %s", origin, ip)
	}
	zs.sec.Notified(ip, serial, has)
	return dns.RcodeSuccess, nil
}

// defaultView picks the view of a query that no view selector assigned: the
// view named like the stock view plugin's server block if the zone has one,
// else the last (default) view.
func (a *AuthZone) defaultView(ctx context.Context, zs *zoneState) *zonemodel.View {
	if v := stockView(ctx, zs); v != nil {
		return v
	}
	return zs.zone.DefaultView()
}

// lowerName lowercases an ASCII name (without allocating when it already is
// lowercase). Not inlined: its conversion buffers would enlarge ServeDNS's
// frame.
//
//go:noinline
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
