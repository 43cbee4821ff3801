package authzone

import (
	"bytes"
	"fmt"
	golog "log"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	dto "github.com/prometheus/client_model/go"

	"github.com/dnspki/dnspki/plugin/pkg/secondary"
	"github.com/dnspki/dnspki/plugin/pkg/zonemodel"
)

// fakePrimary serves example.test (SOA, IXFR answered AXFR-style, AXFR) in
// two messages, signing its answers as mode says. Real primaries (Knot,
// BIND) answer a request whose MAC they cannot verify with NOTAUTH; only a
// broken or hostile one (or something on the path) sends data with a bad or
// no signature, so that case is tested with this fake (test/xfr has the
// real-peer cases).
type fakePrimary struct {
	addr string
	mu   sync.Mutex
	mode string // "good", "notauth", "unsigned", "badmac", "second-unsigned", "second-badmac", "second-cut"
	zone string // zone text
	// counts of requests by mode and qtype ("good/SOA", "badmac/IXFR", ...)
	seen map[string]int
}

const wrongSecret = "d3Jvbmctc2VjcmV0LXdyb25nLXNlY3JldC0wMTIzNDU="

func startFakePrimary(t *testing.T, zone string) *fakePrimary {
	t.Helper()
	f := &fakePrimary{mode: "good", zone: zone, seen: map[string]int{}}
	l, pc := listen(t, "")
	f.addr = l.Addr().String()
	h := dns.HandlerFunc(f.serve)
	for _, srv := range []*dns.Server{{Listener: l, Handler: h}, {PacketConn: pc, Handler: h}} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		go srv.ActivateAndServe()
		<-started
		t.Cleanup(func() { srv.Shutdown() })
	}
	return f
}

func (f *fakePrimary) set(mode, zone string) {
	f.mu.Lock()
	f.mode, f.zone = mode, zone
	f.mu.Unlock()
}

func (f *fakePrimary) count(key string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.seen[key]
}

func (f *fakePrimary) serve(w dns.ResponseWriter, r *dns.Msg) {
	f.mu.Lock()
	mode, text := f.mode, f.zone
	qt := dns.TypeToString[r.Question[0].Qtype]
	f.seen[mode+"/"+qt]++
	f.mu.Unlock()
	var rrs []dns.RR
	zp := dns.NewZoneParser(strings.NewReader(text), "", "")
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		rrs = append(rrs, rr)
	}
	var msgs [][]dns.RR
	if qt == "SOA" {
		msgs = [][]dns.RR{{rrs[0]}}
	} else {
		// The whole zone (an IXFR answered AXFR-style) in two messages.
		half := len(rrs) / 2
		msgs = [][]dns.RR{rrs[:half], append(append([]dns.RR{}, rrs[half:]...), rrs[0])}
	}
	reqMAC := ""
	if t := r.IsTsig(); t != nil {
		reqMAC = t.MAC
	}
	prev := reqMAC
	for i, ans := range msgs {
		if mode == "second-cut" && i == 1 {
			// The connection drops in the middle of the transfer.
			w.Close()
			return
		}
		m := new(dns.Msg)
		m.SetReply(r)
		m.Authoritative = true
		m.Answer = ans
		secret := testSecret
		sign := true
		switch {
		case mode == "unsigned", mode == "second-unsigned" && i == 1:
			sign = false
		case mode == "badmac", mode == "second-badmac" && i == 1:
			secret = wrongSecret
		}
		var raw []byte
		var err error
		if mode == "notauth" {
			// What a real primary answers when it cannot verify the
			// request (RFC 8945 §5.2): NOTAUTH, the TSIG error, no MAC.
			m.Rcode, m.Answer = dns.RcodeNotAuth, nil
			m.Extra = append(m.Extra, &dns.TSIG{Hdr: dns.RR_Header{Name: testKey, Rrtype: dns.TypeTSIG, Class: dns.ClassANY},
				Algorithm: dns.HmacSHA256, TimeSigned: uint64(time.Now().Unix()), Fudge: 300, OrigId: r.Id, Error: dns.RcodeBadSig})
			sign = false
		}
		if sign {
			m.SetTsig(testKey, dns.HmacSHA256, 300, time.Now().Unix())
			raw, prev, err = dns.TsigGenerate(m, secret, prev, i > 0)
		} else {
			raw, err = m.Pack()
		}
		if err != nil {
			panic(err)
		}
		if _, err := w.Write(raw); err != nil {
			return
		}
	}
}

// logBuffer captures the standard logger (CoreDNS's plugin log writes there).
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// captureLog sends the standard logger to a buffer until the test and its
// cleanups end (registered first, restored last).
func captureLog(t *testing.T) *logBuffer {
	lb := &logBuffer{}
	saved := golog.Writer()
	golog.SetOutput(lb)
	t.Cleanup(func() {
		golog.SetOutput(saved)
		if t.Failed() {
			t.Logf("---- log ----\n%s", lb.String())
		}
	})
	return lb
}

// A secondary with a key for its primary rejects answers that are unsigned
// or badly signed (the SOA query's, or any message of a transfer) and
// transfers cut in the middle: it logs why, applies nothing (nothing of the
// part it received is ever answered), keeps serving what it has and retries
// at the SOA retry interval; once the primary signs correctly again, it
// takes the new data.
func TestSecondaryRejectsUnsignedAndBadlySignedAnswers(t *testing.T) {
	lb := captureLog(t)
	// SOA refresh 1 s, retry 0 (bounded to secondary.MinTimer, 200 ms here).
	// (Restored after the servers stop: cleanups run last-in first-out.)
	saved := secondary.MinTimer
	t.Cleanup(func() { secondary.MinTimer = saved })
	secondary.MinTimer = 200 * time.Millisecond
	zoneText := func(serial uint32, extra string) string {
		return strings.Replace(testZoneText(serial, extra), fmt.Sprintf("%d 2 1 30 300", serial), fmt.Sprintf("%d 1 0 30 300", serial), 1)
	}
	f := startFakePrimary(t, zoneText(100, ""))
	sdir := t.TempDir()
	s := startTest(t, sdir, fmt.Sprintf("primary %s key %s\n    key %s hmac-sha256 %s\n    state STATE", f.addr, testKey, testKey, testSecret), "")
	sz := s.zone()
	waitFor(t, 10*time.Second, "the first transfer", func() bool { return sz.View("").Snapshot().Serial == 100 })
	sec := s.a.zones["example.test."].sec
	origin := "example.test."

	// The primary now has serial 101 with a new record, but does not sign
	// as it should: each way is refused twice (the first refresh and a
	// retry after the SOA retry interval), nothing is applied.
	changed := zoneText(101, `new IN TXT "must not be served"`)
	for _, tc := range []struct {
		mode, qtype, why string
	}{
		{"notauth", "SOA", "SOA query: the primary answered NOTAUTH (TSIG BADSIG)"},
		{"unsigned", "SOA", "SOA query: answer is not signed (TSIG key xfr-key.)"},
		{"badmac", "SOA", "SOA query: dns: bad signature"},
		{"second-unsigned", "AXFR", "AXFR: message 2 is not signed (TSIG key xfr-key.)"},
		{"second-badmac", "AXFR", "AXFR: message 2: TSIG (key xfr-key.) does not verify"},
		{"second-cut", "AXFR", "AXFR: connection closed after 1 messages: EOF"},
	} {
		mark := len(lb.String())
		errsBefore := counterValue(t, xfrInTotal.WithLabelValues(origin, f.addr, strings.ToLower(tc.qtype), "error"))
		f.set(tc.mode, changed)
		waitFor(t, 10*time.Second, tc.mode+": two refreshes", func() bool { return f.count(tc.mode+"/"+tc.qtype) >= 2 })
		if tc.qtype == "AXFR" && f.count(tc.mode+"/IXFR") == 0 {
			t.Errorf("%s: the secondary did not ask IXFR first", tc.mode)
		}
		snap := sz.View("").Snapshot()
		if snap.Serial != 100 || snap.Get("new.example.test.", dns.TypeTXT) != nil {
			t.Fatalf("%s: the secondary applied data from a badly signed answer: serial %d", tc.mode, snap.Serial)
		}
		if ps, _, _ := sec.State(); ps != 100 {
			t.Fatalf("%s: stored primary serial %d, want 100", tc.mode, ps)
		}
		if sec.IsExpired() {
			t.Fatalf("%s: expired", tc.mode)
		}
		waitFor(t, 5*time.Second, tc.mode+": the refusal in the log", func() bool {
			return strings.Count(lb.String()[mark:], "refresh from "+f.addr+" failed: "+tc.why) >= 2
		})
		if n := counterValue(t, xfrInTotal.WithLabelValues(origin, f.addr, strings.ToLower(tc.qtype), "error")); n < errsBefore+2 {
			t.Errorf("%s: xfr_in_total{kind=%s,result=error} went from %v to %v, want +2", tc.mode, strings.ToLower(tc.qtype), errsBefore, n)
		}
		if tc.qtype == "AXFR" && !strings.Contains(lb.String()[mark:], "IXFR from "+f.addr+" (serial 100) failed") {
			t.Errorf("%s: the failed IXFR is not logged:\n%s", tc.mode, lb.String()[mark:])
		}
		// The secondary still answers from the data it holds.
		r, err := dns.Exchange(func() *dns.Msg { m := new(dns.Msg); m.SetQuestion("www.example.test.", dns.TypeA); return m }(), s.addr)
		if err != nil || r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
			t.Fatalf("%s: the secondary answers %v %v", tc.mode, err, r)
		}
	}

	// Signed correctly again: the next retry takes the change.
	f.set("good", changed)
	waitFor(t, 10*time.Second, "the change once signed", func() bool {
		snap := sz.View("").Snapshot()
		return snap.Serial == 101 && snap.Get("new.example.test.", dns.TypeTXT) != nil
	})
}

// counterValue reads a Prometheus counter.
func counterValue(t *testing.T, c interface{ Write(*dto.Metric) error }) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// A secondary's own records (another source of the zone, such as ACME
// challenges) survive a transfer of the whole zone as they survive an IXFR:
// the transfer replaces only the transferred source.
func TestSecondaryLocalRecordsSurviveAXFR(t *testing.T) {
	p := startPrimary(t, "transfer to 127.0.0.1 key "+testKey+"\n    journal 1")
	pz := p.zone()
	addTXT(t, pz, "gone.example.test.", 1, 5) // 101
	sz, sec := secondaryWithLocalSource(t, p)
	waitFor(t, 10*time.Second, "the first transfer", func() bool { return sz.View("").Snapshot().Serial == 101 })
	addTXT(t, sz, "local.example.test.", 1, 5) // served 102

	// Two changes on the primary, whose journal keeps one: the IXFR from
	// 101 is answered with the whole zone.
	axfrBefore := counterValue(t, xfrInTotal.WithLabelValues("example.test.", p.addr, "axfr", "ok"))
	if err := pz.Source("test").Update(nil, func(tx *zonemodel.Tx) error {
		tx.DeleteRRset("gone.example.test.", dns.TypeTXT)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	addTXT(t, pz, "remote.example.test.", 1, 5) // primary 103
	sec.Notified(netip.MustParseAddr("127.0.0.1"), 103, true)
	waitFor(t, 10*time.Second, "the transfer", func() bool {
		ps, _, _ := sec.State()
		return ps == 103
	})
	if n := counterValue(t, xfrInTotal.WithLabelValues("example.test.", p.addr, "axfr", "ok")); n != axfrBefore+1 {
		t.Fatalf("xfr_in_total{kind=axfr,result=ok} %v -> %v, want one whole-zone transfer", axfrBefore, n)
	}
	snap := sz.View("").Snapshot()
	if snap.Get("local.example.test.", dns.TypeTXT) == nil {
		t.Fatal("the local record was lost by the whole-zone transfer")
	}
	if snap.Get("remote.example.test.", dns.TypeTXT) == nil || snap.Get("gone.example.test.", dns.TypeTXT) != nil {
		t.Fatal("the secondary does not hold the primary's data")
	}
	if snap.Serial != 103 {
		t.Fatalf("served serial %d, want 103 (one more than the 102 served before)", snap.Serial)
	}
}
