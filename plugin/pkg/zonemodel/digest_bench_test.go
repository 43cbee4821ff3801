package zonemodel

import (
	"fmt"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/dnspki/dnspki/plugin/pkg/zonemd"
)

// BenchmarkUpdateDigest is the cost of one change (one TXT record added by
// a dynamic source, as an UPDATE does) in a zone of 100,000 records, with
// and without the zone digest: the digest is computed over the whole view
// at every change (RFC 8976 SIMPLE has no incremental form).
//
//	go test -run '^$' -bench UpdateDigest -benchtime 20x ./plugin/pkg/zonemodel
func BenchmarkUpdateDigest(b *testing.B) {
	var sb strings.Builder
	sb.WriteString(testZone)
	for i := 0; i < 100000-4; i++ {
		fmt.Fprintf(&sb, "h%d IN A 192.0.2.%d\n", i, i%250)
	}
	text := sb.String()
	for _, alg := range []uint8{0, zonemd.HashSHA384} {
		b.Run(map[uint8]string{0: "off", zonemd.HashSHA384: "sha384"}[alg], func(b *testing.B) {
			z, acme := openDigestZone(b, b.TempDir(), alg, text)
			defer z.Close()
			if n := z.View("").Snapshot().Records(); n < 100000 {
				b.Fatalf("%d records", n)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				txt := rr(b, fmt.Sprintf(`_acme-challenge.www.example.test. 60 IN TXT "token-%d"`, i))
				if err := acme.Update(nil, func(tx *Tx) error { tx.Clear(); tx.Add(txt); return nil }); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDigestChange is the digest's own share of a change in a zone of
// 100,000 records (no store, no fsync, not the edit of the snapshot): the
// walk of the new snapshot's tree in canonical order, the changed RRset's
// canonical form, the hash over the zone.
//
//	go test -run '^$' -bench DigestChange ./plugin/pkg/zonemodel
func BenchmarkDigestChange(b *testing.B) {
	var sb strings.Builder
	sb.WriteString(testZone)
	for i := 0; i < 100000-4; i++ {
		fmt.Fprintf(&sb, "h%d IN A 192.0.2.%d\n", i, i%250)
	}
	z, _ := openDigestZone(b, b.TempDir(), zonemd.HashSHA384, sb.String())
	defer z.Close()
	s := z.View("").Snapshot()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		bl := s.edit()
		name := "_acme-challenge.www.example.test."
		set := &RRset{Type: dns.TypeTXT, RRs: []dns.RR{rr(b, fmt.Sprintf(`%s 60 IN TXT "t%d"`, name, i))}}
		bl.put(name, nameKey(name, s.Origin), dns.TypeTXT, set)
		next := bl.finish(s.Serial + 1)
		b.StartTimer()
		if _, _, err := z.setDigest(bl, zonemd.HashSHA384); err != nil {
			b.Fatal(err)
		}
		s = next
	}
}
