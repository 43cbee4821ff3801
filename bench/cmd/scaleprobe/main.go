// Command scaleprobe takes the timings of bench/scale.sh that dnsperf does
// not: how long a server takes to answer after it was started, how long a
// zone transfer takes to send its first message, and how long a secondary
// takes to serve a change made at its primary.
//
//	scaleprobe waitsoa -server ADDR -zone Z [-timeout 300s] [-since UNIXNANO]
//	    polls SOA over UDP every 10 ms until NOERROR; prints the seconds
//	    since -since (the caller's clock before it started the server), or
//	    since the probe started.
//	scaleprobe firstmsg -server ADDR -zone Z [-key ALG:NAME:SECRET] [-ukey ...] [-update]
//	    with -update first adds one _acme-challenge TXT (UPDATE, TSIG) and
//	    waits for the answer; then asks AXFR over TCP and prints the
//	    milliseconds until the first message, and until the last.
//	scaleprobe ixfrlag -primary ADDR -secondary ADDR -zone Z -ukey ALG:NAME:SECRET [-n 5]
//	    waits until the secondary serves the primary's serial, then n times:
//	    one UPDATE at the primary, and the milliseconds until the secondary
//	    answers the new serial (median printed).
//
// The last line of each is machine-readable: RESULT key=value...
package main

import (
	"crypto/rand"
	"encoding/base64"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: scaleprobe waitsoa|firstmsg|ixfrlag [flags]")
		os.Exit(2)
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	server := fs.String("server", "127.0.0.1:53", "server address")
	primary := fs.String("primary", "", "primary address (ixfrlag)")
	secondary := fs.String("secondary", "", "secondary address (ixfrlag)")
	zone := fs.String("zone", "bench.test.", "zone")
	keySpec := fs.String("key", "", "TSIG key ALGORITHM:NAME:SECRET of transfers")
	ukeySpec := fs.String("ukey", "", "TSIG key of UPDATEs (default: -key)")
	timeout := fs.Duration("timeout", 300*time.Second, "give up after")
	update := fs.Bool("update", false, "firstmsg: make a change first")
	n := fs.Int("n", 5, "ixfrlag: changes to time")
	since := fs.Int64("since", 0, "waitsoa: count from this time (Unix nanoseconds)")
	fs.Parse(os.Args[2:])
	*zone = dns.Fqdn(*zone)
	k := parseKey(*keySpec)
	uk := k
	if *ukeySpec != "" {
		uk = parseKey(*ukeySpec)
	}
	var err error
	switch os.Args[1] {
	case "waitsoa":
		start := time.Now()
		if *since > 0 {
			start = time.Unix(0, *since)
		}
		err = waitSOA(*server, *zone, start, *timeout)
	case "firstmsg":
		err = firstMsg(*server, *zone, k, uk, *update)
	case "ixfrlag":
		err = ixfrLag(*primary, *secondary, *zone, uk, *n, *timeout)
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "scaleprobe:", err)
		os.Exit(1)
	}
}

type key struct{ alg, name, secret string }

func parseKey(s string) *key {
	if s == "" {
		return nil
	}
	p := strings.SplitN(s, ":", 3)
	if len(p) != 3 {
		fmt.Fprintln(os.Stderr, "scaleprobe: -key wants ALGORITHM:NAME:SECRET")
		os.Exit(2)
	}
	return &key{dns.Fqdn(strings.ToLower(p[0])), dns.Fqdn(p[1]), p[2]}
}

func (k *key) client(netw string) *dns.Client {
	c := &dns.Client{Net: netw, Timeout: 10 * time.Second}
	if k != nil {
		c.TsigSecret = map[string]string{k.name: k.secret}
	}
	return c
}

func (k *key) sign(m *dns.Msg) {
	if k != nil {
		m.SetTsig(k.name, k.alg, 300, time.Now().Unix())
	}
}

func serial(addr, zone string) (uint32, error) {
	m := new(dns.Msg)
	m.SetQuestion(zone, dns.TypeSOA)
	c := &dns.Client{Timeout: 200 * time.Millisecond}
	r, _, err := c.Exchange(m, addr)
	if err != nil {
		return 0, err
	}
	if r.Rcode != dns.RcodeSuccess || len(r.Answer) == 0 {
		return 0, fmt.Errorf("SOA: %s", dns.RcodeToString[r.Rcode])
	}
	soa, ok := r.Answer[0].(*dns.SOA)
	if !ok {
		return 0, fmt.Errorf("SOA answer is %T", r.Answer[0])
	}
	return soa.Serial, nil
}

func waitSOA(addr, zone string, start time.Time, timeout time.Duration) error {
	for time.Since(start) < timeout {
		if _, err := serial(addr, zone); err == nil {
			fmt.Printf("RESULT seconds=%.3f\n", time.Since(start).Seconds())
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	fmt.Printf("RESULT seconds=timeout\n")
	return fmt.Errorf("no SOA answer within %s", timeout)
}

// change adds one _acme-challenge TXT with a fresh value (deleting the
// previous ones), as an ACME client does.
func change(addr, zone string, k *key) (time.Duration, error) {
	b := make([]byte, 32)
	rand.Read(b) // an RFC 8555 key authorization digest: base64url of 32 octets
	owner := "_acme-challenge.scale." + zone
	m := new(dns.Msg)
	m.SetUpdate(zone)
	m.RemoveRRset([]dns.RR{&dns.TXT{Hdr: dns.RR_Header{Name: owner, Rrtype: dns.TypeTXT, Class: dns.ClassINET}}})
	m.Insert([]dns.RR{&dns.TXT{Hdr: dns.RR_Header{Name: owner, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 60}, Txt: []string{base64.RawURLEncoding.EncodeToString(b)}}})
	k.sign(m)
	start := time.Now()
	r, _, err := k.client("tcp").Exchange(m, addr)
	if err != nil {
		return 0, err
	}
	if r.Rcode != dns.RcodeSuccess {
		return 0, fmt.Errorf("UPDATE: %s", dns.RcodeToString[r.Rcode])
	}
	return time.Since(start), nil
}

func firstMsg(addr, zone string, k, uk *key, update bool) error {
	if update {
		if _, err := change(addr, zone, uk); err != nil {
			return err
		}
	}
	m := new(dns.Msg)
	m.SetAxfr(zone)
	k.sign(m)
	t := &dns.Transfer{DialTimeout: 10 * time.Second, ReadTimeout: 120 * time.Second}
	if k != nil {
		t.TsigSecret = map[string]string{k.name: k.secret}
	}
	start := time.Now()
	ch, err := t.In(m, addr)
	if err != nil {
		return err
	}
	var first time.Duration
	rrs := 0
	for env := range ch {
		if env.Error != nil {
			return env.Error
		}
		if first == 0 {
			first = time.Since(start)
		}
		rrs += len(env.RR)
	}
	fmt.Printf("RESULT first_ms=%.1f last_ms=%.1f records=%d\n", ms(first), ms(time.Since(start)), rrs)
	return nil
}

func ixfrLag(primary, secondary, zone string, k *key, n int, timeout time.Duration) error {
	// In sync first (the secondary's first transfer of the whole zone).
	start := time.Now()
	for {
		ps, err1 := serial(primary, zone)
		ss, err2 := serial(secondary, zone)
		if err1 == nil && err2 == nil && ps == ss {
			break
		}
		if time.Since(start) > timeout {
			return fmt.Errorf("secondary not in sync after %s (primary %d %v, secondary %d %v)", timeout, ps, err1, ss, err2)
		}
		time.Sleep(50 * time.Millisecond)
	}
	sync := time.Since(start)
	var lags []float64
	for i := 0; i < n; i++ {
		if _, err := change(primary, zone, k); err != nil {
			return err
		}
		done := time.Now()
		want, err := serial(primary, zone)
		if err != nil {
			return err
		}
		for {
			if s, err := serial(secondary, zone); err == nil && s == want {
				break
			}
			if time.Since(done) > 60*time.Second {
				return fmt.Errorf("secondary did not reach serial %d in 60 s", want)
			}
			time.Sleep(2 * time.Millisecond)
		}
		lags = append(lags, ms(time.Since(done)))
		time.Sleep(200 * time.Millisecond)
	}
	slices.Sort(lags)
	fmt.Printf("RESULT sync_s=%.2f lag_ms=%.1f lag_max_ms=%.1f\n", sync.Seconds(), lags[len(lags)/2], lags[len(lags)-1])
	return nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
