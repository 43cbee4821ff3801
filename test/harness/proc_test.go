package harness

import (
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A process that ends leaving a child behind: the child (its process
// group) is killed before the process is reaped, and signals sent after it
// was reaped go nowhere (its PID may belong to another process by then).
func TestProcGroupKilledBeforeReap(t *testing.T) {
	p := Start(t, "leaves a child", []string{"sh", "-c", "sleep 300 & echo $!"}, StartOpts{})
	if _, ok := p.Wait(10 * time.Second); !ok {
		t.Fatal("sh did not end")
	}
	child, err := strconv.Atoi(strings.TrimSpace(p.Output()))
	if err != nil {
		t.Fatalf("child PID %q: %v", p.Output(), err)
	}
	// The child was reparented; it is killed, then reaped by its new
	// parent: poll until it is gone.
	Eventually(t, 10*time.Second, "the orphaned child to be killed", func() bool {
		return syscall.Kill(child, 0) == syscall.ESRCH
	})
	p.mu.Lock()
	reaped := p.reaped
	p.mu.Unlock()
	if !reaped {
		t.Fatal("the process ended but is not marked reaped")
	}
	p.Stop() // a no-op on a reaped process (must not block either)
	p.Kill()
}
