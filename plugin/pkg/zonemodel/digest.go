package zonemodel

import (
	"fmt"

	"github.com/miekg/dns"
	bolt "go.etcd.io/bbolt"

	"github.com/dnspki/dnspki/plugin/pkg/zonemd"
)

// The zone digest (RFC 8976 ZONEMD, SIMPLE scheme) is part of each view's
// snapshot when Config.Digest names a hash algorithm: computed by the model
// from the snapshot itself, once per change, with the serial of the
// snapshot's SOA, journaled like any record (IXFR and AXFR carry the same
// one) and signed like any RRset. Sources cannot set the apex ZONEMD of such
// a zone: theirs is ignored (a primary's, on a secondary, was verified when
// it was transferred).

// kDigest is the view metadata key recording the hash algorithm of the
// ZONEMD the view's snapshot carries (absent: none made by the model).
var kDigest = []byte("digest")

// digestKey is the apex ZONEMD RRset of the zone.
func (z *Zone) digestKey() rrKey { return rrKey{z.Origin, dns.TypeZONEMD} }

// modelDigest reports whether the model owns the key (the apex ZONEMD of a
// zone with a digest configured).
func (z *Zone) modelDigest(k rrKey) bool { return z.cfg.Digest != 0 && k == z.digestKey() }

// digestTTL is the TTL of the ZONEMD record: the SOA's (RFC 8976 §2 leaves
// it to the zone; the SOA TTL makes it expire with the data it covers).
func digestTTL(s *Snapshot) uint32 { return s.soa.RRs[0].Header().Ttl }

// setDigest computes the digest of the snapshot being built by b (finished,
// with its SOA) with hash algorithm alg and puts the apex ZONEMD in it. It
// returns the records a journal entry must delete and add. alg 0 puts back
// the sources' apex ZONEMD (merged, possibly none) instead.
func (z *Zone) setDigest(b *builder, alg uint8, sources []dns.RR) (del, add []dns.RR, err error) {
	s := b.s
	var old []dns.RR
	if set := s.Get(z.Origin, dns.TypeZONEMD); set != nil {
		old = set.RRs
	}
	var want []dns.RR
	if alg == 0 {
		want = sources
	} else {
		// A placeholder first, so the apex node is this builder's own
		// copy before the canonical order is computed from the nodes.
		b.set(z.Origin, dns.TypeZONEMD, []dns.RR{zonemd.Record(z.Origin, digestTTL(s), s.Serial, alg, nil)})
		sum, err := digestSnapshot(s, alg)
		if err != nil {
			return nil, nil, err
		}
		want = []dns.RR{normalize(zonemd.Record(z.Origin, digestTTL(s), s.Serial, alg, sum))}
	}
	b.set(z.Origin, dns.TypeZONEMD, want)
	s.digest = alg
	for _, rr := range old {
		if !containsExact(want, rr) {
			del = append(del, rr)
		}
	}
	for _, rr := range want {
		if !containsExact(old, rr) {
			add = append(add, rr)
		}
	}
	return del, add, nil
}

// digestSnapshot is the SIMPLE digest of every RRset of s in canonical
// order (the apex ZONEMD excluded by the digester).
func digestSnapshot(s *Snapshot, alg uint8) ([]byte, error) {
	d, err := zonemd.NewDigester(s.Origin, alg)
	if err != nil {
		return nil, err
	}
	for _, n := range s.Sorted() {
		for _, set := range n.Sets {
			if set.Type == dns.TypeZONEMD && set.Name == s.Origin {
				continue // excluded (RFC 8976 §3.3.1)
			}
			w, err := set.canonical()
			if err != nil {
				return nil, err
			}
			d.Write(w)
		}
	}
	return d.Sum(), nil
}

// canonical returns the set's records in canonical form and order, as the
// digest hashes them, computed once per RRset (a set unchanged by a change
// is shared by the next snapshot, with this cache).
func (s *RRset) canonical() ([]byte, error) {
	if p := s.canon.Load(); p != nil {
		return *p, nil
	}
	w, err := zonemd.AppendRRset(nil, s.RRs)
	if err != nil {
		return nil, fmt.Errorf("%s/%s: %w", s.Name, dns.TypeToString[s.Type], err)
	}
	s.canon.Store(&w)
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

// putDigestMeta records in a view's metadata which model digest its
// snapshot carries.
func putDigestMeta(meta *bolt.Bucket, s *Snapshot) error {
	if s.digest != 0 {
		return meta.Put(kDigest, []byte{s.digest})
	}
	return meta.Delete(kDigest)
}
