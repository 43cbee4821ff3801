package authzone

import (
	"sync"

	"github.com/dnspki/dnspki/plugin/pkg/zonemodel"
)

// startWorkers bounds the zones opened at once.
const startWorkers = 16

// startAll opens and starts the zones of the block once every plugin's
// setup has run. Zones that other plugins take part in (bindings) start one
// after the other, in the Corefile's order; the others start concurrently:
// a zone's first open writes and fsyncs its store, and thousands of zones
// would otherwise wait for one fsync after the other. The first error is
// returned (startup fails).
func (a *AuthZone) startAll(reg *zonemodel.Registry) error {
	var plain []*zoneState
	for _, origin := range a.origins {
		zs := a.zones[origin]
		if len(reg.Bindings(origin)) == 0 {
			plain = append(plain, zs)
			continue
		}
		if err := a.start(reg, zs); err != nil {
			return err
		}
	}
	work := make(chan *zoneState)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	for range min(startWorkers, len(plain)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for zs := range work {
				if err := a.start(reg, zs); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	for _, zs := range plain {
		work <- zs
	}
	close(work)
	wg.Wait()
	return first
}
