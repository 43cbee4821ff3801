package harness

import (
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
)

// TestFreePortReserved: a reserved port is outside the kernel's ephemeral
// range, free for TCP and UDP, never handed out twice, and locked against
// other processes (flock -n, as another test binary would find it) until
// the test that reserved it ends.
func TestFreePortReserved(t *testing.T) {
	elo, ehi := ephemeralRange()
	seen := map[int]bool{}
	var first int
	t.Run("reserve", func(t *testing.T) {
		for range 50 {
			p := FreePort(t)
			if p >= elo && p <= ehi {
				t.Fatalf("port %d is in the ephemeral range %d-%d", p, elo, ehi)
			}
			if seen[p] {
				t.Fatalf("port %d handed out twice", p)
			}
			seen[p] = true
			if first == 0 {
				first = p
			}
		}
		if _, ok := lockPort(first); ok {
			t.Fatalf("port %d could be locked again in this process", first)
		}
		lock := filepath.Join(portLockDir, strconv.Itoa(first))
		if err := exec.Command("flock", "-n", lock, "true").Run(); err == nil {
			t.Fatalf("another process took the lock of reserved port %d", first)
		}
		// The port itself is free to bind: the server the test starts gets it.
		l, err := net.Listen("tcp", Addr(first))
		if err != nil {
			t.Fatalf("reserved port %d cannot be bound: %v", first, err)
		}
		l.Close()
	})
	// The subtest ended: its reservations are released.
	lock := filepath.Join(portLockDir, strconv.Itoa(first))
	if out, err := exec.Command("flock", "-n", lock, "true").CombinedOutput(); err != nil {
		t.Fatalf("port %d still locked after its test ended: %v %s", first, err, out)
	}
}

// TestFreePortSkipsBound: a port some program holds is not handed out.
func TestFreePortSkipsBound(t *testing.T) {
	p := FreePort(t)
	u, err := net.ListenPacket("udp", Addr(p))
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	if portFree(p) {
		t.Fatalf("port %d reported free while bound for UDP", p)
	}
}
