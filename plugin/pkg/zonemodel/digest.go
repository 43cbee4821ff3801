package zonemodel

import (
	"github.com/miekg/dns"

	"github.com/dnspki/dnspki/plugin/pkg/zonemd"
)

// The zone digest (RFC 8976 ZONEMD, SIMPLE scheme) is part of each view's
// snapshot when Config.Digest names a hash algorithm: computed by the model
// from the snapshot itself, once per change, with the serial of the
// snapshot's SOA, journaled like any record (IXFR and AXFR carry the same
// one) and signed like any RRset. Sources cannot set the apex ZONEMD of such
// a zone: the apex ZONEMD set serves the model's record and only remembers
// the sources' records there (its contributions, stored like any other), so
// they come back if the digest is turned off. (A primary's ZONEMD, on a
// secondary, was verified when it was transferred.)

// digestKey is the apex ZONEMD RRset of the zone.
func (z *Zone) digestKey() rrKey { return rrKey{z.Origin, dns.TypeZONEMD} }

// modelDigest reports whether the model owns the key (the apex ZONEMD of a
// zone with a digest configured).
func (z *Zone) modelDigest(k rrKey) bool { return z.cfg.Digest != 0 && k == z.digestKey() }

// digestTTL is the TTL of the ZONEMD record: the SOA's (RFC 8976 §2 leaves
// it to the zone; the SOA TTL makes it expire with the data it covers).
func digestTTL(s *Snapshot) uint32 { return s.soa.RRs[0].Header().Ttl }

// modelSet is the apex ZONEMD set of a zone whose digest the model makes,
// while a change is applied: the sources' records there become its
// contributions c, and it serves what it served (old), or, without an old
// set, the sources' records until setDigest puts the model's in. nil: no
// set.
func modelSet(old *RRset, c []srcRecs, t *srcTable) *RRset {
	var rrs []dns.RR
	if old != nil {
		rrs = old.RRs
	} else {
		rrs = t.merge(c)
	}
	if len(rrs) == 0 {
		return nil
	}
	set := &RRset{Type: dns.TypeZONEMD, RRs: rrs}
	set.setContribs(c)
	return set
}

// setDigest computes the digest of the snapshot being built by b (finished,
// with its SOA) with hash algorithm alg and puts the apex ZONEMD in it,
// keeping the sources' records there as the set's contributions. It returns
// the records a journal entry must delete and add. alg 0 serves the
// sources' apex ZONEMD (merged, possibly none) instead.
func (z *Zone) setDigest(b *builder, alg uint8) (del, add []dns.RR, err error) {
	s := b.s
	old := s.apex.Get(dns.TypeZONEMD)
	var oldRRs []dns.RR
	var c []srcRecs
	if old != nil {
		oldRRs = old.RRs
		old.eachContrib(func(src srcID, rrs []dns.RR) { c = append(c, srcRecs{src, rrs}) })
	}
	var want []dns.RR
	if alg == 0 {
		want = z.tbl.merge(c)
	} else {
		sum, err := digestSnapshot(s, alg)
		if err != nil {
			return nil, nil, err
		}
		want = []dns.RR{normalize(zonemd.Record(z.Origin, digestTTL(s), s.Serial, alg, sum))}
	}
	var set *RRset
	if len(want) > 0 {
		set = &RRset{Type: dns.TypeZONEMD, RRs: want}
		set.setContribs(c)
	}
	b.put(z.Origin, "", dns.TypeZONEMD, set)
	s.tree = b.tb.tree()
	s.apex = s.tree.get("")
	s.mdAlg = alg
	for _, rr := range oldRRs {
		if !containsExact(want, rr) {
			del = append(del, rr)
		}
	}
	for _, rr := range want {
		if !containsExact(oldRRs, rr) {
			add = append(add, rr)
		}
	}
	return del, add, nil
}

// digestSnapshot is the SIMPLE digest of every RRset of s in canonical
// order, the tree's (the apex ZONEMD excluded), leaf by leaf.
func digestSnapshot(s *Snapshot, alg uint8) ([]byte, error) {
	d, err := zonemd.NewDigester(s.Origin, alg)
	if err != nil {
		return nil, err
	}
	if s.tree.root != nil {
		s.tree.root.eachLeaf(func(l *tnode) bool {
			var w []byte
			if w, err = leafCanonical(l); err != nil {
				return false
			}
			d.Write(w)
			return true
		})
	}
	if err != nil {
		return nil, err
	}
	return d.Sum(), nil
}

// leafCanonical returns the RRsets of a tree leaf's names in canonical
// form and order, as the digest hashes them (the apex ZONEMD excluded),
// computed once per leaf: a change copies the leaves it touches and shares
// the others with the next snapshot's tree, with this cache, so a digest
// per change makes the canonical form of a few dozen names. (Cached on the
// leaf, not on each RRset: a field more would take RRset out of its
// allocation size class.) A leaf is not changed after its snapshot's digest
// but for the apex ZONEMD, which the cache leaves out; a builder changing a
// leaf it made clears the cache (tbuilder.own).
func leafCanonical(l *tnode) ([]byte, error) {
	if p := l.canon.Load(); p != nil {
		return *p, nil
	}
	var w []byte
	for i, n := range l.vals {
		for _, set := range n.Sets {
			if set.Type == dns.TypeZONEMD && l.keys[i] == "" {
				continue // excluded (RFC 8976 §3.3.1)
			}
			var err error
			if w, err = zonemd.AppendRRset(w, set.RRs); err != nil {
				return nil, err
			}
		}
	}
	l.canon.Store(&w)
	return w, nil
}

// Digest returns the snapshot's apex ZONEMD record made by the model, or
// nil.
func (s *Snapshot) Digest() *dns.ZONEMD {
	if set := s.Get(s.Origin, dns.TypeZONEMD); set != nil {
		for _, rr := range set.RRs {
			if md, ok := rr.(*dns.ZONEMD); ok && md.Serial == s.Serial {
				return md
			}
		}
	}
	return nil
}
