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

func main() {
	server := flag.String("server", "127.0.0.1:53", "DNS server host:port")
	zone := flag.String("zone", "bench.test.", "zone to update")
	keySpec := flag.String("key", "", "TSIG key ALGORITHM:NAME:SECRET (e.g. hmac-sha256:acme-bench.:c2Vj...)")
	conns := flag.Int("conns", 4, "parallel TCP connections (one UPDATE in flight on each)")
	names := flag.Int("names", 64, "distinct owner names _acme-challenge.uN.ZONE")
	duration := flag.Duration("duration", 15*time.Second, "how long to send")
	rate := flag.Float64("rate", 0, "UPDATEs per second in total (0: as fast as answered)")
	useUDP := flag.Bool("udp", false, "UDP instead of TCP")
	refusedKind := flag.String("refused", "", "send UPDATEs the server refuses: "+strings.Join(refusedKinds, ", ")+" (mix: each in turn)")
	forge := flag.String("forge", "acme-other.", "-refused twotsig: the key name of the forged second TSIG record")
	victim := flag.String("victim", "", "-refused: the owner the refused UPDATEs aim at (default _acme-challenge.victim.ZONE: a name -key is not granted)")
	flag.Parse()

	parts := strings.SplitN(*keySpec, ":", 3)
	if len(parts) != 3 {
		fmt.Fprintln(os.Stderr, "updateload: -key ALGORITHM:NAME:SECRET is required")
		os.Exit(2)
	}
	alg, keyName, secret := dns.Fqdn(strings.ToLower(parts[0])), dns.Fqdn(parts[1]), parts[2]
	*zone = dns.Fqdn(*zone)
	var attack *refuser
	if *refusedKind != "" {
		if *victim == "" {
			*victim = "_acme-challenge.victim." + *zone
		}
		var err error
		if attack, err = newRefuser(*refusedKind, *zone, dns.Fqdn(*victim), keyName, alg, secret, dns.Fqdn(*forge)); err != nil {
			fmt.Fprintln(os.Stderr, "updateload:", err)
			os.Exit(2)
		}
	}

	var tokens <-chan time.Time
	if *rate > 0 {
		t := time.NewTicker(time.Duration(float64(time.Second) / *rate))
		defer t.Stop()
		tokens = t.C
	}

	var accepted, refused, errs atomic.Int64
	var mu sync.Mutex
	var lat []time.Duration
	deadline := time.Now().Add(*duration)
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < *conns; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			c := &dns.Client{Net: "tcp", Timeout: 5 * time.Second, TsigSecret: map[string]string{keyName: secret}}
			if *useUDP {
				c.Net = "udp"
			}
			var co *dns.Conn
			var local []time.Duration
			defer func() {
				mu.Lock()
				lat = append(lat, local...)
				mu.Unlock()
				if co != nil {
					co.Close()
				}
			}()
			for i := w; time.Now().Before(deadline); i += *conns {
				if tokens != nil {
					select {
					case <-tokens:
					case <-time.After(time.Until(deadline)):
						return
					}
				}
				if co == nil {
					var err error
					if co, err = c.Dial(*server); err != nil {
						errs.Add(1)
						time.Sleep(100 * time.Millisecond)
						continue
					}
				}
				var r *dns.Msg
				var err error
				t0 := time.Now()
				if attack != nil {
					r, err = attack.exchange(co, i)
				} else {
					owner := fmt.Sprintf("_acme-challenge.u%d.%s", i%*names, *zone)
					rr := &dns.TXT{Hdr: dns.RR_Header{Name: owner, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 60}, Txt: []string{digest()}}
					m := new(dns.Msg)
					m.SetUpdate(*zone)
					m.RemoveRRset([]dns.RR{rr})
					m.Insert([]dns.RR{rr})
					m.SetTsig(keyName, alg, 300, time.Now().Unix())
					// A fresh dns.Conn on the same connection for each UPDATE:
					// a dns.Conn chains the TSIG MAC of its previous message into
					// the next (as zone transfers need), which is wrong for
					// independent requests.
					r, _, err = c.ExchangeWithConn(m, &dns.Conn{Conn: co.Conn})
				}
				d := time.Since(t0)
				switch {
				case err != nil:
					if errs.Add(1) <= 3 {
						fmt.Fprintf(os.Stderr, "updateload: %v\n", err)
					}
					co.Close()
					co = nil
				case r.Rcode == dns.RcodeSuccess:
					accepted.Add(1)
					if attack == nil {
						local = append(local, d)
					}
				default:
					refused.Add(1)
					if attack != nil {
						local = append(local, d)
					}
				}
			}
		}(w)
	}
	wg.Wait()
	secs := time.Since(start).Seconds()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	pct := func(p float64) float64 {
		if len(lat) == 0 {
			return 0
		}
		return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000
	}
	ups := float64(accepted.Load()) / secs
	rps := float64(refused.Load()) / secs
	what := "accepted"
	if attack != nil {
		what = "refused"
	}
	fmt.Printf("accepted %d, refused %d, errors %d in %.1fs: %.0f UPDATEs/s accepted, %.0f refused; latency (%s) p50 %.2fms p90 %.2fms p99 %.2fms max %.2fms\n",
		accepted.Load(), refused.Load(), errs.Load(), secs, ups, rps, what, pct(.5), pct(.9), pct(.99), pct(1))
	fmt.Printf("RESULT accepted=%d refused=%d errors=%d seconds=%.1f ups=%.0f rps=%.0f p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f max_ms=%.2f\n",
		accepted.Load(), refused.Load(), errs.Load(), secs, ups, rps, pct(.5), pct(.9), pct(.99), pct(1))
	if attack != nil {
		if accepted.Load() > 0 || refused.Load() == 0 {
			fmt.Fprintf(os.Stderr, "updateload: -refused %s: %d accepted, %d refused\n", *refusedKind, accepted.Load(), refused.Load())
			os.Exit(1)
		}
		return
	}
	if accepted.Load() == 0 {
		os.Exit(1)
	}
}

// digest is a random ACME dns-01 value (43 base64url characters).
func digest() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
