// Command updateload measures RFC 2136 UPDATE throughput: it sends TSIG-signed
// UPDATEs the way lego's RFC 2136 provider does (delete the _acme-challenge
// TXT RRset, add a new value: every UPDATE is a real change of the zone) over
// persistent TCP connections, and reports accepted updates per second and
// their latency.
//
//	updateload -server 127.0.0.1:15360 -zone bench.test. \
//	    -key hmac-sha256:acme-bench.:SECRET -conns 4 -duration 15s [-rate 50]
//
// With -refused KIND it sends UPDATEs the server must refuse instead (an
// attacker's flood; see refused.go for the kinds), and reports refusals
// per second and their latency; every answer must be a refusal.
//
// The last line is machine-readable:
//
//	RESULT accepted=N refused=N errors=N seconds=S ups=U rps=R p50_ms=.. p90_ms=.. p99_ms=.. max_ms=..
package main

import (
	"crypto/rand"
	"encoding/base64"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

// options are the command line's.
type options struct {
	server, zone, keyName, alg, secret string
	conns, names                       int
	duration                           time.Duration
	rate                               float64
	useUDP                             bool
	refusedKind                        string
}

// load is one run: its counters and latencies.
type load struct {
	o                       options
	attack                  *refuser // nil: accepted UPDATEs
	tokens                  <-chan time.Time
	deadline                time.Time
	accepted, refused, errs atomic.Int64
	mu                      sync.Mutex
	lat                     []time.Duration
}

func main() {
	o, attack := parseFlags()
	l := &load{o: o, attack: attack}
	if o.rate > 0 {
		t := time.NewTicker(time.Duration(float64(time.Second) / o.rate))
		defer t.Stop()
		l.tokens = t.C
	}
	l.deadline = time.Now().Add(o.duration)
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < o.conns; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			l.worker(w)
		}(w)
	}
	wg.Wait()
	os.Exit(l.report(time.Since(start).Seconds()))
}

// parseFlags reads the command line (exit 2 on a bad one).
func parseFlags() (options, *refuser) {
	var o options
	flag.StringVar(&o.server, "server", "127.0.0.1:53", "DNS server host:port")
	flag.StringVar(&o.zone, "zone", "bench.test.", "zone to update")
	keySpec := flag.String("key", "", "TSIG key ALGORITHM:NAME:SECRET (e.g. hmac-sha256:acme-bench.:c2Vj...)")
	flag.IntVar(&o.conns, "conns", 4, "parallel TCP connections (one UPDATE in flight on each)")
	flag.IntVar(&o.names, "names", 64, "distinct owner names _acme-challenge.uN.ZONE")
	flag.DurationVar(&o.duration, "duration", 15*time.Second, "how long to send")
	flag.Float64Var(&o.rate, "rate", 0, "UPDATEs per second in total (0: as fast as answered)")
	flag.BoolVar(&o.useUDP, "udp", false, "UDP instead of TCP")
	flag.StringVar(&o.refusedKind, "refused", "", "send UPDATEs the server refuses: "+strings.Join(refusedKinds, ", ")+" (mix: each in turn)")
	forge := flag.String("forge", "acme-other.", "-refused twotsig: the key name of the forged second TSIG record")
	victim := flag.String("victim", "", "-refused: the owner the refused UPDATEs aim at (default _acme-challenge.victim.ZONE: a name -key is not granted)")
	flag.Parse()

	parts := strings.SplitN(*keySpec, ":", 3)
	if len(parts) != 3 {
		fmt.Fprintln(os.Stderr, "updateload: -key ALGORITHM:NAME:SECRET is required")
		os.Exit(2)
	}
	o.alg, o.keyName, o.secret = dns.Fqdn(strings.ToLower(parts[0])), dns.Fqdn(parts[1]), parts[2]
	o.zone = dns.Fqdn(o.zone)
	if o.refusedKind == "" {
		return o, nil
	}
	if *victim == "" {
		*victim = "_acme-challenge.victim." + o.zone
	}
	attack, err := newRefuser(o.refusedKind, o.zone, dns.Fqdn(*victim), o.keyName, o.alg, o.secret, dns.Fqdn(*forge))
	if err != nil {
		fmt.Fprintln(os.Stderr, "updateload:", err)
		os.Exit(2)
	}
	return o, attack
}

// worker sends UPDATEs over one connection (reconnecting after an error)
// until the deadline; w numbers its UPDATEs (w, w+conns, ...).
func (l *load) worker(w int) {
	c := &dns.Client{Net: "tcp", Timeout: 5 * time.Second, TsigSecret: map[string]string{l.o.keyName: l.o.secret}}
	if l.o.useUDP {
		c.Net = "udp"
	}
	var co *dns.Conn
	var local []time.Duration
	defer func() {
		l.mu.Lock()
		l.lat = append(l.lat, local...)
		l.mu.Unlock()
		if co != nil {
			co.Close()
		}
	}()
	for i := w; time.Now().Before(l.deadline); i += l.o.conns {
		if l.tokens != nil {
			select {
			case <-l.tokens:
			case <-time.After(time.Until(l.deadline)):
				return
			}
		}
		if co == nil {
			var err error
			if co, err = c.Dial(l.o.server); err != nil {
				l.errs.Add(1)
				time.Sleep(100 * time.Millisecond)
				continue
			}
		}
		t0 := time.Now()
		r, err := l.send(c, co, i)
		d := time.Since(t0)
		switch {
		case err != nil:
			if l.errs.Add(1) <= 3 {
				fmt.Fprintf(os.Stderr, "updateload: %v\n", err)
			}
			co.Close()
			co = nil
		case r.Rcode == dns.RcodeSuccess:
			l.accepted.Add(1)
			if l.attack == nil {
				local = append(local, d)
			}
		default:
			l.refused.Add(1)
			if l.attack != nil {
				local = append(local, d)
			}
		}
	}
}

// send sends UPDATE number i: the attack's, or lego's delete-and-add of a
// new value at one of the owner names.
func (l *load) send(c *dns.Client, co *dns.Conn, i int) (*dns.Msg, error) {
	if l.attack != nil {
		return l.attack.exchange(co, i)
	}
	owner := fmt.Sprintf("_acme-challenge.u%d.%s", i%l.o.names, l.o.zone)
	rr := &dns.TXT{Hdr: dns.RR_Header{Name: owner, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 60}, Txt: []string{digest()}}
	m := new(dns.Msg)
	m.SetUpdate(l.o.zone)
	m.RemoveRRset([]dns.RR{rr})
	m.Insert([]dns.RR{rr})
	m.SetTsig(l.o.keyName, l.o.alg, 300, time.Now().Unix())
	// A fresh dns.Conn on the same connection for each UPDATE: a dns.Conn
	// chains the TSIG MAC of its previous message into the next (as zone
	// transfers need), which is wrong for independent requests.
	r, _, err := c.ExchangeWithConn(m, &dns.Conn{Conn: co.Conn})
	return r, err
}

// report prints the results (the last line machine-readable) and returns
// the exit status: 1 when nothing was accepted, or, for an attack, when
// anything was accepted or nothing refused.
func (l *load) report(secs float64) int {
	lat := l.lat
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	pct := func(p float64) float64 {
		if len(lat) == 0 {
			return 0
		}
		return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000
	}
	accepted, refused, errs := l.accepted.Load(), l.refused.Load(), l.errs.Load()
	ups := float64(accepted) / secs
	rps := float64(refused) / secs
	what := "accepted"
	if l.attack != nil {
		what = "refused"
	}
	fmt.Printf("accepted %d, refused %d, errors %d in %.1fs: %.0f UPDATEs/s accepted, %.0f refused; latency (%s) p50 %.2fms p90 %.2fms p99 %.2fms max %.2fms\n",
		accepted, refused, errs, secs, ups, rps, what, pct(.5), pct(.9), pct(.99), pct(1))
	fmt.Printf("RESULT accepted=%d refused=%d errors=%d seconds=%.1f ups=%.0f rps=%.0f p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f max_ms=%.2f\n",
		accepted, refused, errs, secs, ups, rps, pct(.5), pct(.9), pct(.99), pct(1))
	if l.attack != nil {
		if accepted > 0 || refused == 0 {
			fmt.Fprintf(os.Stderr, "updateload: -refused %s: %d accepted, %d refused\n", l.o.refusedKind, accepted, refused)
			return 1
		}
		return 0
	}
	if accepted == 0 {
		return 1
	}
	return 0
}

// digest is a random ACME dns-01 value (43 base64url characters).
func digest() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
