package harness

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// Ports for servers that run in other processes (dnspki, Knot, BIND, NSD,
// unbound, Pebble) cannot be had by listening on port 0 and reading it back:
// the port must be written into their configuration before they start, and
// dnspki (CoreDNS) binds UDP and TCP separately, so port 0 would give two
// different ports. FreePort therefore reserves a port, so that nothing can
// take it between the check and the server's bind:
//
//   - it picks from a range below the kernel's ephemeral range
//     (net.ipv4.ip_local_port_range), which the kernel never hands to a
//     socket bound to port 0 nor to an outgoing connection;
//   - it holds an exclusive flock(2) on portLockDir/PORT for as long as the
//     test runs, so no other test binary (every package of `go test ./...`
//     runs in its own process, in parallel) and no other test of this one
//     gets the same port; the kernel drops the lock when the process ends, so
//     a crashed test binary leaves no reservation behind;
//   - it checks that the port is free for TCP and UDP on 127.0.0.1 (a
//     program outside the tests could hold it).
//
// The reservation ends when the test (t) ends, after the servers its cleanup
// stops (cleanups run last-in first-out, and servers are started after their
// ports are reserved).

// portLockDir holds one lock file per reserved port, shared by every test
// binary on the machine.
var portLockDir = filepath.Join(os.TempDir(), "dnspki-test-ports")

// FreePort reserves a port free for both UDP and TCP on 127.0.0.1 for the
// rest of the test.
func FreePort(t testing.TB) int {
	t.Helper()
	lo, hi := portRange()
	if err := os.MkdirAll(portLockDir, 0o777); err != nil {
		t.Fatalf("port reservations: %v", err)
	}
	for range 500 {
		port := lo + rand.IntN(hi-lo+1)
		f, ok := lockPort(port)
		if !ok {
			continue
		}
		if !portFree(port) {
			f.Close()
			continue
		}
		t.Cleanup(func() { f.Close() })
		return port
	}
	t.Fatalf("no free port in %d-%d after 500 tries", lo, hi)
	return 0
}

// lockPort takes the exclusive lock of a port's file without waiting; the
// open file holds it.
func lockPort(port int) (*os.File, bool) {
	f, err := os.OpenFile(filepath.Join(portLockDir, strconv.Itoa(port)), os.O_RDWR|os.O_CREATE, 0o666)
	if err != nil {
		return nil, false
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, false
	}
	return f, true
}

// portFree reports whether 127.0.0.1:port can be bound for TCP and UDP.
func portFree(port int) bool {
	l, err := net.Listen("tcp", Addr(port))
	if err != nil {
		return false
	}
	defer l.Close()
	u, err := net.ListenPacket("udp", Addr(port))
	if err != nil {
		return false
	}
	u.Close()
	return true
}

// portRange is the range FreePort picks from: the 12 768 ports below the
// kernel's ephemeral range (20000-32767 with Linux's default 32768-60999),
// or the ports above it when it starts too low.
func portRange() (lo, hi int) {
	elo, ehi := ephemeralRange()
	if elo-1024 >= 4096 {
		return max(1024, elo-12768), elo - 1
	}
	return ehi + 1, 65535
}

// ephemeralRange reads net.ipv4.ip_local_port_range (Linux's default when it
// cannot be read).
func ephemeralRange() (int, int) {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err == nil {
		f := strings.Fields(string(b))
		if len(f) == 2 {
			lo, err1 := strconv.Atoi(f[0])
			hi, err2 := strconv.Atoi(f[1])
			if err1 == nil && err2 == nil && lo <= hi {
				return lo, hi
			}
		}
	}
	return 32768, 60999
}

// Addr is "127.0.0.1:port".
func Addr(port int) string { return fmt.Sprintf("127.0.0.1:%d", port) }
