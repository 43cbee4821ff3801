package authzone

import (
	"sync"

	"github.com/dnspki/dnspki/plugin/pkg/sched"
)

// The process-wide schedulers of the zones' timed work (plugin/pkg/sched):
// one timer goroutine each and at most schedWorkers jobs at once, whatever
// the number of zones. Refreshes of secondary zones (which may wait on a
// slow primary for a whole transfer), their expiry checks and NOTIFY sends
// have one each, so that slow transfers hold back neither an expiry nor a
// NOTIFY. Made on first use; they
// live as long as the process (configuration generations share them).
const schedWorkers = 16

var (
	refreshScheduler = sync.OnceValue(func() *sched.Scheduler { return sched.New(schedWorkers, sched.RealClock{}) })
	expiryScheduler  = sync.OnceValue(func() *sched.Scheduler { return sched.New(schedWorkers, sched.RealClock{}) })
	notifyScheduler  = sync.OnceValue(func() *sched.Scheduler { return sched.New(schedWorkers, sched.RealClock{}) })
)
