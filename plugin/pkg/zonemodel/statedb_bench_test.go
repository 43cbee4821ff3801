package zonemodel

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/miekg/dns"
)

// BenchmarkUpdateZones is ACME challenges added and removed (two commits
// per iteration, as BenchmarkUpdate) in many small zones of one state
// directory at once, one writer per zone: the cost of commits when zones
// commit side by side.
func BenchmarkUpdateZones(b *testing.B) {
	for _, n := range []int{1, 16, 256} {
		dir := b.TempDir()
		srcs := make([]*Source, n)
		for i := range n {
			origin := fmt.Sprintf("z%d.test.", i)
			z := New(Config{Origin: origin, StateDir: dir})
			base, _ := z.AddSource("file", SourceOptions{Base: true})
			srcs[i], _ = z.AddSource("acme", SourceOptions{Dynamic: true})
			base.SetInitial(nil, []dns.RR{rr(b, origin+" 60 IN SOA ns."+origin+" h. 1 60 60 60 60"), rr(b, origin+" 60 IN NS ns."+origin)})
			if err := z.Open(); err != nil {
				b.Fatal(err)
			}
			b.Cleanup(z.Close)
		}
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			var next atomic.Int64
			var wg sync.WaitGroup
			for i, src := range srcs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for k := next.Add(1); k <= int64(b.N); k = next.Add(1) {
						r := rr(b, fmt.Sprintf("_acme-challenge.z%d.test. 60 IN TXT token%d", i, k))
						if err := src.Update(nil, func(tx *Tx) error { tx.Add(r); return nil }); err != nil {
							b.Error(err)
							return
						}
						if err := src.Update(nil, func(tx *Tx) error { tx.Delete(r); return nil }); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
		})
	}
}
