package secondary

import (
	"context"
	"encoding/binary"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"

	"github.com/dnspki/dnspki/plugin/pkg/sched"
	"github.com/dnspki/dnspki/plugin/pkg/xfrpeer"
	"github.com/dnspki/dnspki/plugin/pkg/zonemodel"
)

// The secondary's metadata in the zone store (source "primary").
const (
	MetaPrimarySerial = "primary-serial" // 4 octets: the primary's serial we hold
	metaRefreshed     = "refreshed"      // 8 octets: Unix time in ms of the last successful refresh
	metaPrimary       = "primary"        // the address of the primary it came from
)

// SourceName is the name of a secondary zone's base source.
const SourceName = "primary"

// Limits applied to the SOA timers of a transferred zone (MinTimer is a
// variable: tests shorten it).
var (
	MinTimer   = time.Second
	maxTimer   = 28 * 24 * time.Hour
	noDataWait = []time.Duration{time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second, 30 * time.Second, 60 * time.Second}
)

// Secondary keeps a zone transferred from its primaries: SOA refresh, retry
// and expire timers (RFC 1034 §4.3.5), NOTIFY (RFC 1996), IXFR with AXFR
// fallback, TSIG on every message. The transferred zone is the zone's base
// source (dynamic: it is stored, so a restart serves it at once); dnspki's
// own sources and signing apply on top of it as on a primary.
type Secondary struct {
	zone      *zonemodel.Zone
	src       *zonemodel.Source
	primaries []*xfrpeer.Peer
	allow     func(ip netip.Addr, key string) bool

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
	ctx         context.Context
	jobs        *sched.Group // the zone's refresh job, once started
	expiryJobs  *sched.Group // the zone's expiry job, once started

	failures int // refreshes failed in a row without data (the refresh job's own)
}

// New makes z a secondary zone of primaries: it adds the zone's base source
// (SourceName, dynamic: stored). allowNotify reports whether a NOTIFY from
// an address that is not a primary's is accepted (the zone's allow-notify
// entries; nil: none is).
func New(z *zonemodel.Zone, primaries []*xfrpeer.Peer, allowNotify func(ip netip.Addr, key string) bool) (*Secondary, error) {
	src, err := z.AddSource(SourceName, zonemodel.SourceOptions{Base: true, Dynamic: true})
	if err != nil {
		return nil, err
	}
	return &Secondary{zone: z, src: src, primaries: primaries, allow: allowNotify}, nil
}

// IsExpired reports whether the zone is expired (answered with SERVFAIL).
func (s *Secondary) IsExpired() bool { return s.expired.Load() }

// soa is the zone's current SOA (timers from the primary), or nil.
func (s *Secondary) soa() *dns.SOA {
	v := s.zone.Views()[0]
	if set := v.Snapshot().SOA(); set != nil {
		return set.RRs[0].(*dns.SOA)
	}
	return nil
}

func clampTimer(sec uint32) time.Duration {
	d := time.Duration(sec) * time.Second
	return min(max(d, MinTimer), maxTimer)
}

// timers returns the refresh, retry and expire intervals of the held zone.
func (s *Secondary) timers() (refresh, retry, expire time.Duration) {
	soa := s.soa()
	if soa == nil {
		return 0, 0, 0
	}
	return clampTimer(soa.Refresh), clampTimer(soa.Retry), clampTimer(soa.Expire)
}

// Load reads the stored state: the primary's serial and when the zone was
// last refreshed. Data without that record (adopted from a zone file) counts
// as refreshed now.
func (s *Secondary) Load(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if b := s.src.Meta(MetaPrimarySerial); len(b) == 4 {
		s.pserial, s.known = binary.BigEndian.Uint32(b), true
	}
	s.lastOK = now
	if b := s.src.Meta(metaRefreshed); len(b) == 8 {
		s.lastOK = time.UnixMilli(int64(binary.BigEndian.Uint64(b)))
	}
	origin := s.zone.Origin
	if s.soa() == nil {
		log.Infof("zone %s: secondary with no data yet; transferring from %s", origin, s.primaries[0].Addr)
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

func (s *Secondary) setExpired(v bool, why string) {
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

// Notified records a NOTIFY from ip (with the serial it announced, if any)
// and asks for a refresh.
func (s *Secondary) Notified(ip netip.Addr, serial uint32, has bool) {
	if has {
		s.hintMu.Lock()
		if !s.hinted || zonemodel.SerialGreater(serial, s.hint) {
			s.hint, s.hinted, s.hintFrom = serial, true, ip
		}
		s.hintMu.Unlock()
	}
	// Before Start, the refresh Start schedules takes the hint.
	if _, g, _ := s.group(); g != nil {
		g.Soon(refreshJob, g.Now(), s.runRefresh)
	}
}

func (s *Secondary) takeHint() (uint32, bool, netip.Addr) {
	s.hintMu.Lock()
	defer s.hintMu.Unlock()
	h, ok, from := s.hint, s.hinted, s.hintFrom
	s.hinted = false
	return h, ok, from
}

// AllowNotify reports whether a NOTIFY from ip signed with key ("" none) is
// accepted: from a primary's address (with its key, when it has one) or
// from an allow-notify entry.
func (s *Secondary) AllowNotify(ip netip.Addr, key string) (bool, string) {
	why := "not from a primary"
	for _, p := range s.primaries {
		if p.IP != ip {
			continue
		}
		if p.Key != nil && key != p.Key.Name {
			if key == "" {
				why = "unsigned; primary " + p.Addr + " uses TSIG key " + p.Key.Name
			} else {
				why = "signed with " + key + "; primary " + p.Addr + " uses TSIG key " + p.Key.Name
			}
			continue
		}
		return true, ""
	}
	if s.allow != nil && s.allow(ip, key) {
		return true, ""
	}
	return false, why
}

// Expire marks the zone expired now, as its expire timer does when no
// primary answered for the SOA's expire interval.
func (s *Secondary) Expire(why string) { s.setExpired(true, why) }
