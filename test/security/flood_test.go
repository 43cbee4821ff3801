package security

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/dnspki/dnspki/test/harness"
)

// refusedUpdate returns the i-th UPDATE of a flood an attacker without the
// right key can send: unsigned, signed for a name the key may not change,
// two TSIG records, a bad MAC (a guessed secret), a time outside the
// window. Each is a new message (no replay).
func refusedUpdate(t testing.TB, i int) []byte {
	owner := "_acme-challenge.mail.example.test."
	m := addTXT(owner, digest())
	switch i % 5 {
	case 0:
		b, _ := m.Pack()
		return b
	case 1:
		b, _ := signNow(t, m, keyWWW)
		return b
	case 2:
		return twoTSIG(t, m, keyWWW, keyMD5, i%2 == 0)
	case 3:
		b, _ := signNow(t, m, &harness.TSIGKey{Name: keyMD5.Name, Algorithm: keyMD5.Algorithm, Secret: keyWWW.Secret})
		return b
	default:
		b, _ := sign(t, m, keyMD5, time.Now().Add(-time.Hour))
		return b
	}
}

// digest is a random ACME dns-01 value (43 base64url characters).
func digest() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// answerOf is what a query's answer must stay: rcode, AA, the answer
// records, the types of the authority records (the SOA of a denial carries
// the serial, which accepted UPDATEs move).
func answerOf(r *dns.Msg) string {
	var ans, auth []string
	for _, rr := range r.Answer {
		ans = append(ans, rr.String())
	}
	for _, rr := range r.Ns {
		auth = append(auth, dns.TypeToString[rr.Header().Rrtype])
	}
	sort.Strings(ans)
	sort.Strings(auth)
	return fmt.Sprintf("%s aa=%v answer=[%s] authority=[%s]", dns.RcodeToString[r.Rcode], r.Authoritative, strings.Join(ans, " | "), strings.Join(auth, " "))
}

// TestQueriesDuringUpdateFlood: while UPDATEs flood the server (refused
// ones of every kind over UDP and TCP, and accepted ones: real, fsynced
// changes of another name), 2,000 queries from both views are each
// answered exactly as when the server was idle. No timing is asserted:
// every query got its right answer. The flood ran during the whole query
// phase (counted), and the zone changed only by the accepted UPDATEs (one
// change per view each: the refused ones changed nothing).
func TestQueriesDuringUpdateFlood(t *testing.T) {
	f := startFixture(t, "")
	type q struct {
		c     harness.Client
		name  string
		qtype uint16
		tcp   bool
	}
	var qs []q
	for _, n := range []string{zone, "www.example.test.", "mail.example.test.", "api.example.test.", "ns1.example.test.", "x.apps.example.test.", "nxzq.example.test.", "www.intra.example.test.", "vault.intra.example.test.", "x.sub.example.test.", "_acme-challenge.vault.intra.example.test."} {
		for _, qt := range []uint16{dns.TypeA, dns.TypeAAAA, dns.TypeTXT, dns.TypeMX, dns.TypeNS} {
			for _, c := range []harness.Client{f.in, f.ext} {
				qs = append(qs, q{c, n, qt, false}, q{c, n, qt, true})
			}
		}
	}
	ask := func(x q) (string, error) {
		r, err := x.c.Exchange(queryMsg(x.name, x.qtype), x.tcp)
		if err != nil {
			return "", err
		}
		return answerOf(r), nil
	}
	want := make([]string, len(qs))
	for i, x := range qs {
		a, err := ask(x)
		if err != nil {
			t.Fatalf("idle: %s/%s from %s: %v", x.name, dns.TypeToString[x.qtype], x.c.Src, err)
		}
		want[i] = a
	}
	changes0 := harness.Metric(t, f.metrics, "coredns_dnspki_zone_changes_total", nil)

	// The flood.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var refusedSent, accepted atomic.Int64
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			tcp := w%2 == 1
			for i := w; ; i += 4 {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := f.ext.Raw(refusedUpdate(t, i), tcp); err == nil {
					refusedSent.Add(1)
				}
			}
		}(w)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		owner := "_acme-challenge.db.intra.example.test."
		for {
			select {
			case <-stop:
				return
			default:
			}
			rr := &dns.TXT{Hdr: dns.RR_Header{Name: owner, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 60}, Txt: []string{digest()}}
			m := new(dns.Msg)
			m.SetUpdate(zone)
			m.RemoveRRset([]dns.RR{rr})
			m.Insert([]dns.RR{rr})
			b, _ := signNow(t, m, keyWWW)
			if out, err := f.ext.Raw(b, true); err == nil && unpack(t, out).Rcode == dns.RcodeSuccess {
				accepted.Add(1)
			}
		}
	}()
	// The queries start once the flood is under way.
	harness.Eventually(t, 30*time.Second, "the flood to start", func() bool { return refusedSent.Load() >= 200 && accepted.Load() >= 2 })
	r0, a0 := refusedSent.Load(), accepted.Load()
	const total = 2000
	var bad atomic.Int64
	var mu sync.Mutex
	var problems []string
	jobs := make(chan int)
	var qwg sync.WaitGroup
	for range 4 {
		qwg.Add(1)
		go func() {
			defer qwg.Done()
			for i := range jobs {
				x := qs[i%len(qs)]
				got, err := ask(x)
				if err != nil || got != want[i%len(qs)] {
					if bad.Add(1) <= 10 {
						mu.Lock()
						problems = append(problems, fmt.Sprintf("%s/%s from %s tcp=%v: %q, %v; idle: %q", x.name, dns.TypeToString[x.qtype], x.c.Src, x.tcp, got, err, want[i%len(qs)]))
						mu.Unlock()
					}
				}
			}
		}()
	}
	for i := 0; i < total; i++ {
		jobs <- i
	}
	close(jobs)
	qwg.Wait()
	during, acc := refusedSent.Load()-r0, accepted.Load()-a0
	close(stop)
	wg.Wait()
	for _, p := range problems {
		t.Error(p)
	}
	if n := bad.Load(); n > 0 {
		t.Errorf("%d of %d queries during the flood did not get their right answer", n, total)
	}
	t.Logf("during %d queries: %d refused UPDATEs answered, %d accepted", total, during, acc)
	if during == 0 || acc == 0 {
		t.Errorf("the flood did not run during the queries: %d refused, %d accepted", during, acc)
	}
	// Only the accepted UPDATEs changed the zone: one change in each view.
	if got := harness.Metric(t, f.metrics, "coredns_dnspki_zone_changes_total", nil) - changes0; got != float64(2*accepted.Load()) {
		t.Errorf("zone_changes_total grew by %v for %d accepted UPDATEs (2 views)", got, accepted.Load())
	}
	if got := harness.TXTValues(t, f.Addr, "_acme-challenge.mail.example.test."); got != nil {
		t.Errorf("a refused UPDATE set the mail challenge: %v", got)
	}
}
