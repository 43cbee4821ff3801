package onlinesign

import (
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// TestParentDSTTL: the wait after the parent switched its DS is the TTL of
// the DS set caches may still hold: the longest one seen while waiting.
func TestParentDSTTL(t *testing.T) {
	dir := t.TempDir()
	cfg := defaultConfig()
	cfg.origin = "example.test."
	cfg.keyDir = dir
	cfg.dsCheck = time.Millisecond
	m, err := acquireManager(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer m.release()
	ks := m.state.Keys[0]
	newDS := m.keys[ks.Key].DNSKEY.ToDS(dns.SHA256)
	oldDS := *newDS
	oldDS.KeyTag++
	oldDS.Digest = "00" + newDS.Digest[2:]

	var switched atomic.Bool
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		a := new(dns.Msg)
		a.SetReply(r)
		ds := oldDS
		ds.Hdr = dns.RR_Header{Name: "example.test.", Rrtype: dns.TypeDS, Class: dns.ClassINET, Ttl: 600}
		if switched.Load() {
			ds = *newDS
			ds.Hdr = dns.RR_Header{Name: "example.test.", Rrtype: dns.TypeDS, Class: dns.ClassINET, Ttl: 60}
		}
		a.Answer = append(a.Answer, &ds)
		w.WriteMsg(a)
	})}
	go srv.ActivateAndServe()
	defer srv.Shutdown()
	m.cfg.parents = []string{pc.LocalAddr().String()}

	now := time.Now()
	if seen, _ := m.checkParents([]*KeyState{ks}, now); seen {
		t.Fatal("the old DS set was taken for the new one")
	}
	switched.Store(true)
	seen, ttl := m.checkParents([]*KeyState{ks}, now.Add(time.Second))
	if !seen || ttl != 600*time.Second {
		t.Fatalf("seen %v, DS TTL %s: want the old set's 10m0s", seen, ttl)
	}
	// Seen at the first check: the old TTL is unknown, the configured ds-ttl
	// is the floor.
	m.dsID = ""
	seen, ttl = m.checkParents([]*KeyState{ks}, now.Add(2*time.Second))
	if !seen || ttl != cfg.policy.DSTTL {
		t.Fatalf("seen %v, DS TTL %s: want the configured %s", seen, ttl, cfg.policy.DSTTL)
	}
}
