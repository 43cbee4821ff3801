package authzone

import (
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dnspki/dnspki/plugin/pkg/xfrpeer"
	"github.com/miekg/dns"
)

// fakeSecondary receives NOTIFY: it drops the first `drop` messages, takes
// `delay` to answer, holds NOTIFYs unanswered while a gate is set, checks
// the TSIG and records the serials and the largest number of NOTIFYs in
// flight at once.
type fakeSecondary struct {
	addr     string
	drop     atomic.Int32
	delay    time.Duration
	gate     atomic.Pointer[chan struct{}] // set: NOTIFYs wait until it is closed
	held     atomic.Int32                  // NOTIFYs that waited at a gate
	inflight atomic.Int32
	maxIn    atomic.Int32
	mu       sync.Mutex
	serials  []uint32
	unsigned int
}

func startFakeSecondary(t *testing.T, delay time.Duration, drop int32) *fakeSecondary {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeSecondary{addr: pc.LocalAddr().String(), delay: delay}
	f.drop.Store(drop)
	srv := &dns.Server{PacketConn: pc, TsigSecret: map[string]string{testKey: testSecret}, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		n := f.inflight.Add(1)
		for {
			m := f.maxIn.Load()
			if n <= m || f.maxIn.CompareAndSwap(m, n) {
				break
			}
		}
		if f.drop.Add(-1) >= 0 {
			f.inflight.Add(-1)
			return
		}
		time.Sleep(f.delay)
		if g := f.gate.Load(); g != nil {
			f.held.Add(1)
			select {
			case <-*g:
			case <-time.After(30 * time.Second):
			}
		}
		f.mu.Lock()
		if r.IsTsig() == nil || w.TsigStatus() != nil {
			f.unsigned++
		}
		if len(r.Answer) == 1 {
			f.serials = append(f.serials, r.Answer[0].(*dns.SOA).Serial)
		}
		f.mu.Unlock()
		m := new(dns.Msg)
		m.SetReply(r)
		if t := r.IsTsig(); t != nil {
			m.SetTsig(t.Hdr.Name, t.Algorithm, 300, time.Now().Unix())
		}
		// Out of flight once answered (the sender may send the next one
		// as soon as it reads this).
		f.inflight.Add(-1)
		w.WriteMsg(m)
	})}
	go srv.ActivateAndServe()
	t.Cleanup(func() { srv.Shutdown() })
	return f
}

func (f *fakeSecondary) got() ([]uint32, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]uint32(nil), f.serials...), f.unsigned
}

func TestNotifyRetriesWithBackoff(t *testing.T) {
	old, prevTimeout := notifyBackoff, xfrpeer.QueryTimeout
	notifyBackoff, xfrpeer.QueryTimeout = 20*time.Millisecond, 200*time.Millisecond
	// Restored after the servers stop (cleanups run last-registered first).
	t.Cleanup(func() { notifyBackoff, xfrpeer.QueryTimeout = old, prevTimeout })

	f := startFakeSecondary(t, 0, 2)
	p := startPrimary(t, "notify "+f.addr+" key "+testKey)
	want := p.zone().View("").Snapshot().Serial
	waitFor(t, 5*time.Second, "the NOTIFY after two lost ones", func() bool {
		s, _ := f.got()
		return len(s) == 1
	})
	s, unsigned := f.got()
	if s[0] != want || unsigned != 0 {
		t.Fatalf("serials %v (want [%d]), %d unsigned", s, want, unsigned)
	}
}

// TestNotifyCoalescesBursts: changes made while a NOTIFY is unanswered
// coalesce into one more NOTIFY with the latest serial, and NOTIFYs go out
// one at a time. The secondary holds the burst's first NOTIFY until all the
// changes are made (no dependence on how fast they are made).
func TestNotifyCoalescesBursts(t *testing.T) {
	prevTimeout := xfrpeer.QueryTimeout
	xfrpeer.QueryTimeout = 30 * time.Second // the held NOTIFY is not retried meanwhile
	// Restored after the servers stop (cleanups run last-registered first).
	t.Cleanup(func() { xfrpeer.QueryTimeout = prevTimeout })
	f := startFakeSecondary(t, 0, 0)
	p := startPrimary(t, "notify "+f.addr+" key "+testKey)
	z := p.zone()
	waitFor(t, 5*time.Second, "the startup NOTIFY", func() bool { s, _ := f.got(); return len(s) == 1 })
	start, _ := f.got()

	gate := make(chan struct{})
	f.gate.Store(&gate)
	addTXT(t, z, "burst.example.test.", 1, 0)
	first := z.View("").Snapshot().Serial
	waitFor(t, 5*time.Second, "the burst's first NOTIFY held by the secondary", func() bool { return f.held.Load() == 1 })
	for i := 1; i < 40; i++ {
		addTXT(t, z, "burst.example.test.", 1, i)
	}
	final := z.View("").Snapshot().Serial
	f.gate.Store(nil)
	close(gate)
	waitFor(t, 5*time.Second, "the NOTIFY of the last serial", func() bool {
		s, _ := f.got()
		return s[len(s)-1] == final
	})
	// One more change after the burst: NOTIFYs go out one at a time, so once
	// its NOTIFY arrived every NOTIFY of the burst has.
	addTXT(t, z, "after.example.test.", 1, 0)
	after := z.View("").Snapshot().Serial
	waitFor(t, 5*time.Second, "the NOTIFY of the change after the burst", func() bool {
		s, _ := f.got()
		return s[len(s)-1] == after
	})
	s, unsigned := f.got()
	if want := []uint32{start[0], first, final, after}; !slices.Equal(s, want) || unsigned != 0 {
		t.Errorf("NOTIFY serials %v (%d unsigned), want %v: the 39 changes made while one NOTIFY was unanswered coalesce into one NOTIFY", s, unsigned, want)
	}
	if m := f.maxIn.Load(); m != 1 {
		t.Errorf("%d NOTIFYs in flight at once, want 1", m)
	}
}
