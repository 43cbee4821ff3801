// Package dnspersist publishes dns-persist-01 validation records
// (_validation-persist TXT, draft-ietf-acme-dns-persist) and the matching CAA
// records into dnspki's zone model, validated with the rules the CA applies.
package dnspersist

import (
	"encoding/binary"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dnspki/dnspki/plugin/pkg/metric"

	"github.com/miekg/dns"

	"github.com/dnspki/dnspki/plugin/pkg/persist"
	"github.com/dnspki/dnspki/plugin/pkg/zonemodel"
)

// SourceName is the zone model source of the records this plugin publishes.
const SourceName = "persist"

var (
	expiry    = metric.GaugeVec("persist_expiry_seconds", "Seconds until the persistUntil of a published dns-persist-01 record (negative: expired; absent: no persistUntil).", "zone", "name", "issuer")
	published = metric.GaugeVec("persist_records", "dns-persist-01 validation records published, per zone.", "zone")
)

// Persist is the plugin instance for one zone.
type Persist struct {
	cfg  *config
	src  *zonemodel.Source
	done chan struct{}
	once sync.Once
	wg   sync.WaitGroup
	api  apiState // authorizations set through the Go API (api.go)
	// gen orders the instances of a zone across reloads (newer is higher),
	// for the metrics; published is the TXT count of the last publication.
	gen       uint64
	published int
}

// generations numbers Persist instances as configurations are set up.
var generations atomic.Uint64

// zoneSeries is what the newest instance of a zone has exported: the
// expiry series by (name, issuer). An instance that a newer one (a reload)
// superseded exports nothing more, and the series of authorizations that are
// gone are deleted (by the next instance's export, or when the last one of
// the zone stops).
type zoneSeries struct {
	owner *Persist
	keys  map[[2]string]bool
}

var series = struct {
	sync.Mutex
	zones map[string]*zoneSeries
}{zones: map[string]*zoneSeries{}}

func (p *Persist) attach(z *zonemodel.Zone) error {
	// Dynamic: the stored records keep serving until started() has replaced
	// them (so a restart does not churn the serial), and a rolling
	// persistUntil is computed from stored publication times.
	src, err := z.AddSource(SourceName, zonemodel.SourceOptions{Views: p.cfg.views, Dynamic: true})
	if err != nil {
		return err
	}
	p.src = src
	return nil
}

func (p *Persist) started(z *zonemodel.Zone) error {
	if err := p.publish(time.Now()); err != nil {
		return err
	}
	p.done = make(chan struct{})
	p.wg.Add(1)
	go p.loop()
	return nil
}

func (p *Persist) stop() {
	p.once.Do(func() {
		if p.done != nil {
			close(p.done)
			p.wg.Wait()
		}
		p.unexport()
	})
}

// loop renews rolling persistUntil values and keeps the expiry metric current.
func (p *Persist) loop() {
	defer p.wg.Done()
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	last := time.Now()
	for {
		select {
		case <-p.done:
			return
		case now := <-t.C:
			if now.Sub(last) >= time.Hour {
				last = now
				if err := p.publish(now); err != nil && err != zonemodel.ErrSuperseded {
					log.Errorf("zone %s: renewing validation records: %v", p.cfg.origin, err)
				}
			} else {
				p.api.mu.Lock()
				p.observe(now)
				p.api.mu.Unlock()
			}
		}
	}
}

func untilKey(name, issuer string) string { return "until/" + name + "/" + issuer }

// untilFor returns the persistUntil of a record: the configured absolute
// time, or for a rolling value the stored one, renewed when less than a third
// of the duration remains. renewed reports a new value to store.
func (p *Persist) untilFor(a *authorization, name, issuer string, now time.Time) (until time.Time, renewed bool) {
	if !a.until.IsZero() {
		return a.until, false
	}
	if a.rolling == 0 {
		return time.Time{}, false
	}
	if b := p.src.Meta(untilKey(name, issuer)); len(b) == 8 {
		u := time.Unix(int64(binary.BigEndian.Uint64(b)), 0).UTC()
		if u.Sub(now) > a.rolling/3 && u.Sub(now) <= a.rolling {
			return u, false
		}
	}
	return now.Add(a.rolling).UTC().Truncate(time.Second), true
}

// records renders an authorization's validation records (without stored
// state; for validation at setup).
func (a *authorization) records(now time.Time) []*persist.Record {
	var out []*persist.Record
	for _, iss := range a.issuers {
		r := &persist.Record{Issuer: iss, AccountURI: a.accountFor(a.names[0]), PersistUntil: a.until}
		if a.rolling > 0 {
			r.PersistUntil = now.Add(a.rolling).UTC().Truncate(time.Second)
		}
		if a.wildcard {
			r.Policy = "wildcard"
		}
		out = append(out, r)
	}
	return out
}

// publishLocked replaces the source's records with the configured ones and
// the API's (p.api.mu held; publish in api.go takes it).
func (p *Persist) publishLocked(now time.Time) error {
	rrs := p.apiRecords()
	meta := map[string]time.Time{}
	keep := map[string]bool{}
	for _, a := range p.cfg.auths {
		for _, name := range append(append([]string{}, a.names...), a.also...) {
			for _, iss := range a.issuers {
				r := &persist.Record{Issuer: iss, AccountURI: a.accountFor(name)}
				if a.wildcard {
					r.Policy = "wildcard"
				}
				until, renewed := p.untilFor(a, name, iss, now)
				r.PersistUntil = until
				if a.rolling > 0 {
					keep[untilKey(name, iss)] = true
					if renewed {
						meta[untilKey(name, iss)] = until
					}
				}
				if err := r.Validate(); err != nil {
					return err
				}
				if !until.IsZero() {
					switch left := until.Sub(now); {
					case left <= 0:
						log.Errorf("zone %s: the dns-persist-01 record for %s (issuer %s) expired at %s; the CA will refuse it", p.cfg.origin, name, iss, until.Format(time.RFC3339))
					case left < warnWindow && a.rolling == 0:
						log.Warningf("zone %s: the dns-persist-01 record for %s (issuer %s) expires in %s (persistUntil %s)", p.cfg.origin, name, iss, left.Round(time.Hour), until.Format(time.RFC3339))
					}
				}
				rrs = append(rrs, r.TXT(name, a.ttl))
			}
		}
		if a.caa {
			for _, name := range a.names {
				rrs = append(rrs, persist.CAA(name, a.ttl, a.issuers, a.caaAccountURI(), a.wildcard)...)
			}
		}
	}
	err := p.src.Update(nil, func(tx *zonemodel.Tx) error {
		tx.Clear()
		for _, rr := range rrs {
			tx.Add(rr)
		}
		for k, u := range meta {
			tx.SetMeta(k, binary.BigEndian.AppendUint64(nil, uint64(u.Unix())))
		}
		for _, k := range p.src.MetaKeys() {
			if !keep[k] {
				tx.DeleteMeta(k)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	p.api.live = true
	n := 0
	for _, rr := range rrs {
		if rr.Header().Rrtype == dns.TypeTXT {
			n++
		}
	}
	p.published = n
	p.observe(now)
	return nil
}

// observe sets the metrics from the served records: the expiry of every
// record with a persistUntil (the Corefile's and the API's) and the record
// count. Series of records no longer published are deleted. p.api.mu held.
func (p *Persist) observe(now time.Time) {
	left := map[[2]string]float64{}
	set := func(name, iss string, until time.Time) {
		if until.IsZero() {
			return
		}
		k := [2]string{name, iss}
		if v, ok := left[k]; !ok || until.Sub(now).Seconds() < v {
			left[k] = until.Sub(now).Seconds()
		}
	}
	for _, a := range p.cfg.auths {
		for _, name := range append(append([]string{}, a.names...), a.also...) {
			for _, iss := range a.issuers {
				until, _ := p.untilFor(a, name, iss, now)
				set(name, iss, until)
			}
		}
	}
	for _, auths := range p.api.auths {
		for _, a := range auths {
			for _, name := range a.Names {
				for _, iss := range a.Issuers {
					set(zonemodel.Fqdn(name), iss, a.PersistUntil)
				}
			}
		}
	}
	p.export(left)
}

// export replaces the zone's expiry series with left and sets the record
// count, unless a newer instance of the zone has exported since.
func (p *Persist) export(left map[[2]string]float64) {
	series.Lock()
	defer series.Unlock()
	zone := p.cfg.origin
	zs := series.zones[zone]
	if zs != nil && zs.owner != p && zs.owner.gen > p.gen {
		return // superseded by a reload
	}
	if zs != nil {
		for k := range zs.keys {
			if _, ok := left[k]; !ok {
				expiry.DeleteLabelValues(zone, k[0], k[1])
			}
		}
	}
	keys := make(map[[2]string]bool, len(left))
	for k, v := range left {
		expiry.WithLabelValues(zone, k[0], k[1]).Set(v)
		keys[k] = true
	}
	series.zones[zone] = &zoneSeries{owner: p, keys: keys}
	published.WithLabelValues(zone).Set(float64(p.published))
}

// unexport deletes the zone's series if this instance exported them last
// (the zone has no dnspersist any more, or the server stops); after a reload
// the new instance owns them.
func (p *Persist) unexport() {
	series.Lock()
	defer series.Unlock()
	zone := p.cfg.origin
	zs := series.zones[zone]
	if zs == nil || zs.owner != p {
		return
	}
	for k := range zs.keys {
		expiry.DeleteLabelValues(zone, k[0], k[1])
	}
	published.DeleteLabelValues(zone)
	delete(series.zones, zone)
}
