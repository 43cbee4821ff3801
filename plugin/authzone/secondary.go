package authzone

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"

	"github.com/dnspki/dnspki/plugin/pkg/zonemodel"
)

// The secondary's metadata in the zone store (source "primary").
const (
	metaPrimarySerial = "primary-serial" // 4 octets: the primary's serial we hold
	metaRefreshed     = "refreshed"      // 8 octets: Unix time in ms of the last successful refresh
	metaPrimary       = "primary"        // the address of the primary it came from
)

// primarySource is the name of a secondary zone's base source.
const primarySource = "primary"

// Limits applied to the SOA timers of a transferred zone.
var (
	minTimer   = time.Second
	maxTimer   = 28 * 24 * time.Hour
	noDataWait = []time.Duration{time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second, 30 * time.Second, 60 * time.Second}
)

// secondary keeps a zone transferred from its primaries: SOA refresh, retry
// and expire timers (RFC 1034 §4.3.5), NOTIFY (RFC 1996), IXFR with AXFR
// fallback, TSIG on every message. The transferred zone is the zone's base
// source (dynamic: it is stored, so a restart serves it at once); dnspki's
// own sources and signing apply on top of it as on a primary.
type secondary struct {
	zone      *zonemodel.Zone
	src       *zonemodel.Source
	primaries []*peer
	allow     []*aclEntry

	kick     chan struct{}
	hintMu   sync.Mutex
	hint     uint32
	hinted   bool
	hintFrom netip.Addr
	expired  atomic.Bool

	mu          sync.Mutex
	pserial     uint32 // the primary's serial of the data we hold
	known       bool   // pserial is known
	lastOK      time.Time
	lastError   string
	nextRefresh time.Time // when the refresh timer fires next (status)
}

func newSecondary(z *zonemodel.Zone, src *zonemodel.Source, primaries []*peer, allow []*aclEntry) *secondary {
	return &secondary{zone: z, src: src, primaries: primaries, allow: allow, kick: make(chan struct{}, 1)}
}

func (s *secondary) isExpired() bool { return s.expired.Load() }

// soa is the zone's current SOA (timers from the primary), or nil.
func (s *secondary) soa() *dns.SOA {
	v := s.zone.Views()[0]
	if set := v.Snapshot().SOA(); set != nil {
		return set.RRs[0].(*dns.SOA)
	}
	return nil
}

func clampTimer(sec uint32) time.Duration {
	d := time.Duration(sec) * time.Second
	return min(max(d, minTimer), maxTimer)
}

// timers returns the refresh, retry and expire intervals of the held zone.
func (s *secondary) timers() (refresh, retry, expire time.Duration) {
	soa := s.soa()
	if soa == nil {
		return 0, 0, 0
	}
	return clampTimer(soa.Refresh), clampTimer(soa.Retry), clampTimer(soa.Expire)
}

// load reads the stored state: the primary's serial and when the zone was
// last refreshed. Data without that record (adopted from a zone file) counts
// as refreshed now.
func (s *secondary) load(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if b := s.src.Meta(metaPrimarySerial); len(b) == 4 {
		s.pserial, s.known = binary.BigEndian.Uint32(b), true
	}
	s.lastOK = now
	if b := s.src.Meta(metaRefreshed); len(b) == 8 {
		s.lastOK = time.UnixMilli(int64(binary.BigEndian.Uint64(b)))
	}
	origin := s.zone.Origin
	if s.soa() == nil {
		log.Infof("zone %s: secondary with no data yet; transferring from %s", origin, s.primaries[0].addr)
		return
	}
	_, _, expire := s.timers()
	if now.Sub(s.lastOK) > expire {
		s.setExpired(true, fmt.Sprintf("last refreshed %s ago, expire is %s", now.Sub(s.lastOK).Round(time.Second), expire))
	} else {
		log.Infof("zone %s: serving the stored transfer (primary serial %d, refreshed %s ago)", origin, s.pserial, now.Sub(s.lastOK).Round(time.Second))
	}
	if s.known {
		xfrPrimarySerial.WithLabelValues(origin).Set(float64(s.pserial))
	}
	xfrLastRefresh.WithLabelValues(origin).Set(float64(s.lastOK.Unix()))
}

func (s *secondary) setExpired(v bool, why string) {
	if s.expired.Swap(v) == v {
		return
	}
	origin := s.zone.Origin
	if v {
		xfrExpired.WithLabelValues(origin).Set(1)
		log.Errorf("zone %s: expired (%s): answering SERVFAIL until a primary can be reached", origin, why)
	} else {
		xfrExpired.WithLabelValues(origin).Set(0)
		log.Infof("zone %s: no longer expired", origin)
	}
}

// notified records a NOTIFY from ip (with the serial it announced, if any)
// and asks for a refresh.
func (s *secondary) notified(ip netip.Addr, serial uint32, has bool) {
	if has {
		s.hintMu.Lock()
		if !s.hinted || zonemodel.SerialGreater(serial, s.hint) {
			s.hint, s.hinted, s.hintFrom = serial, true, ip
		}
		s.hintMu.Unlock()
	}
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

func (s *secondary) takeHint() (uint32, bool, netip.Addr) {
	s.hintMu.Lock()
	defer s.hintMu.Unlock()
	h, ok, from := s.hint, s.hinted, s.hintFrom
	s.hinted = false
	return h, ok, from
}

// allowNotify reports whether a NOTIFY from ip signed with key ("" none) is
// accepted: from a primary's address (with its key, when it has one) or
// from an allow-notify entry.
func (s *secondary) allowNotify(ip netip.Addr, key string) (bool, string) {
	why := "not from a primary"
	for _, p := range s.primaries {
		if p.ip != ip {
			continue
		}
		if p.key != nil && key != p.key.Name {
			if key == "" {
				why = "unsigned; primary " + p.addr + " uses TSIG key " + p.key.Name
			} else {
				why = "signed with " + key + "; primary " + p.addr + " uses TSIG key " + p.key.Name
			}
			continue
		}
		return true, ""
	}
	for _, e := range s.allow {
		if e.matchAddr(ip) && e.matchKey(key) {
			return true, ""
		}
	}
	return false, why
}

// run refreshes the zone at start, after every NOTIFY and at the SOA's
// refresh interval (retry after a failure), and expires it when no primary
// could be reached for the SOA's expire interval. load runs before it.
func (s *secondary) run(ctx context.Context) {
	done := ctx.Done()
	refresh := time.NewTimer(0)
	defer refresh.Stop()
	expire := time.NewTimer(time.Hour)
	expire.Stop()
	defer expire.Stop()
	if _, _, ex := s.timers(); ex > 0 && !s.isExpired() {
		s.mu.Lock()
		expire.Reset(time.Until(s.lastOK.Add(ex)))
		s.mu.Unlock()
	}
	failures := 0
	for {
		select {
		case <-done:
			return
		case <-expire.C:
			_, _, ex := s.timers()
			s.mu.Lock()
			last, why := s.lastOK, s.lastError
			s.mu.Unlock()
			if left := time.Until(last.Add(ex)); left > 0 {
				expire.Reset(left)
				continue
			}
			s.setExpired(true, fmt.Sprintf("no successful refresh for %s: %s", ex, why))
			continue
		case <-s.kick:
		case <-refresh.C:
		}
		ok := s.refresh(ctx)
		if ctx.Err() != nil {
			return
		}
		rf, rt, ex := s.timers()
		var next time.Duration
		switch {
		case ok:
			failures = 0
			next = rf
			expire.Reset(ex)
		case rt > 0:
			next = rt
		default:
			next = noDataWait[min(failures, len(noDataWait)-1)]
			failures++
		}
		refresh.Reset(next)
		s.mu.Lock()
		s.nextRefresh = time.Now().Add(next).UTC()
		s.mu.Unlock()
	}
}

// refresh brings the zone up to date from the first primary that answers.
func (s *secondary) refresh(ctx context.Context) bool {
	hint, hinted, from := s.takeHint()
	var errs []string
	for _, p := range s.primaries {
		// The serial a NOTIFY announced is that primary's.
		err := s.refreshFrom(ctx, p, hint, hinted && p.ip == from)
		if err == nil {
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		if errors.Is(err, zonemodel.ErrSuperseded) {
			return false
		}
		errs = append(errs, fmt.Sprintf("%s: %v", p.addr, err))
		log.Warningf("zone %s: refresh from %s failed: %v", s.zone.Origin, p.addr, err)
	}
	s.mu.Lock()
	s.lastError = fmt.Sprint(errs)
	s.mu.Unlock()
	return false
}

func (s *secondary) state() (uint32, bool, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pserial, s.known, s.soa() != nil
}

func (s *secondary) refreshFrom(ctx context.Context, p *peer, hint uint32, hinted bool) error {
	origin := s.zone.Origin
	pserial, known, have := s.state()
	incremental := have && known
	var remote uint32
	if incremental && hinted && zonemodel.SerialGreater(hint, pserial) {
		remote = hint // a NOTIFY told the new serial: skip the SOA query
	} else {
		soa, err := querySOA(ctx, p, origin)
		if err != nil {
			xfrInTotal.WithLabelValues(origin, p.addr, "soa", "error").Inc()
			return fmt.Errorf("SOA query: %w", err)
		}
		remote = soa.Serial
	}
	if incremental && !zonemodel.SerialGreater(remote, pserial) {
		if zonemodel.SerialGreater(pserial, remote) {
			log.Warningf("zone %s: primary %s has serial %d, older than the %d we hold; keeping ours", origin, p.addr, remote, pserial)
		}
		return s.commit(p, nil, pserial)
	}
	start := time.Now()
	if incremental {
		res, err := xfrIn(ctx, p, origin, dns.TypeIXFR, pserial)
		if err == nil {
			if err = s.commit(p, res, pserial); err == nil {
				xfrDuration.WithLabelValues(origin, "in").Observe(time.Since(start).Seconds())
				return nil
			}
		}
		if ctx.Err() != nil || errors.Is(err, zonemodel.ErrSuperseded) {
			return err
		}
		xfrInTotal.WithLabelValues(origin, p.addr, "ixfr", "error").Inc()
		log.Warningf("zone %s: IXFR from %s (serial %d) failed: %v; trying AXFR", origin, p.addr, pserial, err)
	}
	res, err := xfrIn(ctx, p, origin, dns.TypeAXFR, 0)
	if err != nil {
		xfrInTotal.WithLabelValues(origin, p.addr, "axfr", "error").Inc()
		return fmt.Errorf("AXFR: %w", err)
	}
	if err := s.commit(p, res, pserial); err != nil {
		xfrInTotal.WithLabelValues(origin, p.addr, "axfr", "error").Inc()
		return err
	}
	xfrDuration.WithLabelValues(origin, "in").Observe(time.Since(start).Seconds())
	return nil
}

// commit applies a transfer (nil: the zone is up to date) to the base
// source in one change of the model, with the primary's serial and the
// refresh time stored alongside.
func (s *secondary) commit(p *peer, res *xfrResult, from uint32) error {
	origin := s.zone.Origin
	now := time.Now()
	newSerial := from
	kind := "uptodate"
	if res != nil && res.kind != "uptodate" {
		kind = res.kind
		newSerial = res.soa.Serial
	}
	before := s.zone.Views()[0].Snapshot().Serial
	s.mu.Lock()
	wasKnown := s.known
	s.mu.Unlock()
	err := s.src.Update(nil, func(tx *zonemodel.Tx) error {
		switch kind {
		case "axfr":
			tx.Clear()
			for _, rr := range res.all {
				tx.Add(rr)
			}
		case "ixfr":
			for _, d := range res.diffs {
				for _, rr := range d.del {
					h := rr.Header()
					if !hasRR(tx.Records("", h.Name, h.Rrtype), rr) {
						return fmt.Errorf("IXFR %d -> %d deletes %s, which the zone does not hold", d.old.Serial, d.new.Serial, short(rr))
					}
					tx.Delete(rr)
				}
				for _, rr := range d.add {
					tx.Add(rr)
				}
			}
			tx.DeleteRRset(origin, dns.TypeSOA)
			tx.Add(res.soa)
		}
		if kind != "uptodate" {
			// RFC 8976 §4: the primary's zone as it now stands must match
			// its digest, if it carries one; else nothing is applied.
			if err := verifyDigest(origin, p.addr, tx.All("")); err != nil {
				return err
			}
		}
		tx.SetMeta(metaPrimarySerial, binary.BigEndian.AppendUint32(nil, newSerial))
		tx.SetMeta(metaRefreshed, binary.BigEndian.AppendUint64(nil, uint64(now.UnixMilli())))
		tx.SetMeta(metaPrimary, []byte(p.addr))
		return nil
	})
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.pserial, s.known, s.lastOK, s.lastError = newSerial, true, now, ""
	s.mu.Unlock()
	s.setExpired(false, "")
	xfrPrimarySerial.WithLabelValues(origin).Set(float64(newSerial))
	xfrLastRefresh.WithLabelValues(origin).Set(float64(now.Unix()))
	xfrInTotal.WithLabelValues(origin, p.addr, kind, "ok").Inc()
	if kind == "uptodate" {
		log.Debugf("zone %s: up to date with %s at serial %d", origin, p.addr, newSerial)
		return nil
	}
	served := s.zone.Views()[0].Snapshot().Serial
	detail := fmt.Sprintf("%d records", len(res.all))
	if kind == "ixfr" {
		n := 0
		for _, d := range res.diffs {
			n += len(d.del) + len(d.add)
		}
		detail = fmt.Sprintf("%d changes, %d records", len(res.diffs), n)
	}
	was := "none"
	if wasKnown {
		was = fmt.Sprint(from)
	}
	log.Infof("zone %s: %s from %s: primary serial %s -> %d (%s, %d messages, %d octets); serving serial %d (was %d)",
		origin, map[string]string{"axfr": "AXFR", "ixfr": "IXFR"}[kind], p.addr, was, newSerial, detail, res.msgs, res.bytes, served, before)
	return nil
}

func hasRR(set []dns.RR, rr dns.RR) bool {
	for _, x := range set {
		if dns.IsDuplicate(x, rr) {
			return true
		}
	}
	return false
}
