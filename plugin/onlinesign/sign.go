package onlinesign

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"weak"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/dnspki/dnspki/plugin/pkg/zonemodel"
)

// signingKey is a key the signer uses.
type signingKey struct {
	key *Key
	tag uint16
	alg uint8
}

// keySet is the keys that sign, swapped atomically on every key change.
// Cached signatures remember the key set they were made with: a new key set
// makes them all stale.
type keySet struct {
	id     string        // which keys sign what (algorithm/tag lists): equal ids sign alike
	signer string        // the zone's origin: RRSIG signer name
	zone   []*signingKey // sign every RRset but DNSKEY/CDS/CDNSKEY
	keys   []*signingKey // sign DNSKEY, CDS and CDNSKEY
}

func (ks *keySet) forType(t uint16) []*signingKey {
	switch t {
	case dns.TypeDNSKEY, dns.TypeCDS, dns.TypeCDNSKEY:
		return ks.keys
	}
	return ks.zone
}

var errNoKeys = errors.New("no active signing key")

// signer signs the answers of one zone: the zonemodel.Signer of the zone.
type signer struct {
	m      *manager
	origin string
	ks     atomic.Pointer[keySet]
	cfg    atomic.Pointer[sigConfig]
	ring   *auxRing
	den    *denialCache

	presignMu sync.Mutex
	changes   chan zonemodel.Change
	quit      chan struct{}
	wg        sync.WaitGroup

	setPuts, denPuts atomic.Int64

	// Signed transfers (chain.go).
	chainMu    sync.Mutex
	chains     map[string]*chainState // by view
	chainBuilt func(view string, serial uint32, keys string, refresh int64)

	hitSet, missSet, hitDen, missDen   prometheus.Counter
	sigSet, sigDen, sigChain, failures prometheus.Counter
}

func newSigner(m *manager, cfg zoneConfig) *signer {
	s := &signer{
		m: m, origin: cfg.origin,
		ring:     newAuxRing(cfg.cacheSet, cfg.cacheSetBytes),
		den:      newDenialCache(cfg.cacheDen, cfg.cacheDenBytes),
		changes:  make(chan zonemodel.Change, 64),
		quit:     make(chan struct{}),
		hitSet:   cacheLookups.WithLabelValues(cfg.origin, "rrset", "hit"),
		missSet:  cacheLookups.WithLabelValues(cfg.origin, "rrset", "miss"),
		hitDen:   cacheLookups.WithLabelValues(cfg.origin, "denial", "hit"),
		missDen:  cacheLookups.WithLabelValues(cfg.origin, "denial", "miss"),
		sigSet:   signatures.WithLabelValues(cfg.origin, "rrset"),
		sigDen:   signatures.WithLabelValues(cfg.origin, "denial"),
		sigChain: signatures.WithLabelValues(cfg.origin, "chain"),
		failures: signFailures.WithLabelValues(cfg.origin),
	}
	s.configure(cfg)
	s.wg.Add(1)
	go s.worker()
	return s
}

func (s *signer) configure(cfg zoneConfig) {
	c := cfg.sig
	s.cfg.Store(&c)
	s.ring.resize(cfg.cacheSet, cfg.cacheSetBytes)
	s.den.resize(cfg.cacheDen, cfg.cacheDenBytes)
}

func (s *signer) setKeys(ks *keySet) { s.ks.Store(ks) }

func (s *signer) shutdown() {
	close(s.quit)
	s.wg.Wait()
}

// validity returns inception, expiration and the refresh time (unix seconds)
// of a signature made now.
func (s *signer) validity(now time.Time) (uint32, uint32, int64) {
	c := s.cfg.Load()
	exp := now.Add(c.validity)
	if c.jitter > 0 {
		exp = exp.Add(-rand.N(c.jitter))
	}
	inc := now.Add(-c.inception)
	return uint32(inc.Unix()), uint32(exp.Unix()), exp.Add(-c.refresh).Unix()
}

// sign makes one RRSIG over rrs (all of one owner and type, the owner being
// the name to sign under, "*.…" for a wildcard) with key k.
func sign(k *signingKey, signerName string, rrs []dns.RR, inc, exp uint32, bulk bool) (*dns.RRSIG, error) {
	h := rrs[0].Header()
	sig := &dns.RRSIG{
		Hdr:        dns.RR_Header{Name: h.Name, Rrtype: dns.TypeRRSIG, Class: dns.ClassINET, Ttl: h.Ttl},
		Algorithm:  k.alg,
		OrigTtl:    h.Ttl,
		Expiration: exp,
		Inception:  inc,
		KeyTag:     k.tag,
		SignerName: signerName,
	}
	if err := sig.Sign(pooled{k.key.Signer, bulk}, rrs); err != nil {
		return nil, fmt.Errorf("signing %s/%s with key %d: %w", h.Name, dns.TypeToString[h.Rrtype], k.tag, err)
	}
	return sig, nil
}

// sigEntry is the cached signatures of one RRset (RRset.Aux).
type sigEntry struct {
	ks      *keySet
	refresh int64
	sigs    []dns.RR // RRSIG TTL = the set's TTL
	neg     []dns.RR // for the SOA: RRSIG TTL = the negative-answer TTL
	ref     atomic.Bool
	set     weak.Pointer[zonemodel.RRset] // the RRset whose Aux holds the entry
	slot    int
	size    int64 // memory, estimated (entrySize)
}

// sigsOf returns the signatures of set with the current keys, from the cache
// or signed now.
func (s *signer) sigsOf(set *zonemodel.RRset, snap *zonemodel.Snapshot, ks *keySet, now time.Time) (*sigEntry, error) {
	if e, ok := set.Aux().(*sigEntry); ok && e.ks == ks && now.Unix() < e.refresh {
		if !e.ref.Load() {
			e.ref.Store(true)
		}
		s.hitSet.Inc()
		return e, nil
	}
	s.missSet.Inc()
	return s.signSet(set, snap, ks, now, false)
}

func (s *signer) signSet(set *zonemodel.RRset, snap *zonemodel.Snapshot, ks *keySet, now time.Time, bulk bool) (*sigEntry, error) {
	e, err := s.newSigEntry(set, snap, ks, now, bulk)
	if err != nil {
		return nil, err
	}
	s.cache(set, e, true)
	return e, nil
}

// newSigEntry signs set with the keys of ks (bulk: on the background queue).
func (s *signer) newSigEntry(set *zonemodel.RRset, snap *zonemodel.Snapshot, ks *keySet, now time.Time, bulk bool) (*sigEntry, error) {
	keys := ks.forType(set.Type)
	if len(keys) == 0 {
		return nil, errNoKeys
	}
	inc, exp, refresh := s.validity(now)
	e := &sigEntry{ks: ks, refresh: refresh}
	for _, k := range keys {
		sig, err := sign(k, ks.signer, set.RRs, inc, exp, bulk)
		if err != nil {
			s.failures.Inc()
			return nil, err
		}
		s.sigSet.Inc()
		e.sigs = append(e.sigs, sig)
	}
	if set.Type == dns.TypeSOA && snap != nil && snap.SOA() == set {
		ttl := snap.NegativeSOA().Header().Ttl
		for _, x := range e.sigs {
			c := *x.(*dns.RRSIG)
			c.Hdr.Ttl = ttl
			e.neg = append(e.neg, &c)
		}
	}
	e.size = entrySize(e)
	return e, nil
}

// cache keeps e on set (evict: making room if the cache is full) and
// reports whether it did.
func (s *signer) cache(set *zonemodel.RRset, e *sigEntry, evict bool) bool {
	ok := s.ring.add(set, e, evict)
	if s.setPuts.Add(1)%1024 == 1 {
		s.cacheMetrics("rrset")
	}
	return ok
}

// cacheMetrics updates the gauges of one cache ("rrset" or "denial").
func (s *signer) cacheMetrics(kind string) {
	if kind == "rrset" {
		cacheEntries.WithLabelValues(s.origin, kind).Set(float64(s.ring.len()))
		cacheBytes.WithLabelValues(s.origin, kind).Set(float64(s.ring.bytes()))
		return
	}
	cacheEntries.WithLabelValues(s.origin, kind).Set(float64(s.den.len()))
	cacheBytes.WithLabelValues(s.origin, kind).Set(float64(s.den.bytes()))
}

// render is one signed answer in the making.
type render struct {
	s    *signer
	ks   *keySet
	snap *zonemodel.Snapshot
	now  time.Time
}

// Render implements zonemodel.Signer: the answer with RRSIGs on every
// authoritative RRset and RFC 9824 compact denial of existence.
func (s *signer) Render(ctx context.Context, view *zonemodel.View, req *dns.Msg, resp *zonemodel.Response, m *dns.Msg) error {
	ks := s.ks.Load()
	if ks == nil || len(ks.zone) == 0 || len(ks.keys) == 0 {
		s.failures.Inc()
		return errNoKeys
	}
	r := &render{s: s, ks: ks, snap: resp.Zone, now: time.Now()}
	m.Authoritative = resp.Authoritative
	m.Rcode = resp.Rcode
	r.grow(m, resp)
	var err error
	if m.Answer, err = r.entries(m.Answer, resp.Answer); err != nil {
		return err
	}
	var qtype uint16
	if len(req.Question) > 0 {
		qtype = req.Question[0].Qtype
	}
	// A query for the RRSIG type at a name with data is answered with the
	// signatures of its RRsets (they are not signed themselves).
	if qtype == dns.TypeRRSIG && len(resp.Answer) == 0 && len(resp.Denials) == 1 && resp.Denials[0].Kind == zonemodel.NoData &&
		resp.Denials[0].Node != nil && !resp.Denials[0].Node.Empty() && !resp.Denials[0].Node.Cut() {
		m.Answer, err = r.nodeSigs(m.Answer, resp.Denials[0].Node)
		return err
	}
	// A query for the NSEC type itself is answered with the NSEC record the
	// denial would carry (it "exists" at the name).
	nsecAnswer := qtype == dns.TypeNSEC && len(resp.Denials) == 1 && len(resp.Answer) == 0 &&
		(resp.Denials[0].Kind == zonemodel.NoData || resp.Denials[0].Kind == zonemodel.NXDomain || resp.Denials[0].Kind == zonemodel.WildcardNoData)
	if resp.NegSOA && !nsecAnswer {
		if m.Ns, err = r.negativeSOA(m.Ns); err != nil {
			return err
		}
	}
	if m.Ns, err = r.entries(m.Ns, resp.Authority); err != nil {
		return err
	}
	if err := r.denials(m, resp.Denials, nsecAnswer); err != nil {
		return err
	}
	if m.Extra, err = r.entries(m.Extra, resp.Additional); err != nil {
		return err
	}
	// RFC 9824 §3.1: a name that does not exist is answered NOERROR (it
	// "exists" without data), unless the client set the Compact Answers OK
	// flag, asking for the NXDOMAIN rcode back (§4).
	if m.Rcode == dns.RcodeNameError && !compactOK(req) {
		m.Rcode = dns.RcodeSuccess
	}
	return nil
}

// grow makes room in m's sections for the records and their signatures,
// allocated once.
func (r *render) grow(m *dns.Msg, resp *zonemodel.Response) {
	sigs := len(r.ks.zone)
	size := func(es []zonemodel.Entry) int {
		n := 0
		for _, e := range es {
			if e.Set != nil {
				n += len(e.Set.RRs) + sigs
			} else {
				n += len(e.Synth)
			}
		}
		return n
	}
	m.Answer = slices.Grow(m.Answer, size(resp.Answer))
	nsN := size(resp.Authority) + len(resp.Denials)*(1+sigs)
	if resp.NegSOA {
		nsN += 1 + sigs
	}
	m.Ns = slices.Grow(m.Ns, nsN)
	m.Extra = slices.Grow(m.Extra, size(resp.Additional)+1)
}

// entries appends the RRsets of a section with their signatures.
func (r *render) entries(dst []dns.RR, es []zonemodel.Entry) ([]dns.RR, error) {
	var err error
	for _, e := range es {
		if dst, err = r.entry(dst, e); err != nil {
			return dst, err
		}
	}
	return dst, nil
}

// nodeSigs appends the signatures of the node's RRsets (the answer to an
// RRSIG query).
func (r *render) nodeSigs(dst []dns.RR, n *zonemodel.Node) ([]dns.RR, error) {
	for _, set := range n.Sets {
		if set.Type == dns.TypeRRSIG || set.Type == dns.TypeNSEC {
			continue
		}
		e, err := r.s.sigsOf(set, r.snap, r.ks, r.now)
		if err != nil {
			return dst, err
		}
		dst = append(dst, e.sigs...)
	}
	return dst, nil
}

// negativeSOA appends the SOA of a negative answer (RFC 9077 TTL) and its
// signatures.
func (r *render) negativeSOA(dst []dns.RR) ([]dns.RR, error) {
	e, err := r.s.sigsOf(r.snap.SOA(), r.snap, r.ks, r.now)
	if err != nil {
		return dst, err
	}
	dst = append(dst, r.snap.NegativeSOA())
	return append(dst, e.neg...), nil
}

// denials appends the NSEC records of the denials (to the answer, NOERROR,
// for a query of the NSEC type).
func (r *render) denials(m *dns.Msg, ds []zonemodel.Denial, nsecAnswer bool) error {
	for _, d := range ds {
		rrs, err := r.denial(d)
		if err != nil {
			r.s.failures.Inc()
			return err
		}
		if nsecAnswer {
			m.Answer = append(m.Answer, rrs...)
			m.Rcode = dns.RcodeSuccess
		} else {
			m.Ns = append(m.Ns, rrs...)
		}
	}
	return nil
}

func compactOK(req *dns.Msg) bool {
	o := req.IsEdns0()
	return o != nil && o.Co()
}

// entry appends an RRset of a section and its signatures.
func (r *render) entry(dst []dns.RR, e zonemodel.Entry) ([]dns.RR, error) {
	if e.Set == nil {
		return append(dst, e.Synth...), nil // synthesized from a DNAME: never signed
	}
	dst = append(dst, e.RRs()...)
	set := e.Set
	if set.Type == dns.TypeRRSIG || (set.Type != dns.TypeDS && r.snap.Delegated(set.Name())) {
		return dst, nil // not authoritative: NS at a cut, glue
	}
	se, err := r.s.sigsOf(set, r.snap, r.ks, r.now)
	if err != nil {
		return nil, err
	}
	if e.Owner == "" {
		return append(dst, se.sigs...), nil
	}
	for _, x := range se.sigs {
		c := *x.(*dns.RRSIG)
		c.Hdr.Name = e.Owner
		dst = append(dst, &c)
	}
	return dst, nil
}

// The type bitmap of a name that does not exist (RFC 9824 §3.1) and of a
// name we claim to exist only for an NSEC record (epsilon owners).
var (
	nxBitmap    = []uint16{dns.TypeRRSIG, dns.TypeNSEC, dns.TypeNXNAME}
	coverBitmap = []uint16{dns.TypeRRSIG, dns.TypeNSEC}
)

// bitmap is the exact set of types at node n, plus RRSIG and NSEC. At a zone
// cut only NS and DS are the parent's (RFC 4035 §2.3).
func bitmap(n *zonemodel.Node) []uint16 {
	out := make([]uint16, 0, len(n.Sets)+2)
	if n.Cut() {
		out = append(out, dns.TypeNS)
		if n.Get(dns.TypeDS) != nil {
			out = append(out, dns.TypeDS)
		}
	} else {
		for _, s := range n.Sets {
			if s.Type != dns.TypeRRSIG && s.Type != dns.TypeNSEC {
				out = append(out, s.Type)
			}
		}
	}
	out = append(out, dns.TypeRRSIG, dns.TypeNSEC)
	slices.Sort(out)
	return slices.Compact(out)
}

// denial returns the NSEC record (and its signatures) a denial calls for.
func (r *render) denial(d zonemodel.Denial) ([]dns.RR, error) {
	ttl := r.snap.NegativeSOA().Header().Ttl
	key := denKey{kind: uint8(d.Kind), name: d.Name}
	var types []uint16
	switch d.Kind {
	case zonemodel.NXDomain:
		types = nxBitmap
	case zonemodel.NoData, zonemodel.WildcardNoData, zonemodel.Delegation:
		// A wildcard NODATA is answered as a NODATA at the name itself: the
		// name "exists" with the wildcard's types (compact answers).
		if d.Node == nil {
			return nil, fmt.Errorf("denial of %s without a node", d.Name)
		}
		types = bitmap(d.Node)
		if d.Kind != zonemodel.Delegation && d.Node.Cut() {
			key.kind = uint8(zonemodel.Delegation)
		}
	case zonemodel.WildcardAnswer:
		types = coverBitmap
		key.ce = d.Closest
	default:
		return nil, fmt.Errorf("unknown denial kind %d", d.Kind)
	}
	if e := r.s.den.get(key); e != nil && e.ks == r.ks && r.now.Unix() < e.refresh && e.ttl == ttl && slices.Equal(e.types, types) {
		r.s.hitDen.Inc()
		return e.rrs, nil
	}
	r.s.missDen.Inc()
	var owner, next string
	var err error
	if d.Kind == zonemodel.WildcardAnswer {
		owner, next, err = cover(r.snap, d.Name, d.Closest)
	} else {
		owner = d.Name
		next, err = successor(d.Name)
	}
	if err != nil {
		return nil, err
	}
	nsec := &dns.NSEC{
		Hdr:        dns.RR_Header{Name: owner, Rrtype: dns.TypeNSEC, Class: dns.ClassINET, Ttl: ttl},
		NextDomain: next,
		TypeBitMap: types,
	}
	rrs := []dns.RR{nsec}
	inc, exp, refresh := r.s.validity(r.now)
	for _, k := range r.ks.zone {
		sig, err := signNSEC(k, r.ks.signer, nsec, inc, exp)
		if err != nil {
			return nil, err
		}
		r.s.sigDen.Inc()
		rrs = append(rrs, sig)
	}
	r.s.den.put(key, &denEntry{ks: r.ks, refresh: refresh, ttl: ttl, types: types, rrs: rrs})
	if r.s.denPuts.Add(1)%1024 == 1 {
		r.s.cacheMetrics("denial")
	}
	return rrs, nil
}

// presignAll signs, on all cores, the RRsets of every view of z whose cached
// signatures are stale, and those without any while the cache has room (see
// presign). One full pass runs at a time.
func (s *signer) presignAll(z *zonemodel.Zone) {
	s.presignMu.Lock()
	defer s.presignMu.Unlock()
	ks := s.ks.Load()
	if ks == nil {
		return
	}
	before := s.setPuts.Load()
	defer func() {
		// Signing a large zone leaves hundreds of MB of garbage (each
		// ECDSA signature allocates kilobytes) that the heap would keep;
		// after a pass that big, give it back to the system.
		if s.setPuts.Load()-before > presignRelease {
			debug.FreeOSMemory()
		}
	}()
	for _, v := range z.Views() {
		if !s.presign(v.Snapshot(), ks, nil) {
			return
		}
	}
}

// presignRelease is the number of signatures after which a pass returns
// the memory it freed to the system.
const presignRelease = 20000

// presign signs the RRsets of snap (all, or those at names) that need it.
// A pass over all of them re-signs the stale entries in place and adds new
// ones only while the cache has free room: it never evicts, so that in a
// zone larger than the cache what queries asked for stays cached. The RRsets
// at names, just changed, are cached like answers, evicting others. It
// reports false when it stopped early (key change, shutdown).
func (s *signer) presign(snap *zonemodel.Snapshot, ks *keySet, names []string) bool {
	if snap.SOA() == nil {
		return true
	}
	fill := names == nil
	var full atomic.Bool // fill: an entry did not fit
	jobs, wait := s.presignWorkers(snap, ks, fill, &full)
	ok := true
	now := time.Now().Unix()
	feed := func(set *zonemodel.RRset) bool {
		if s.ks.Load() != ks {
			ok = false
			return false
		}
		select {
		case <-s.quit:
			ok = false
			return false
		default:
		}
		if set.Type == dns.TypeRRSIG || (set.Type != dns.TypeDS && snap.Delegated(set.Name())) {
			return true
		}
		e, cached := set.Aux().(*sigEntry)
		if cached && e.ks == ks && now < e.refresh {
			return true
		}
		if fill && !cached && (full.Load() || s.ring.full()) {
			return true // no room for it; stale entries further on are still re-signed
		}
		jobs <- set
		return true
	}
	if names == nil {
		snap.Each(feed)
	} else {
		feed(snap.SOA())
		for _, n := range names {
			if node := snap.Node(n); node != nil {
				for _, set := range node.Sets {
					if !feed(set) {
						break
					}
				}
			}
		}
	}
	close(jobs)
	wait()
	s.cacheMetrics("rrset")
	return ok
}

// presignWorkers starts one signing worker per core on the RRsets sent to
// jobs; wait waits for them after jobs is closed. With fill, an entry that
// does not fit without evicting is dropped and full is set.
func (s *signer) presignWorkers(snap *zonemodel.Snapshot, ks *keySet, fill bool, full *atomic.Bool) (jobs chan *zonemodel.RRset, wait func()) {
	jobs = make(chan *zonemodel.RRset, 256)
	var wg sync.WaitGroup
	var failed atomic.Bool
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for set := range jobs {
				_, cached := set.Aux().(*sigEntry)
				if fill && !cached && full.Load() {
					continue
				}
				e, err := s.newSigEntry(set, snap, ks, time.Now(), true)
				if err != nil {
					if !failed.Swap(true) {
						log.Errorf("zone %s: pre-signing: %v", s.origin, err)
					}
					continue
				}
				if !s.cache(set, e, !fill) && fill {
					full.Store(true)
				}
			}
		}()
	}
	return jobs, wg.Wait
}

// changed hears committed changes of the zone (it must not block): the new
// and changed RRsets are signed in the background.
func (s *signer) changed(ch zonemodel.Change) {
	select {
	case s.changes <- ch:
	default:
	}
}

func (s *signer) worker() {
	defer s.wg.Done()
	for {
		select {
		case <-s.quit:
			return
		case ch := <-s.changes:
			ks := s.ks.Load()
			if ks == nil || ch.Entry == nil {
				continue
			}
			var names []string
			for _, rr := range ch.Entry.Add {
				n := zonemodel.Fqdn(rr.Header().Name)
				if !slices.Contains(names, n) {
					names = append(names, n)
				}
			}
			s.presignMu.Lock()
			s.presign(ch.New, ks, names)
			s.presignMu.Unlock()
		}
	}
}
