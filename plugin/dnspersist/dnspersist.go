// Package dnspersist publishes dns-persist-01 validation records
// (_validation-persist TXT, draft-ietf-acme-dns-persist) and the matching CAA
// records into dnspki's zone model, validated with the rules the CA applies.
package dnspersist

import (
	"encoding/binary"
	"sync"
	"time"

	"github.com/coredns/coredns/plugin"
	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/dnspki/dnspki/plugin/pkg/persist"
	"github.com/dnspki/dnspki/plugin/pkg/zonemodel"
)

// SourceName is the zone model source of the records this plugin publishes.
const SourceName = "persist"

var (
	expiry = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: plugin.Namespace, Subsystem: "dnspki",
		Name: "persist_expiry_seconds", Help: "Seconds until the persistUntil of a published dns-persist-01 record (negative: expired; absent: no persistUntil).",
	}, []string{"zone", "name", "issuer"})
	published = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: plugin.Namespace, Subsystem: "dnspki",
		Name: "persist_records", Help: "dns-persist-01 validation records published, per zone.",
	}, []string{"zone"})
)

// Persist is the plugin instance for one zone.
type Persist struct {
	cfg  *config
	src  *zonemodel.Source
	done chan struct{}
	once sync.Once
	wg   sync.WaitGroup
	api  apiState // authorizations set through the Go API (api.go)
}

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
				p.observe(now)
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
		r := &persist.Record{Issuer: iss, AccountURI: a.accountURI, PersistUntil: a.until}
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
				r := &persist.Record{Issuer: iss, AccountURI: a.accountURI}
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
				rrs = append(rrs, persist.CAA(name, a.ttl, a.issuers, a.accountURI, a.wildcard)...)
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
	published.WithLabelValues(p.cfg.origin).Set(float64(n))
	p.observe(now)
	return nil
}

// observe sets the expiry metric from the served records.
func (p *Persist) observe(now time.Time) {
	for _, a := range p.cfg.auths {
		for _, name := range append(append([]string{}, a.names...), a.also...) {
			for _, iss := range a.issuers {
				until, _ := p.untilFor(a, name, iss, now)
				if until.IsZero() {
					continue
				}
				expiry.WithLabelValues(p.cfg.origin, name, iss).Set(until.Sub(now).Seconds())
			}
		}
	}
}
