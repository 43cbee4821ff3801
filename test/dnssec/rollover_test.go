package dnssec

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/dnspki/dnspki/test/harness"
)

// stream asks unbound a steady mix of questions (positive, NXDOMAIN with
// fresh names, NODATA, wildcard, the keys) and counts the answers that did
// not validate.
type stream struct {
	u       *harness.Unbound
	zone    string
	total   atomic.Int64
	mu      sync.Mutex
	fails   []string
	stop    chan struct{}
	stopped chan struct{}
}

func startStream(u *harness.Unbound, zone string) *stream {
	s := &stream{u: u, zone: zone}
	s.resume()
	return s
}

func (s *stream) resume() {
	s.stop, s.stopped = make(chan struct{}), make(chan struct{})
	go s.run(s.stop, s.stopped)
}

func (s *stream) pause() {
	close(s.stop)
	<-s.stopped
}

func (s *stream) run(stop, stopped chan struct{}) {
	defer close(stopped)
	type q struct {
		name  string
		qtype uint16
		data  bool
	}
	z := s.zone
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		default:
		}
		qs := []q{
			{"www." + z, dns.TypeA, true},
			{"www." + z, dns.TypeTXT, true},
			{fmt.Sprintf("nx%d.%s", i, z), dns.TypeA, false},
			{"www." + z, dns.TypeMX, false},
			{fmt.Sprintf("h%d.wild.%s", i%50, z), dns.TypeA, true},
			{z, dns.TypeDNSKEY, true},
			{z, dns.TypeSOA, true},
		}
		for _, x := range qs {
			r, err := s.u.Resolve(x.name, x.qtype)
			s.total.Add(1)
			bad := ""
			switch {
			case err != nil:
				bad = err.Error()
			case r.Rcode != dns.RcodeSuccess || !r.AuthenticatedData:
				bad = fmt.Sprintf("rcode %s AD %v", dns.RcodeToString[r.Rcode], r.AuthenticatedData)
			case x.data && len(r.Answer) == 0:
				bad = "no answer"
			}
			if bad != "" {
				s.mu.Lock()
				s.fails = append(s.fails, fmt.Sprintf("%s %s/%s: %s", time.Now().Format("15:04:05.000"), x.name, dns.TypeToString[x.qtype], bad))
				s.mu.Unlock()
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// more waits (bounded) until the stream has sent n more queries: the
// validating resolver kept answering after an event (a positive signal
// instead of sleeping while it runs).
func (s *stream) more(t *testing.T, n int64) {
	t.Helper()
	target := s.total.Load() + n
	harness.Eventually(t, 60*time.Second, fmt.Sprintf("%d more validated queries", n), func() bool { return s.total.Load() >= target })
}

func (s *stream) failures() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.fails...)
}

// keyState is the part of onlinesign's <zone>.keystate the tests look at.
type keyState struct {
	Keys []struct {
		Key       string `json:"key"`
		Role      string `json:"role"`
		Tag       uint16 `json:"tag"`
		Published bool   `json:"published"`
		SignsZone bool   `json:"signs_zone"`
		CDS       bool   `json:"cds"`
	} `json:"keys"`
	Rolls []struct {
		Kind string   `json:"kind"`
		Old  []string `json:"old"`
		New  []string `json:"new"`
		Step int      `json:"step"`
	} `json:"rolls"`
}

func readState(t testing.TB, path string) keyState {
	t.Helper()
	var st keyState
	b, err := os.ReadFile(path)
	if err == nil {
		err = json.Unmarshal(b, &st)
	}
	if err != nil {
		t.Fatalf("key state %s: %v", path, err)
	}
	return st
}

// servedKeys returns the tags of the DNSKEYs served for zone, sorted.
func servedKeys(t testing.TB, addr, zone string) []uint16 {
	t.Helper()
	r, err := harness.Query(addr, zone, dns.TypeDNSKEY, false, true)
	if err != nil {
		return nil
	}
	var tags []uint16
	for _, rr := range r.Answer {
		if k, ok := rr.(*dns.DNSKEY); ok {
			tags = append(tags, k.KeyTag())
		}
	}
	sort.Slice(tags, func(i, j int) bool { return tags[i] < tags[j] })
	return tags
}

const shortZone = `$TTL 2
@    IN SOA ns1 hostmaster 1 3600 600 1209600 2
     IN NS  ns1
ns1  IN A   127.0.0.1
www  IN A   192.0.2.10
     IN TXT "rolling"
*.wild IN A 192.0.2.80
`

// TestZSKRollover rolls the ZSK (pre-publish) with short timings, twice,
// restarting dnspki in the middle of the first rollover, while unbound keeps
// validating a stream of queries: not one may fail.
func TestZSKRollover(t *testing.T) {
	harness.Need(t, "unbound")
	dir := t.TempDir()
	write(t, filepath.Join(dir, "zone"), shortZone)
	port := harness.FreePort(t)
	srv := harness.StartDnspki(t, dir, fmt.Sprintf(`roll.test:%d {
    bind 127.0.0.1
    authzone roll.test {
        file zone
    }
    onlinesign roll.test {
        scheme split
        dnskey-ttl 2s
        propagation 1s
        zsk-lifetime 5s
    }
}
`, port), port)
	harness.WaitDNS(t, srv.Addr, "roll.test.", 30*time.Second, srv.Proc)
	keys := filepath.Join(dir, "state", "keys")
	statePath := filepath.Join(keys, "roll.test.keystate")
	st := readState(t, statePath)
	var zsk0 string
	for _, k := range st.Keys {
		if k.Role == "zsk" {
			zsk0 = k.Key
		}
	}
	u := harness.StartUnbound(t, harness.UnboundConfig{
		TrustAnchorFiles: []string{filepath.Join(keys, "roll.test.trust-anchor")},
		Stubs:            map[string][]string{"roll.test": {srv.Addr}},
	})
	s := startStream(u, "roll.test.")
	defer s.pause()

	// Mid-rollover restart: once the new ZSK signs and the old one is still
	// published, stop dnspki and start it again.
	var newKey string
	harness.Eventually(t, 30*time.Second, "a ZSK rollover in step 2", func() bool {
		st := readState(t, statePath)
		for _, r := range st.Rolls {
			if r.Kind == "zsk" && r.Step == 2 {
				newKey = r.New[0]
				return true
			}
		}
		return false
	})
	s.pause()
	srv.Restart()
	harness.WaitDNS(t, srv.Addr, "roll.test.", 30*time.Second, srv.Proc)
	u.Control("flush_infra", "all")
	s.resume()
	st = readState(t, statePath)
	if len(st.Rolls) == 0 || st.Rolls[0].New[0] != newKey {
		t.Fatalf("after the restart the rollover is gone or different: %+v", st.Rolls)
	}
	// The rollover completes: the old ZSK leaves the zone; then a second one
	// runs undisturbed.
	harness.Eventually(t, 30*time.Second, "the first ZSK rollover to finish", func() bool {
		st := readState(t, statePath)
		for _, k := range st.Keys {
			if k.Key == zsk0 {
				return false
			}
		}
		return true
	})
	harness.Eventually(t, 30*time.Second, "a second ZSK rollover to finish", func() bool {
		st := readState(t, statePath)
		for _, k := range st.Keys {
			if k.Key == newKey {
				return false
			}
		}
		return true
	})
	harness.Eventually(t, 10*time.Second, "the first ZSK's files moved to retired/", func() bool {
		_, err := os.Stat(filepath.Join(keys, "retired", zsk0+".private"))
		return err == nil
	})
	s.more(t, 100)
	s.pause()
	tags := servedKeys(t, srv.Addr, "roll.test.")
	if len(tags) < 2 || len(tags) > 3 {
		t.Errorf("served DNSKEYs %v: want the KSK and one or two ZSKs", tags)
	}
	s.resume()
	checkStream(t, s, "ZSK rollovers")
}

// chain is a parent zone (example.test., signed, its trust anchor in
// unbound) delegating sub.example.test. to a child signed with childOpts,
// the test acting as the parent's operator: it copies the child's CDS into
// the parent zone's DS (RFC 7344 §4) as soon as it changes.
type chain struct {
	child, parent *harness.Server
	cdir, pdir    string
	u             *harness.Unbound
	updates       atomic.Int32
}

func (c *chain) childCorefile(cport, pport int, opts string) string {
	return fmt.Sprintf(`sub.example.test:%d {
    bind 127.0.0.1
    authzone sub.example.test {
        file zone
    }
    onlinesign sub.example.test {
        dnskey-ttl 2s
        propagation 1s
        parent 127.0.0.1:%d
        ds-check 300ms
%s
    }
}
`, cport, pport, opts)
}

func startChain(t *testing.T, childOpts string) *chain {
	t.Helper()
	harness.Need(t, "unbound")
	c := &chain{cdir: t.TempDir(), pdir: t.TempDir()}
	pport, cport := harness.FreePort(t), harness.FreePort(t)
	write(t, filepath.Join(c.cdir, "zone"), shortZone)
	c.child = harness.StartDnspki(t, c.cdir, c.childCorefile(cport, pport, childOpts), cport)
	harness.WaitDNS(t, c.child.Addr, "sub.example.test.", 30*time.Second, c.child.Proc)

	parentZone := func(ds string) string {
		return `$ORIGIN example.test.
$TTL 2
@        IN SOA ns1 hostmaster 1 3600 600 1209600 2
         IN NS  ns1
ns1      IN A   127.0.0.1
www      IN A   192.0.2.1
sub      IN NS  ns1.sub
ns1.sub  IN A   127.0.0.1
` + ds
	}
	zf := filepath.Join(c.pdir, "example.test.zone")
	// The parent's DS TTL is short (2s) like the rest, from the start.
	ds0 := strings.Replace(dnspkiDS(t, c.cdir, "sub.example.test"), "\t3600\t", "\t2\t", 1)
	write(t, zf, parentZone(ds0))
	c.parent = harness.StartDnspki(t, c.pdir, fmt.Sprintf(`example.test:%d {
    bind 127.0.0.1
    authzone example.test {
        file example.test.zone
        reload 1s
    }
    onlinesign example.test
}
`, pport), pport)
	harness.WaitDNS(t, c.parent.Addr, "example.test.", 30*time.Second, c.parent.Proc)

	scanStop, scanDone := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(scanDone)
		cur := ds0
		for {
			select {
			case <-scanStop:
				return
			case <-time.After(200 * time.Millisecond):
			}
			r, err := harness.Query(c.child.Addr, "sub.example.test", dns.TypeCDS, false, true)
			if err != nil || r.Rcode != dns.RcodeSuccess {
				continue
			}
			var lines []string
			for _, rr := range r.Answer {
				if cds, ok := rr.(*dns.CDS); ok {
					d := cds.DS
					d.Hdr.Rrtype = dns.TypeDS
					d.Hdr.Ttl = 2
					lines = append(lines, d.String())
				}
			}
			sort.Strings(lines)
			next := strings.Join(lines, "\n") + "\n"
			if len(lines) == 0 || next == cur {
				continue
			}
			tmp := zf + ".tmp"
			os.WriteFile(tmp, []byte(parentZone(next)), 0o644)
			os.Rename(tmp, zf)
			cur = next
			c.updates.Add(1)
		}
	}()
	t.Cleanup(func() { close(scanStop); <-scanDone })

	c.u = harness.StartUnbound(t, harness.UnboundConfig{
		TrustAnchorFiles: []string{filepath.Join(c.pdir, "state", "keys", "example.test.trust-anchor")},
		Stubs: map[string][]string{
			"example.test":     {c.parent.Addr},
			"sub.example.test": {c.child.Addr},
		},
	})
	expectSecure(t, c.u, "sub.example.test", dns.TypeDS, dns.RcodeSuccess, dns.TypeDS)
	return c
}

// checkStream stops the stream and fails the test on any validation failure.
func checkStream(t *testing.T, s *stream, what string) {
	t.Helper()
	s.pause()
	f := s.failures()
	t.Logf("%d queries during the %s, %d failed", s.total.Load(), what, len(f))
	if len(f) > 0 {
		t.Errorf("validation failures during the %s:\n%s", what, strings.Join(f, "\n"))
	}
	if s.total.Load() < 100 {
		t.Errorf("only %d queries", s.total.Load())
	}
	s.resume()
}

// TestCSKRollover rolls a CSK (double-KSK, driven by CDS/CDNSKEY) in a child
// zone; dnspki sees the new DS at the parent and retires the old key.
// unbound validates from the parent's trust anchor throughout.
func TestCSKRollover(t *testing.T) {
	c := startChain(t, "        csk-lifetime 6s")
	statePath := filepath.Join(c.cdir, "state", "keys", "sub.example.test.keystate")
	csk0 := readState(t, statePath).Keys[0].Key
	s := startStream(c.u, "sub.example.test.")
	defer s.pause()

	harness.Eventually(t, 60*time.Second, "the CSK rollover to finish", func() bool {
		st := readState(t, statePath)
		return len(st.Keys) == 1 && st.Keys[0].Key != csk0 && st.Keys[0].CDS && len(st.Rolls) == 0
	})
	// The parent gets the new DS (the test's operator copies the CDS), and
	// validation goes on after the rollover.
	harness.Eventually(t, 30*time.Second, "the parent's DS naming the CSK with CDS", func() bool {
		for _, k := range readState(t, statePath).Keys {
			if k.CDS {
				r, err := harness.Query(c.parent.Addr, "sub.example.test", dns.TypeDS, false, true)
				return err == nil && len(r.Answer) > 0 && r.Answer[0].(*dns.DS).KeyTag == k.Tag
			}
		}
		return false
	})
	s.more(t, 100)
	// (A next rollover may have begun meanwhile: csk-lifetime is 6s.)
	st := readState(t, statePath)
	var csk1 uint16
	for _, k := range st.Keys {
		if k.Key == csk0 {
			t.Errorf("old CSK %s still in the key state", csk0)
		}
		if k.CDS {
			csk1 = k.Tag
		}
	}
	tags := servedKeys(t, c.child.Addr, "sub.example.test.")
	if !slices.Contains(tags, csk1) || len(tags) > 2 {
		t.Errorf("served DNSKEYs %v, want the new CSK %d (and maybe the next one)", tags, csk1)
	}
	r, err := harness.Query(c.parent.Addr, "sub.example.test", dns.TypeDS, false, true)
	if err != nil || len(r.Answer) == 0 || r.Answer[0].(*dns.DS).KeyTag != csk1 {
		t.Errorf("parent DS %v (%v), want the new CSK %d", r, err, csk1)
	}
	if c.updates.Load() == 0 {
		t.Error("the parent's DS never changed")
	}
	checkStream(t, s, "CSK rollover")
}

// TestAlgorithmRollover changes a signed zone from an ECDSAP256SHA256 CSK
// to an Ed25519 KSK and ZSK by a configuration reload (SIGUSR1): the new keys
// sign before they are published, take over CDS, and the old key goes once
// the parent has the new DS, while unbound (harden-algo-downgrade) validates.
func TestAlgorithmRollover(t *testing.T) {
	c := startChain(t, "")
	statePath := filepath.Join(c.cdir, "state", "keys", "sub.example.test.keystate")
	s := startStream(c.u, "sub.example.test.")
	defer s.pause()
	s.more(t, 50) // validating before the change
	conf := filepath.Join(c.cdir, "Corefile")
	b, err := os.ReadFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	write(t, conf, strings.Replace(string(b), "ds-check 300ms", "ds-check 300ms\n        algorithm ED25519\n        scheme split", 1))
	c.child.Signal(syscall.SIGUSR1)
	harness.Eventually(t, 60*time.Second, "the algorithm rollover to finish", func() bool {
		st := readState(t, statePath)
		if len(st.Rolls) != 0 || len(st.Keys) != 2 {
			return false
		}
		for _, k := range st.Keys {
			if !strings.Contains(k.Key, "+015+") {
				return false
			}
		}
		return true
	})
	// The served DNSKEY RRset follows the key state: only Ed25519 keys and
	// signatures once the rollover is over (polled, not slept on).
	var r *dns.Msg
	harness.Eventually(t, 30*time.Second, "only Ed25519 DNSKEYs and RRSIGs served", func() bool {
		var err error
		r, err = harness.Query(c.child.Addr, "sub.example.test", dns.TypeDNSKEY, false, true)
		if err != nil {
			return false
		}
		for _, rr := range r.Answer {
			if k, ok := rr.(*dns.DNSKEY); ok && k.Algorithm != dns.ED25519 {
				return false
			}
			if s, ok := rr.(*dns.RRSIG); ok && s.Algorithm != dns.ED25519 {
				return false
			}
		}
		return true
	})
	s.more(t, 100)
	for _, rr := range r.Answer {
		if k, ok := rr.(*dns.DNSKEY); ok && k.Algorithm != dns.ED25519 {
			t.Errorf("old key still served: %v", k)
		}
		if s, ok := rr.(*dns.RRSIG); ok && s.Algorithm != dns.ED25519 {
			t.Errorf("old algorithm still signs: %v", s)
		}
	}
	pr, err := harness.Query(c.parent.Addr, "sub.example.test", dns.TypeDS, false, true)
	if err != nil || len(pr.Answer) == 0 || pr.Answer[0].(*dns.DS).Algorithm != dns.ED25519 {
		t.Errorf("parent DS %v (%v), want the Ed25519 KSK's", pr, err)
	}
	checkStream(t, s, "algorithm rollover")
}
