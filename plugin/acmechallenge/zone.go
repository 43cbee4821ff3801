package acmechallenge

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"

	"github.com/dnspki/dnspki/plugin/pkg/grants"
	"github.com/dnspki/dnspki/plugin/pkg/zonemodel"
)

// sourceName is the record source of the challenges in the zone model.
const sourceName = "acme"

// persistSourceName is the record source of the dns-persist-01 validation
// records set over UPDATE: durable, never expired, in every view by default
// (see persist.go).
const persistSourceName = "persist-update"

// recMeta is what the plugin keeps about each challenge record, stored as the
// source's metadata (zonemodel srcmeta) in the same transaction as the record:
// when it was added (for expiry) and by whom (for the per-identity limit).
type recMeta struct {
	Added int64  `json:"t"`  // Unix nanoseconds
	By    string `json:"by"` // identity: TSIG key name or http:USER
}

// kind is which records a change is about: the owner's first label.
type kind uint8

const (
	kindChallenge kind = iota // _acme-challenge: source "acme", expires
	kindPersist               // _validation-persist: source "persist-update", durable
)

func (k kind) String() string {
	if k == kindPersist {
		return "validation"
	}
	return "challenge"
}

// recSet is one record source of the zone with the metadata of its records.
type recSet struct {
	kind  kind
	name  string   // zone model source name
	views []string // configured views (nil: every view of the zone)
	src   *zonemodel.Source
	recs  map[string]recMeta // record id (recID) → metadata
}

// zone is the plugin's state for one zone.
type zone struct {
	p      *AcmeChallenge
	origin string

	// mu serializes every change of the sources (DNS UPDATE, HTTP, expiry)
	// and guards the sets' recs, which mirror the stored metadata.
	mu      sync.Mutex
	ch      *recSet // challenges
	persist *recSet // validation records
	ready   atomic.Bool

	stop     chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup
}

// recID is the metadata key of a record: its owner, type and data in
// presentation form (TTL and class left out), e.g.
// `_acme-challenge.www.example.test. 0 IN TXT "..."`.
func recID(rr dns.RR) string {
	c := dns.Copy(rr)
	h := c.Header()
	h.Name = zonemodel.Fqdn(h.Name)
	h.Ttl = 0
	h.Class = dns.ClassINET
	return c.String()
}

// attach adds the zone's sources (Dynamic sources: the model keeps their
// records in the store across restarts). The persist source is always there,
// grants or not, so that records published once survive a configuration that
// no longer grants them to anybody.
func (z *zone) attach(m *zonemodel.Zone) error {
	z.ch = &recSet{kind: kindChallenge, name: sourceName, views: z.p.cfg.views}
	z.persist = &recSet{kind: kindPersist, name: persistSourceName, views: z.p.cfg.persistViews}
	for _, s := range []*recSet{z.ch, z.persist} {
		src, err := m.AddSource(s.name, zonemodel.SourceOptions{Views: s.views, Dynamic: true})
		if err != nil {
			return err
		}
		s.src = src
	}
	return nil
}

// set returns the record set of a kind.
func (z *zone) set(k kind) *recSet {
	if k == kindPersist {
		return z.persist
	}
	return z.ch
}

// started runs once the zone is open: it loads the records' metadata,
// reconciles it with the stored records, and starts the expiry timer.
func (z *zone) started(m *zonemodel.Zone) error {
	z.mu.Lock()
	defer z.mu.Unlock()
	for _, s := range []*recSet{z.ch, z.persist} {
		if err := s.reconcile(m, z.origin); err != nil {
			return err
		}
	}
	z.ready.Store(true)
	z.setGauges()
	z.publishStatus()
	if z.p.cfg.expire > 0 {
		z.wg.Add(1)
		go z.sweeper()
	}
	return nil
}

// reconcile builds recs from the stored metadata. Records without metadata
// (cannot happen, both are written in one transaction; but a store written by
// an older build might have them) get the current time; metadata without a
// record is dropped; records left in views this configuration does not
// publish to are removed.
func (s *recSet) reconcile(m *zonemodel.Zone, origin string) error {
	if s.kind == kindPersist {
		if err := s.spread(m, origin); err != nil {
			return err
		}
	}
	s.recs = map[string]recMeta{}
	for _, k := range s.src.MetaKeys() {
		var rm recMeta
		if err := json.Unmarshal(s.src.Meta(k), &rm); err != nil {
			log.Warningf("zone %s: dropping unreadable metadata of %s: %v", origin, k, err)
			continue
		}
		s.recs[k] = rm
	}
	views := s.viewNames(m)
	present := map[string]dns.RR{}
	for _, v := range views {
		for _, rr := range s.src.Records(v) {
			present[recID(rr)] = rr
		}
	}
	now := time.Now().UnixNano()
	add := map[string]recMeta{}
	var drop []string
	for id := range present {
		if _, ok := s.recs[id]; !ok {
			add[id] = recMeta{Added: now, By: "unknown"}
		}
	}
	for id := range s.recs {
		if _, ok := present[id]; !ok {
			drop = append(drop, id)
		}
	}
	var stray []string
	for _, v := range m.ViewNames() {
		if !slices.Contains(views, v) && len(s.src.Records(v)) > 0 {
			stray = append(stray, v)
		}
	}
	if len(stray) > 0 {
		if err := s.src.Update(stray, func(tx *zonemodel.Tx) error { tx.Clear(); return nil }); err != nil {
			return fmt.Errorf("removing %s records from views %v: %w", s.kind, stray, err)
		}
		log.Infof("zone %s: removed %s records from views %v (not configured for them in acmechallenge)", origin, s.kind, stray)
	}
	if len(add) == 0 && len(drop) == 0 {
		return nil
	}
	err := s.src.Update(nil, func(tx *zonemodel.Tx) error {
		for id, rm := range add {
			b, _ := json.Marshal(rm)
			tx.SetMeta(id, b)
		}
		for _, id := range drop {
			tx.DeleteMeta(id)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for id, rm := range add {
		s.recs[id] = rm
	}
	for _, id := range drop {
		delete(s.recs, id)
	}
	return nil
}

// spread gives every view the validation records are configured for the
// records published in any view, so that a host's record is not lost when
// persist-view changes (reconcile then removes them from views no longer
// configured). Challenges are short-lived and not spread.
func (s *recSet) spread(m *zonemodel.Zone, origin string) error {
	all := map[string]dns.RR{}
	for _, v := range m.ViewNames() {
		for _, rr := range s.src.Records(v) {
			all[recID(rr)] = rr
		}
	}
	var missing []string
	for _, v := range s.viewNames(m) {
		have := map[string]bool{}
		for _, rr := range s.src.Records(v) {
			have[recID(rr)] = true
		}
		for id := range all {
			if !have[id] {
				missing = append(missing, v)
				break
			}
		}
	}
	if len(missing) == 0 {
		return nil
	}
	err := s.src.Update(missing, func(tx *zonemodel.Tx) error {
		for _, rr := range all {
			tx.Add(rr)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("copying validation records to views %v: %w", missing, err)
	}
	log.Infof("zone %s: validation records set over UPDATE now published in views %v too (persist-view)", origin, missing)
	return nil
}

// viewNames are the names of the views the source publishes to.
func (s *recSet) viewNames(m *zonemodel.Zone) []string {
	if len(s.views) > 0 {
		return s.views
	}
	return m.ViewNames()
}

// setGauges sets the record gauges from the sets (z.mu held or not started).
func (z *zone) setGauges() {
	liveRecords.WithLabelValues(z.origin).Set(float64(len(z.ch.recs)))
	persistRecords.WithLabelValues(z.origin).Set(float64(len(z.persist.recs)))
}

func (z *zone) shutdown() {
	z.forgetStatus()
	z.stopOnce.Do(func() {
		if z.stop != nil {
			close(z.stop)
		}
	})
	z.wg.Wait()
}

// sweeper removes challenges older than the expiry age.
func (z *zone) sweeper() {
	defer z.wg.Done()
	every := z.p.cfg.expire / 10
	if every < time.Second {
		every = time.Second
	}
	if every > time.Minute {
		every = time.Minute
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-z.stop:
			return
		case <-t.C:
			z.expire(time.Now())
		}
	}
}

// expire removes the records added before now minus the expiry age, in one
// change.
func (z *zone) expire(now time.Time) {
	z.mu.Lock()
	defer z.mu.Unlock()
	cutoff := now.Add(-z.p.cfg.expire).UnixNano()
	var ids []string
	for id, rm := range z.ch.recs {
		if rm.Added <= cutoff {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return
	}
	sort.Strings(ids)
	err := z.ch.src.Update(nil, func(tx *zonemodel.Tx) error {
		for _, id := range ids {
			if rr, err := dns.NewRR(id); err == nil && rr != nil {
				tx.Delete(rr)
			}
			tx.DeleteMeta(id)
		}
		return nil
	})
	if err != nil {
		if !errors.Is(err, zonemodel.ErrSuperseded) {
			log.Errorf("zone %s: expiring %d stale challenges: %v", z.origin, len(ids), err)
		}
		return
	}
	for _, id := range ids {
		log.Infof("zone %s: expired stale challenge %s (added by %s at %s)", z.origin, id, z.ch.recs[id].By, time.Unix(0, z.ch.recs[id].Added).UTC().Format(time.RFC3339))
		delete(z.ch.recs, id)
	}
	expired.WithLabelValues(z.origin).Add(float64(len(ids)))
	z.setGauges()
}

// op is one change of a request, authorized by the grants.
type op struct {
	grants.Change
	// keep (Add only): after adding, keep at most this many values at the
	// owner, the oldest removed first (acme-dns keeps the two newest).
	keep int
}

// Refusal is why a request changed nothing; Rcode is the DNS answer
// (REFUSED, a prerequisite's rcode, SERVFAIL) and Reason the metric label.
type Refusal struct {
	Rcode  int
	Reason string
	Msg    string
}

func (r *Refusal) Error() string { return r.Msg }

func refuse(reason, format string, a ...any) *Refusal {
	return &Refusal{Rcode: dns.RcodeRefused, Reason: reason, Msg: fmt.Sprintf(format, a...)}
}

// change applies the ops of one request by identity, all of one kind, in one
// transaction of the zone model on that kind's source: all or nothing,
// durable (fsynced) when it returns nil. check, if set, runs first inside the
// transaction (RFC 2136 prerequisites against the served snapshot). Limits
// are checked on the result.
func (z *zone) change(k kind, identity string, ops []op, check func(tx *zonemodel.Tx) *Refusal) (added, removed []string, err error) {
	if !z.ready.Load() {
		return nil, nil, &Refusal{Rcode: dns.RcodeServerFailure, Reason: "not_ready", Msg: "zone " + z.origin + " is not loaded yet"}
	}
	z.mu.Lock()
	defer z.mu.Unlock()
	c := &changeTx{z: z, identity: identity, set: z.ch, other: z.persist, maxTTL: z.p.cfg.ttl, now: time.Now().UnixNano(), staged: map[string]*recMeta{}}
	if k == kindPersist {
		c.set, c.other, c.maxTTL = z.persist, z.ch, z.p.cfg.persistTTL
	}
	var refusal *Refusal
	err = c.set.src.Update(nil, func(tx *zonemodel.Tx) error {
		refusal = c.run(tx, ops, check)
		if refusal != nil {
			return refusal
		}
		return nil
	})
	if refusal != nil {
		return nil, nil, refusal
	}
	if err != nil {
		reason := "store_error"
		if errors.Is(err, zonemodel.ErrSuperseded) {
			reason = "reloading"
		}
		return nil, nil, &Refusal{Rcode: dns.RcodeServerFailure, Reason: reason, Msg: err.Error()}
	}
	added, removed = c.committed()
	z.setGauges()
	return added, removed, nil
}

// changeTx is one request's change inside its transaction.
type changeTx struct {
	z          *zone
	identity   string
	set, other *recSet // the records of the request's kind, of the other kind
	maxTTL     uint32
	now        int64
	tx         *zonemodel.Tx
	view       string // the source's records are the same in each of its views
	// staged: record id → new metadata (nil: removed)
	staged  map[string]*recMeta
	touched map[string]bool // owners that got a record
}

// run checks the prerequisites, applies the ops, checks the limits and
// stages the metadata; a refusal rolls the transaction back.
func (c *changeTx) run(tx *zonemodel.Tx, ops []op, check func(tx *zonemodel.Tx) *Refusal) *Refusal {
	if check != nil {
		if r := check(tx); r != nil {
			return r
		}
	}
	c.tx, c.view, c.touched = tx, tx.Views()[0], map[string]bool{}
	for _, o := range ops {
		if r := c.apply(o); r != nil {
			return r
		}
	}
	if r := c.limits(); r != nil {
		return r
	}
	for id, rm := range c.staged {
		if rm == nil {
			if _, ok := c.set.recs[id]; ok {
				tx.DeleteMeta(id)
			}
			continue
		}
		b, _ := json.Marshal(rm)
		tx.SetMeta(id, b)
	}
	return nil
}

func (c *changeTx) del(rr dns.RR) {
	c.tx.Delete(rr)
	c.staged[recID(rr)] = nil
}

func (c *changeTx) delSet(name string, t uint16) {
	for _, rr := range c.tx.Records(c.view, name, t) {
		c.del(rr)
	}
}

// apply stages one op.
func (c *changeTx) apply(o op) *Refusal {
	switch o.Op {
	case grants.Add:
		return c.add(o)
	case grants.Delete:
		c.del(o.RR)
	case grants.DeleteRRset:
		c.delSet(o.Name, o.Type)
	case grants.DeleteName:
		for _, t := range c.z.p.policy.Types(c.identity, o.Name) {
			c.delSet(o.Name, t)
		}
	}
	return nil
}

// add stages an added record (class IN, TTL capped), refused where another
// source's data conflicts in some view; with keep, the oldest values beyond
// it go.
func (c *changeTx) add(o op) *Refusal {
	for _, v := range c.tx.Views() {
		if r := conflict(c.tx.Snapshot(v), zonemodel.Fqdn(o.RR.Header().Name), o.RR.Header().Rrtype); r != nil {
			return r
		}
	}
	rr := dns.Copy(o.RR)
	h := rr.Header()
	h.Class = dns.ClassINET
	if h.Ttl > c.maxTTL {
		h.Ttl = c.maxTTL
	}
	c.tx.Add(rr)
	id := recID(rr)
	c.staged[id] = &recMeta{Added: c.now, By: c.identity}
	owner := zonemodel.Fqdn(h.Name)
	c.touched[owner] = true
	if o.keep > 0 {
		c.set.trim(c.tx, c.view, owner, h.Rrtype, id, o.keep, c.staged, c.del)
	}
	return nil
}

// limits checks the result: values per owner the request added to, and
// records of the identity in the zone (both kinds count).
func (c *changeTx) limits() *Refusal {
	cfg := &c.z.p.cfg
	for owner := range c.touched {
		n := 0
		for _, t := range c.z.p.policy.Types(c.identity, owner) {
			n += len(c.tx.Records(c.view, owner, t))
		}
		if n > cfg.maxValues {
			return refuse("limit_values", "%s would have %d values (max-values %d)", owner, n, cfg.maxValues)
		}
	}
	if len(c.touched) == 0 {
		return nil
	}
	n := 0
	for _, rm := range c.other.recs {
		if rm.By == c.identity {
			n++
		}
	}
	for id, rm := range c.set.recs {
		if _, ok := c.staged[id]; !ok && rm.By == c.identity {
			n++
		}
	}
	for _, rm := range c.staged {
		if rm != nil && rm.By == c.identity {
			n++
		}
	}
	if n > cfg.maxRecords {
		return refuse("limit_records", "%s would have %d records in %s (max-records %d)", c.identity, n, c.z.origin, cfg.maxRecords)
	}
	return nil
}

// committed records the staged metadata once the transaction is durable and
// returns the ids added and removed, sorted.
func (c *changeTx) committed() (added, removed []string) {
	for id, rm := range c.staged {
		if rm == nil {
			if _, ok := c.set.recs[id]; ok {
				removed = append(removed, id)
				delete(c.set.recs, id)
			}
			continue
		}
		added = append(added, id)
		c.set.recs[id] = *rm
	}
	sort.Strings(added)
	sort.Strings(removed)
	return added, removed
}

// trim removes the oldest values at owner beyond keep, never the one just
// added (id).
func (s *recSet) trim(tx *zonemodel.Tx, view, owner string, t uint16, id string, keep int, staged map[string]*recMeta, del func(dns.RR)) {
	type aged struct {
		rr    dns.RR
		added int64
	}
	var others []aged
	for _, rr := range tx.Records(view, owner, t) {
		rid := recID(rr)
		if rid == id {
			continue
		}
		var at int64
		if rm, ok := staged[rid]; ok && rm != nil {
			at = rm.Added
		} else if rm, ok := s.recs[rid]; ok {
			at = rm.Added
		}
		others = append(others, aged{rr, at})
	}
	sort.SliceStable(others, func(i, j int) bool { return others[i].added < others[j].added })
	for len(others) > keep-1 {
		del(others[0].rr)
		others = others[1:]
	}
}

// count returns the live challenge records of the zone (for tests).
func (z *zone) count() int {
	z.mu.Lock()
	defer z.mu.Unlock()
	return len(z.ch.recs)
}

// describe is a short log form of record ids: owner and data.
func describe(ids []string) string {
	out := make([]string, len(ids))
	for i, id := range ids {
		// "owner 0 IN TYPE data" → "owner TYPE data"
		f := strings.SplitN(id, "\t", 5)
		if len(f) == 5 {
			out[i] = f[0] + " " + f[3] + " " + f[4]
		} else {
			out[i] = id
		}
	}
	return strings.Join(out, ", ")
}

// conflict refuses a record the zone could not serve: at a name that has a
// CNAME (the challenge is delegated elsewhere: set it at the target), or
// below a delegation or a DNAME (occluded).
func conflict(s *zonemodel.Snapshot, owner string, t uint16) *Refusal {
	if s == nil {
		return nil
	}
	if n := s.Node(owner); n != nil && t != dns.TypeCNAME && n.Get(dns.TypeCNAME) != nil {
		return refuse("conflict", "%s has a CNAME (to %s): set the challenge at the CNAME's target", owner, n.Get(dns.TypeCNAME).RRs[0].(*dns.CNAME).Target)
	}
	for name := zonemodel.Parent(owner); zonemodel.InZone(name, s.Origin) && name != s.Origin; name = zonemodel.Parent(name) {
		n := s.Node(name)
		if n == nil {
			continue
		}
		if n.Cut() {
			return refuse("conflict", "%s is below the delegation %s", owner, name)
		}
		if n.Get(dns.TypeDNAME) != nil {
			return refuse("conflict", "%s is below the DNAME at %s", owner, name)
		}
	}
	return nil
}
