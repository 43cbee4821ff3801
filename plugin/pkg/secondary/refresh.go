package secondary

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/miekg/dns"

	"github.com/dnspki/dnspki/plugin/pkg/sched"
	"github.com/dnspki/dnspki/plugin/pkg/xfrpeer"
	"github.com/dnspki/dnspki/plugin/pkg/zonemodel"
)

// The jobs of a secondary in its zone's group of the scheduler.
type jobKey int

const (
	refreshJob jobKey = iota // refresh (at start, on NOTIFY, at the refresh or retry interval)
	expireJob                // expire the zone when no refresh succeeded for the expire interval
)

// Start schedules the zone's jobs: in refresh, the zone's group of the
// refresh scheduler, a refresh now (and after every NOTIFY, at the SOA's
// refresh interval, at its retry interval after a failure); in expiry, its
// group of a scheduler whose jobs never wait on a primary (so that slow
// transfers of other zones cannot hold an expiry back), its expiry once no
// primary could be reached for the SOA's expire interval. Load runs before
// it; ctx ends when the zone stops (and the groups' Stop waits for a job in
// progress).
func (s *Secondary) Start(ctx context.Context, refresh, expiry *sched.Group) {
	s.mu.Lock()
	s.ctx, s.jobs, s.expiryJobs = ctx, refresh, expiry
	last := s.lastOK
	s.mu.Unlock()
	if _, _, ex := s.timers(); ex > 0 && !s.IsExpired() {
		expiry.At(expireJob, last.Add(ex), s.checkExpiry)
	}
	refresh.Soon(refreshJob, refresh.Now(), s.runRefresh)
}

// group is the zone's groups of jobs (refresh, expiry) once started, else
// nil.
func (s *Secondary) group() (context.Context, *sched.Group, *sched.Group) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ctx, s.jobs, s.expiryJobs
}

// runRefresh is the refresh job: it refreshes, then schedules the next
// refresh (a NOTIFY meanwhile keeps its earlier one) and, after a success,
// the expiry from now.
func (s *Secondary) runRefresh() {
	ctx, g, eg := s.group()
	ok := s.refresh(ctx)
	if ctx.Err() != nil {
		return
	}
	rf, rt, ex := s.timers()
	var next time.Duration
	switch {
	case ok:
		s.failures = 0
		next = rf
		eg.At(expireJob, eg.Now().Add(ex), s.checkExpiry)
	case rt > 0:
		next = rt
	default:
		next = noDataWait[min(s.failures, len(noDataWait)-1)]
		s.failures++
	}
	g.Soon(refreshJob, g.Now().Add(next), s.runRefresh)
	s.mu.Lock()
	s.nextRefresh = time.Now().Add(next).UTC()
	s.mu.Unlock()
}

// checkExpiry is the expire job: the zone expires unless a refresh
// succeeded within the expire interval (then it checks again when that
// refresh's interval ends). Under s.mu, as commit's refresh time.
func (s *Secondary) checkExpiry() {
	ctx, _, eg := s.group()
	if ctx.Err() != nil {
		return
	}
	_, _, ex := s.timers()
	s.mu.Lock()
	defer s.mu.Unlock()
	if left := time.Until(s.lastOK.Add(ex)); left > 0 {
		eg.At(expireJob, eg.Now().Add(left), s.checkExpiry)
		return
	}
	s.setExpired(true, fmt.Sprintf("no successful refresh for %s: %s", ex, s.lastError))
}

// refresh brings the zone up to date from the first primary that answers.
func (s *Secondary) refresh(ctx context.Context) bool {
	hint, hinted, from := s.takeHint()
	var errs []string
	for _, p := range s.primaries {
		// The serial a NOTIFY announced is that primary's.
		err := s.refreshFrom(ctx, p, hint, hinted && p.IP == from)
		if err == nil {
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		if errors.Is(err, zonemodel.ErrSuperseded) {
			return false
		}
		errs = append(errs, fmt.Sprintf("%s: %v", p.Addr, err))
		log.Warningf("zone %s: refresh from %s failed: %v", s.zone.Origin, p.Addr, err)
	}
	s.mu.Lock()
	s.lastError = fmt.Sprint(errs)
	s.mu.Unlock()
	return false
}

func (s *Secondary) State() (uint32, bool, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pserial, s.known, s.soa() != nil
}

func (s *Secondary) refreshFrom(ctx context.Context, p *xfrpeer.Peer, hint uint32, hinted bool) error {
	origin := s.zone.Origin
	pserial, known, have := s.State()
	incremental := have && known
	var remote uint32
	if incremental && hinted && zonemodel.SerialGreater(hint, pserial) {
		remote = hint // a NOTIFY told the new serial: skip the SOA query
	} else {
		soa, err := querySOA(ctx, p, origin)
		if err != nil {
			xfrInTotal.WithLabelValues(origin, p.Addr, "soa", "error").Inc()
			return fmt.Errorf("SOA query: %w", err)
		}
		remote = soa.Serial
	}
	if incremental && !zonemodel.SerialGreater(remote, pserial) {
		if zonemodel.SerialGreater(pserial, remote) {
			log.Warningf("zone %s: primary %s has serial %d, older than the %d we hold; keeping ours", origin, p.Addr, remote, pserial)
		}
		return s.commit(p, nil, pserial)
	}
	start := time.Now()
	if incremental {
		res, err := Transfer(ctx, p, origin, dns.TypeIXFR, pserial)
		if err == nil {
			if err = s.commit(p, res, pserial); err == nil {
				xfrpeer.Duration.WithLabelValues(origin, "in").Observe(time.Since(start).Seconds())
				return nil
			}
		}
		if ctx.Err() != nil || errors.Is(err, zonemodel.ErrSuperseded) {
			return err
		}
		xfrInTotal.WithLabelValues(origin, p.Addr, "ixfr", "error").Inc()
		log.Warningf("zone %s: IXFR from %s (serial %d) failed: %v; trying AXFR", origin, p.Addr, pserial, err)
	}
	res, err := Transfer(ctx, p, origin, dns.TypeAXFR, 0)
	if err != nil {
		xfrInTotal.WithLabelValues(origin, p.Addr, "axfr", "error").Inc()
		return fmt.Errorf("AXFR: %w", err)
	}
	if err := s.commit(p, res, pserial); err != nil {
		xfrInTotal.WithLabelValues(origin, p.Addr, "axfr", "error").Inc()
		return err
	}
	xfrpeer.Duration.WithLabelValues(origin, "in").Observe(time.Since(start).Seconds())
	return nil
}

// commit applies a transfer (nil: the zone is up to date) to the base
// source in one change of the model, with the primary's serial and the
// refresh time stored alongside.
func (s *Secondary) commit(p *xfrpeer.Peer, res *Result, from uint32) error {
	origin := s.zone.Origin
	now := time.Now()
	newSerial := from
	kind := "uptodate"
	if res != nil && res.Kind != "uptodate" {
		kind = res.Kind
		newSerial = res.SOA.Serial
	}
	before := s.zone.Views()[0].Snapshot().Serial
	s.mu.Lock()
	wasKnown := s.known
	s.mu.Unlock()
	err := s.src.Update(nil, func(tx *zonemodel.Tx) error {
		if err := apply(tx, origin, kind, res); err != nil {
			return err
		}
		if kind != "uptodate" {
			// RFC 8976 §4: the primary's zone as it now stands must match
			// its digest, if it carries one; else nothing is applied.
			if err := verifyDigest(origin, p.Addr, tx, res); err != nil {
				return err
			}
		}
		tx.SetMeta(MetaPrimarySerial, binary.BigEndian.AppendUint32(nil, newSerial))
		tx.SetMeta(metaRefreshed, binary.BigEndian.AppendUint64(nil, uint64(now.UnixMilli())))
		tx.SetMeta(metaPrimary, []byte(p.Addr))
		return nil
	})
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.pserial, s.known, s.lastOK, s.lastError = newSerial, true, now, ""
	s.setExpired(false, "") // under s.mu: not beside checkExpiry
	s.mu.Unlock()
	xfrPrimarySerial.WithLabelValues(origin).Set(float64(newSerial))
	xfrLastRefresh.WithLabelValues(origin).Set(float64(now.Unix()))
	xfrInTotal.WithLabelValues(origin, p.Addr, kind, "ok").Inc()
	if kind == "uptodate" {
		log.Debugf("zone %s: up to date with %s at serial %d", origin, p.Addr, newSerial)
		return nil
	}
	was := "none"
	if wasKnown {
		was = fmt.Sprint(from)
	}
	s.logTransfer(p, kind, res, was, newSerial, before)
	return nil
}

// apply stages a transfer of kind (axfr, ixfr; uptodate: nothing) in tx.
func apply(tx *zonemodel.Tx, origin, kind string, res *Result) error {
	switch kind {
	case "axfr":
		tx.Clear()
		for _, rr := range res.All {
			tx.Add(rr)
		}
	case "ixfr":
		for _, d := range res.Diffs {
			for _, rr := range d.Del {
				h := rr.Header()
				if !hasRR(tx.Records("", h.Name, h.Rrtype), rr) {
					return fmt.Errorf("IXFR %d -> %d deletes %s, which the zone does not hold", d.Old.Serial, d.New.Serial, xfrpeer.Short(rr))
				}
				tx.Delete(rr)
			}
			for _, rr := range d.Add {
				tx.Add(rr)
			}
		}
		tx.DeleteRRset(origin, dns.TypeSOA)
		tx.Add(res.SOA)
	}
	return nil
}

// logTransfer logs an applied transfer: from which primary, the primary's
// serials (was: the one held before), its size, and the serials served.
func (s *Secondary) logTransfer(p *xfrpeer.Peer, kind string, res *Result, was string, newSerial, before uint32) {
	served := s.zone.Views()[0].Snapshot().Serial
	detail := fmt.Sprintf("%d records", len(res.All))
	if kind == "ixfr" {
		n := 0
		for _, d := range res.Diffs {
			n += len(d.Del) + len(d.Add)
		}
		detail = fmt.Sprintf("%d changes, %d records", len(res.Diffs), n)
	}
	log.Infof("zone %s: %s from %s: primary serial %s -> %d (%s, %d messages, %d octets); serving serial %d (was %d)",
		s.zone.Origin, map[string]string{"axfr": "AXFR", "ixfr": "IXFR"}[kind], p.Addr, was, newSerial, detail, res.Msgs, res.Bytes, served, before)
}

func hasRR(set []dns.RR, rr dns.RR) bool {
	for _, x := range set {
		if dns.IsDuplicate(x, rr) {
			return true
		}
	}
	return false
}
