// Command zonewait waits until a DNS server answers the SOA of every zone
// of a numbered set (PREFIXfirst.SUFFIX ... PREFIX(first+n-1).SUFFIX) authoritatively,
// and prints how long that took (from its start, or from -since, a Unix
// time in nanoseconds). Each round asks the zones not answered yet, with
// a bounded number of queries in flight; rounds repeat until -timeout.
package main

import (
	"flag"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/miekg/dns"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:53", "server")
	prefix := flag.String("prefix", "z", "zone name prefix")
	suffix := flag.String("suffix", "bench.", "zone name suffix")
	n := flag.Int("n", 10000, "number of zones")
	first := flag.Int("first", 1, "number of the first zone")
	par := flag.Int("par", 64, "queries in flight")
	timeout := flag.Duration("timeout", 30*time.Minute, "give up after")
	since := flag.Int64("since", 0, "count from this Unix time in ns (0: now)")
	flag.Parse()
	start := time.Now()
	if *since > 0 {
		start = time.Unix(0, *since)
	}
	pending := make([]string, 0, *n)
	for i := *first; i < *first+*n; i++ {
		pending = append(pending, fmt.Sprintf("%s%d.%s", *prefix, i, *suffix))
	}
	deadline := time.Now().Add(*timeout)
	c := &dns.Client{Timeout: 2 * time.Second}
	for len(pending) > 0 {
		if time.Now().After(deadline) {
			fmt.Fprintf(os.Stderr, "zonewait: %d of %d zones not answered after %s\n", len(pending), *n, *timeout)
			os.Exit(1)
		}
		var mu sync.Mutex
		var left []string
		sem := make(chan struct{}, *par)
		var wg sync.WaitGroup
		for _, z := range pending {
			sem <- struct{}{}
			wg.Add(1)
			go func(z string) {
				defer func() { <-sem; wg.Done() }()
				m := new(dns.Msg)
				m.SetQuestion(z, dns.TypeSOA)
				m.RecursionDesired = false
				r, _, err := c.Exchange(m, *addr)
				if err != nil || r.Rcode != dns.RcodeSuccess || !r.Authoritative || len(r.Answer) == 0 {
					mu.Lock()
					left = append(left, z)
					mu.Unlock()
				}
			}(z)
		}
		wg.Wait()
		pending = left
		if len(pending) > 0 {
			time.Sleep(200 * time.Millisecond)
		}
	}
	fmt.Printf("%.2f\n", time.Since(start).Seconds())
}
