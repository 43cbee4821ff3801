package onlinesign

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/dnspki/dnspki/plugin/pkg/zonemodel"
)

// bigSigner is testSigner with a zone of n more names (one A record each).
func bigSigner(t *testing.T, n int) (*zonemodel.Zone, *manager) {
	t.Helper()
	var sb strings.Builder
	sb.WriteString(testZone)
	for i := range n {
		fmt.Fprintf(&sb, "host%d IN A 10.%d.%d.%d\n", i, i>>16&255, i>>8&255, i&255)
	}
	z, m := signerWithZone(t, sb.String(), nil)
	if err := z.Sync(); err != nil { // the first load's write: not in the heap figures
		t.Fatal(err)
	}
	return z, m
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// The caches' byte accounting is close to the memory their entries really
// take, so that cache-size bounds the heap: signing a few thousand RRsets
// and denials grows the heap by about what the caches count.
func TestCacheSizeEstimate(t *testing.T) {
	const n = 4000
	z, m := bigSigner(t, n)
	s := m.signer
	s.configure(zoneConfig{origin: m.origin, sig: m.cfg.sig, cacheSet: noEntryBound, cacheDen: noEntryBound,
		cacheSetBytes: 1 << 30, cacheDenBytes: 1 << 30})
	snap := z.View("").Snapshot()
	ks := s.ks.Load()
	var sets []*zonemodel.RRset
	snap.Each(func(set *zonemodel.RRset) bool {
		if strings.HasPrefix(set.Name(), "host") {
			sets = append(sets, set)
		}
		return true
	})
	before := heapInUse()
	for _, set := range sets {
		if _, err := s.signSet(set, snap, ks, time.Now(), false); err != nil {
			t.Fatal(err)
		}
	}
	grew := float64(heapInUse() - before)
	counted := float64(s.ring.bytes())
	t.Logf("RRset signatures: %d entries, counted %.0f B each, heap grew %.0f B each", s.ring.len(), counted/float64(len(sets)), grew/float64(len(sets)))
	if counted < 0.75*grew || counted > 1.4*grew {
		t.Errorf("the signature cache counts %.0f bytes for %.0f bytes of heap", counted, grew)
	}

	before = heapInUse()
	for i := range n {
		ask(t, z, fmt.Sprintf("nx%d-%x.example.test.", i, i*7919), dns.TypeA, false)
	}
	grew = float64(heapInUse() - before)
	counted = float64(s.den.bytes())
	t.Logf("denials: %d entries, counted %.0f B each, heap grew %.0f B each", s.den.len(), counted/n, grew/n)
	if counted < 0.75*grew || counted > 1.4*grew {
		t.Errorf("the denial cache counts %.0f bytes for %.0f bytes of heap", counted, grew)
	}
	runtime.KeepAlive(sets)
}

// The bytes bound holds whatever the number of entries allowed: entries
// are evicted (their RRsets lose the cached signature) to stay within it.
func TestCacheBytesBound(t *testing.T) {
	z, m := bigSigner(t, 500)
	s := m.signer
	const setBytes, denBytes = 20 << 10, 32 << 10
	s.configure(zoneConfig{origin: m.origin, sig: m.cfg.sig, cacheSet: noEntryBound, cacheDen: noEntryBound,
		cacheSetBytes: setBytes, cacheDenBytes: denBytes})
	for i := range 500 {
		ask(t, z, fmt.Sprintf("host%d.example.test.", i), dns.TypeA, false)
		ask(t, z, fmt.Sprintf("nx%d.example.test.", i), dns.TypeA, false)
	}
	if b := s.ring.bytes(); b > setBytes || b < setBytes/2 {
		t.Errorf("signature cache at %d bytes, bound %d", b, setBytes)
	}
	cached, counted := 0, int64(0)
	z.View("").Snapshot().Each(func(set *zonemodel.RRset) bool {
		if e, ok := set.Aux().(*sigEntry); ok {
			cached++
			counted += e.size
		}
		return true
	})
	if cached != s.ring.len() || counted != s.ring.bytes() {
		t.Errorf("%d RRsets (%d bytes) carry signatures, the cache counts %d (%d bytes)", cached, counted, s.ring.len(), s.ring.bytes())
	}
	if b := s.den.bytes(); b > denBytes || b == 0 {
		t.Errorf("denial cache at %d bytes, bound %d", b, denBytes)
	}
	// Shrinking the bound evicts down to it.
	s.configure(zoneConfig{origin: m.origin, sig: m.cfg.sig, cacheSet: noEntryBound, cacheDen: noEntryBound,
		cacheSetBytes: setBytes / 4, cacheDenBytes: denBytes / 4})
	if b := s.ring.bytes(); b > setBytes/4 {
		t.Errorf("signature cache at %d bytes after shrinking to %d", b, setBytes/4)
	}
	if b := s.den.bytes(); b > denBytes/4 {
		t.Errorf("denial cache at %d bytes after shrinking to %d", b, denBytes/4)
	}
	// Answers are still signed and valid when the cache cannot hold them.
	s.configure(zoneConfig{origin: m.origin, sig: m.cfg.sig, cacheSet: noEntryBound, cacheDen: noEntryBound})
	d := ask(t, z, "host7.example.test.", dns.TypeA, false)
	verifySection(t, z, d.Answer)
	if s.ring.len() != 0 || s.den.len() != 0 {
		t.Errorf("caches of 0 bytes hold %d and %d entries", s.ring.len(), s.den.len())
	}
}

// A full pre-signing pass fills the cache's free room and stops there: it
// never evicts. (A pass over a zone larger than the cache used to sign all
// of it, each signature evicting an earlier one.)
func TestPresignFillsOnly(t *testing.T) {
	z, m := bigSigner(t, 500)
	s := m.signer
	s.presignAll(z) // after the pass the zone's start began (or instead of it)
	const setBytes = 20 << 10
	s.configure(zoneConfig{origin: m.origin, sig: m.cfg.sig, cacheSet: noEntryBound, cacheDen: noEntryBound,
		cacheSetBytes: setBytes, cacheDenBytes: 1 << 20})
	kept := s.ring.len()
	if kept == 0 || kept > 100 {
		t.Fatalf("%d entries within %d bytes", kept, setBytes)
	}
	before := s.setPuts.Load()
	s.presignAll(z)
	signed := s.setPuts.Load() - before
	if limit := int64(2*runtime.GOMAXPROCS(0) + 4); signed > limit {
		t.Errorf("a pass over a full cache signed %d RRsets (at most %d: the workers' last ones)", signed, limit)
	}
	if b := s.ring.bytes(); b > setBytes {
		t.Errorf("signature cache at %d bytes, bound %d", b, setBytes)
	}

	// After a key change, a pass over the full cache signs again, in place,
	// what it holds.
	nks := *s.ks.Load()
	s.setKeys(&nks)
	s.presignAll(z)
	fresh, stale := 0, 0
	z.View("").Snapshot().Each(func(set *zonemodel.RRset) bool {
		if e, ok := set.Aux().(*sigEntry); ok {
			if e.ks == &nks {
				fresh++
			} else {
				stale++
			}
		}
		return true
	})
	if stale != 0 || fresh < kept*9/10 {
		t.Errorf("after a key change and a pass: %d entries with the new keys, %d stale (%d cached before)", fresh, stale, kept)
	}
}

// The denial cache holds its whole bound: a working set of about 60% of it,
// asked round after round, is all hits from the second round.
func TestDenialCacheHoldsItsBound(t *testing.T) {
	z, m := testSigner(t, SchemeCSK, dns.ECDSAP256SHA256)
	s := m.signer
	const denBytes = 1 << 20
	s.configure(zoneConfig{origin: m.origin, sig: m.cfg.sig, cacheSet: noEntryBound, cacheDen: noEntryBound,
		cacheSetBytes: 1 << 20, cacheDenBytes: denBytes})
	const n = 1000
	round := func() int64 {
		before := s.denPuts.Load()
		for i := range n {
			ask(t, z, fmt.Sprintf("nx%d-%x.example.test.", i, i*7919), dns.TypeA, false)
		}
		return s.denPuts.Load() - before
	}
	if made := round(); made != n {
		t.Fatalf("first round made %d denials, want %d", made, n)
	}
	if used := s.den.bytes(); used > 7*denBytes/10 {
		t.Fatalf("%d denials take %d of %d bytes: the working set is not within the bound", n, used, denBytes)
	}
	for r := 2; r <= 3; r++ {
		if made := round(); made != 0 {
			t.Errorf("round %d: %d of %d denials made again (cache %d entries, %d bytes of %d)", r, made, n, s.den.len(), s.den.bytes(), denBytes)
		}
	}
}
