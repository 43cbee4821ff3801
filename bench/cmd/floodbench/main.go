// Command floodbench measures what a legitimate resolver still gets from an
// authoritative server while a spoofed-source UDP flood several times the
// server's capacity runs: the fraction of its queries answered, asked over
// UDP without cookies (a truncated answer is asked again over TCP, as a
// resolver does), over UDP with the server cookie it learned, and over TCP.
//
// The flood is sent from a raw socket (root) with forged source addresses
// on the loopback: -spoof victim forges 127.0.0.2-254, the /24 of the
// legitimate client (127.0.0.1), as an attacker who wants that resolver's
// answers rate limited (or reflected at it) would; -spoof random forges
// addresses all over 127.0.0.0/8 (outside that /24), a flood that no
// per-network limit catches. Both ask the names the legitimate client asks
// (-names), so they land in its buckets.
//
//	floodbench -server 127.0.0.1:15399 -rate 200000 -duration 10s
//
// The last lines are machine-readable:
//
//	FLOOD sent=N seconds=S pps=P
//	LEGIT mode=udp|cookie|tcp sent=N answered=N fraction=F truncated=N p50_ms=..
package main

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/miekg/dns"
)

func main() {
	server := flag.String("server", "127.0.0.1:53", "the server, 127.0.0.1:PORT")
	rate := flag.Int("rate", 100000, "flood packets a second (0: no flood)")
	spoof := flag.String("spoof", "victim", "forged sources: victim (127.0.0.2-254, the legitimate client's /24) or random (all of 127.0.0.0/8 but that /24)")
	zone := flag.String("zone", "bench.test.", "zone of the queries")
	names := flag.Int("names", 50, "the queries: _acme-challenge.www1..N.ZONE TXT")
	legitRate := flag.Int("legit-rate", 40, "legitimate queries a second, per mode")
	modes := flag.String("modes", "udp,cookie,tcp", "legitimate client modes")
	duration := flag.Duration("duration", 10*time.Second, "how long to measure (the flood starts 1 s earlier)")
	timeout := flag.Duration("timeout", time.Second, "legitimate client: wait this long for each answer (UDP, then TCP after TC)")
	flag.Parse()

	host, port, err := splitHostPort(*server)
	if err != nil {
		fatal(err)
	}
	queries := make([]string, *names)
	for i := range queries {
		queries[i] = fmt.Sprintf("_acme-challenge.www%d.%s", i+1, dns.Fqdn(*zone))
	}

	var fl *flooder
	if *rate > 0 {
		fl, err = newFlooder(host, port, *spoof, queries)
		if err != nil {
			fatal(err)
		}
		go fl.run(*rate)
		time.Sleep(time.Second) // the flood is on before anything is measured
	}
	// A cookie client learns its server cookie before the measurement (under
	// the flood, as a resolver that has asked this server before would
	// already have it).
	jar := &cookieJar{}
	if strings.Contains(*modes, "cookie") {
		jar.learn(*server, queries[0], *timeout)
	}
	start := time.Now()
	var floodStart int64
	if fl != nil {
		floodStart = fl.sent.Load()
	}
	var wg sync.WaitGroup
	results := map[string]*result{}
	for _, m := range strings.Split(*modes, ",") {
		r := &result{mode: m}
		results[m] = r
		wg.Add(1)
		go func() {
			defer wg.Done()
			legit(r, *server, queries, jar, *legitRate, *duration, *timeout)
		}()
	}
	wg.Wait()
	secs := time.Since(start).Seconds()
	if fl != nil {
		sent := fl.sent.Load() - floodStart // the last answers' wait included
		fl.stop.Store(true)
		fmt.Printf("FLOOD sent=%d seconds=%.1f pps=%.0f spoof=%s\n", sent, secs, float64(sent)/secs, *spoof)
	} else {
		fmt.Printf("FLOOD sent=0 seconds=%.1f pps=0 spoof=none\n", secs)
	}
	for _, m := range strings.Split(*modes, ",") {
		fmt.Println(results[m])
	}
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "floodbench:", err)
	os.Exit(1)
}

func splitHostPort(s string) ([4]byte, uint16, error) {
	var a, b, c, d, p int
	if _, err := fmt.Sscanf(s, "%d.%d.%d.%d:%d", &a, &b, &c, &d, &p); err != nil {
		return [4]byte{}, 0, fmt.Errorf("server %q: want an IPv4 address:port", s)
	}
	return [4]byte{byte(a), byte(b), byte(c), byte(d)}, uint16(p), nil
}

// ---------------------------------------------------------------- flood

// flooder sends forged UDP queries from a raw socket (IP_HDRINCL), 64 per
// sendmmsg call.
type flooder struct {
	fd      int
	dst     syscall.RawSockaddrInet4
	spoof   string
	queries [][]byte
	sent    atomic.Int64
	stop    atomic.Bool
}

func newFlooder(host [4]byte, port uint16, spoof string, names []string) (*flooder, error) {
	if spoof != "victim" && spoof != "random" {
		return nil, fmt.Errorf("-spoof %q: want victim or random", spoof)
	}
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_RAW, syscall.IPPROTO_RAW)
	if err != nil {
		return nil, fmt.Errorf("raw socket (needs root): %v", err)
	}
	syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_SNDBUF, 4<<20)
	f := &flooder{fd: fd, spoof: spoof, dst: syscall.RawSockaddrInet4{Family: syscall.AF_INET, Addr: host}}
	for _, n := range names {
		m := new(dns.Msg)
		m.SetQuestion(n, dns.TypeTXT)
		m.RecursionDesired = false
		m.SetEdns0(1232, true) // as a reflection attack asks: DO, large buffer
		q, err := m.Pack()
		if err != nil {
			return nil, err
		}
		pkt := make([]byte, 28+len(q))
		pkt[0] = 0x45 // IPv4, 20-octet header
		pkt[8] = 64   // TTL
		pkt[9] = syscall.IPPROTO_UDP
		copy(pkt[16:20], host[:])
		pkt[22], pkt[23] = byte(port>>8), byte(port)
		ul := 8 + len(q)
		pkt[24], pkt[25] = byte(ul>>8), byte(ul) // UDP length; checksum 0: none (IPv4)
		copy(pkt[28:], q)
		f.queries = append(f.queries, pkt)
	}
	return f, nil
}

type mmsghdr struct {
	hdr syscall.Msghdr
	len uint32
	_   [4]byte
}

const batch = 64

func (f *flooder) run(rate int) {
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	var bufs [batch][]byte
	var iovs [batch]syscall.Iovec
	var msgs [batch]mmsghdr
	for i := range bufs {
		bufs[i] = make([]byte, 1500)
		iovs[i].Base = &bufs[i][0]
		msgs[i].hdr.Name = (*byte)(unsafe.Pointer(&f.dst))
		msgs[i].hdr.Namelen = uint32(unsafe.Sizeof(f.dst))
		msgs[i].hdr.Iov = &iovs[i]
		msgs[i].hdr.Iovlen = 1
	}
	// Pacing: every millisecond, the packets due by then.
	begin := time.Now()
	var done int64
	for !f.stop.Load() {
		due := int64(time.Since(begin).Seconds() * float64(rate))
		if due-done < batch {
			time.Sleep(500 * time.Microsecond)
			continue
		}
		for i := range batch {
			q := f.queries[rng.IntN(len(f.queries))]
			b := bufs[i][:len(q)]
			copy(b, q)
			f.source(rng, b[12:16])
			sp := 1024 + rng.IntN(60000)
			b[20], b[21] = byte(sp>>8), byte(sp)
			id := rng.Uint32()
			b[28], b[29] = byte(id>>8), byte(id) // DNS ID
			iovs[i].Len = uint64(len(b))
		}
		n, _, errno := syscall.Syscall6(sysSendmmsg, uintptr(f.fd), uintptr(unsafe.Pointer(&msgs[0])), batch, 0, 0, 0)
		if errno != 0 && errno != syscall.EAGAIN && errno != syscall.ENOBUFS {
			fatal(fmt.Errorf("sendmmsg: %v", errno))
		}
		done += int64(batch)
		f.sent.Add(int64(n))
	}
}

// sysSendmmsg is sendmmsg(2) on linux/amd64.
const sysSendmmsg = 307

// source writes a forged source address.
func (f *flooder) source(rng *rand.Rand, ip []byte) {
	ip[0] = 127
	if f.spoof == "victim" {
		ip[1], ip[2], ip[3] = 0, 0, byte(2+rng.IntN(253))
		return
	}
	for {
		x := rng.Uint32()
		ip[1], ip[2], ip[3] = byte(x), byte(x>>8), byte(1+rng.IntN(254))
		if ip[1] != 0 || ip[2] != 0 {
			return
		}
	}
}

// ---------------------------------------------------------------- legitimate client

type result struct {
	mode                string
	mu                  sync.Mutex
	sent, answered, tcs int
	lat                 []time.Duration
}

func (r *result) String() string {
	sort.Slice(r.lat, func(i, j int) bool { return r.lat[i] < r.lat[j] })
	p50, p90 := 0.0, 0.0
	if n := len(r.lat); n > 0 {
		p50 = float64(r.lat[n/2].Microseconds()) / 1000
		p90 = float64(r.lat[n*9/10].Microseconds()) / 1000
	}
	frac := 0.0
	if r.sent > 0 {
		frac = float64(r.answered) / float64(r.sent)
	}
	return fmt.Sprintf("LEGIT mode=%s sent=%d answered=%d fraction=%.3f truncated=%d p50_ms=%.1f p90_ms=%.1f", r.mode, r.sent, r.answered, frac, r.tcs, p50, p90)
}

// legit asks rate queries a second for d, each in its own goroutine (a
// resolver does not wait for one answer before the next question).
func legit(r *result, server string, names []string, jar *cookieJar, rate int, d, timeout time.Duration) {
	tick := time.NewTicker(time.Second / time.Duration(rate))
	defer tick.Stop()
	end := time.Now().Add(d)
	var wg sync.WaitGroup
	for i := 0; time.Now().Before(end); i++ {
		<-tick.C
		wg.Add(1)
		go func() {
			defer wg.Done()
			t0 := time.Now()
			ok, tc := ask(r.mode, server, names[i%len(names)], jar, timeout)
			r.mu.Lock()
			defer r.mu.Unlock()
			r.sent++
			if tc {
				r.tcs++
			}
			if ok {
				r.answered++
				r.lat = append(r.lat, time.Since(t0))
			}
		}()
	}
	wg.Wait()
}

// ask asks one question: over TCP (mode tcp), or over UDP (with the
// cookie in mode cookie) and again over TCP when the answer is truncated.
// ok: a full answer came.
func ask(mode, server, name string, jar *cookieJar, timeout time.Duration) (ok, tc bool) {
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeTXT)
	m.RecursionDesired = false
	m.SetEdns0(1232, true)
	c := &dns.Client{Timeout: timeout}
	if mode == "tcp" {
		c.Net = "tcp"
		a, _, err := c.Exchange(m, server)
		return err == nil && len(a.Answer) > 0, false
	}
	if mode == "cookie" {
		jar.put(m)
	}
	a, _, err := c.Exchange(m, server)
	if err != nil {
		return false, false
	}
	if mode == "cookie" {
		jar.take(a)
	}
	if !a.Truncated {
		return len(a.Answer) > 0, false
	}
	c.Net = "tcp"
	a, _, err = c.Exchange(m, server)
	return err == nil && len(a.Answer) > 0, true
}

// cookieJar is a client's DNS cookie: its client cookie and the server
// cookie of the last answer.
type cookieJar struct {
	mu     sync.Mutex
	client string
	server string
}

func (j *cookieJar) learn(server, name string, timeout time.Duration) {
	j.client = fmt.Sprintf("%016x", rand.Uint64())
	for range 50 { // answers may be dropped: the flood is on
		m := new(dns.Msg)
		m.SetQuestion(name, dns.TypeTXT)
		m.SetEdns0(1232, true)
		j.put(m)
		c := &dns.Client{Timeout: timeout}
		if a, _, err := c.Exchange(m, server); err == nil {
			j.take(a)
			if j.server != "" {
				return
			}
		}
	}
	fmt.Fprintln(os.Stderr, "floodbench: no server cookie learned (the server does not do cookies?)")
}

func (j *cookieJar) put(m *dns.Msg) {
	j.mu.Lock()
	defer j.mu.Unlock()
	m.IsEdns0().Option = append(m.IsEdns0().Option, &dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: j.client + j.server})
}

func (j *cookieJar) take(a *dns.Msg) {
	o := a.IsEdns0()
	if o == nil {
		return
	}
	for _, e := range o.Option {
		if c, ok := e.(*dns.EDNS0_COOKIE); ok && len(c.Cookie) > 16 && strings.EqualFold(c.Cookie[:16], j.client) {
			j.mu.Lock()
			j.server = c.Cookie[16:]
			j.mu.Unlock()
		}
	}
}
