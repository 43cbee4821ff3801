package tsigauth

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	stdlog "log"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/plugin/test"
	"github.com/miekg/dns"

	"github.com/dnspki/dnspki/plugin/pkg/loglimit"
	"github.com/dnspki/dnspki/plugin/pkg/tsigkey"
)

const (
	shaSecret = "c2VjcmV0LWFjbWUtd3d3LWtleS0wMTIzNDU2Nzg5YWI="
	md5Secret = "bWQ1LWtleS1mb3ItY2VydGJvdC10ZXN0cy0wMTIzNDU="
	badSecret = "b3RoZXItc2VjcmV0LW90aGVyLXNlY3JldA=="
)

func mustKey(t testing.TB, name, alg, secret string) tsigkey.Key {
	t.Helper()
	k, err := tsigkey.New(name, alg, secret)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// server is a real DNS server (miekg/dns, as CoreDNS runs it: the block's
// secrets registered, the block's gate first) on loopback UDP and TCP; next
// records what reaches the plugins behind the gate.
type server struct {
	addr  string
	block *Block
	mu    sync.Mutex
	seen  []Identity // decisions that reached the next plugin
}

func startServer(t *testing.T, b *Block, secrets map[string]string) *server {
	t.Helper()
	s := &server{block: b}
	next := test.HandlerFunc(func(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
		id, ok := Of(ctx, r)
		if !ok {
			t.Errorf("request reached the plugin without a decision")
		}
		s.mu.Lock()
		s.seen = append(s.seen, id)
		s.mu.Unlock()
		m := new(dns.Msg)
		m.SetReply(r)
		WriteReply(ctx, w, id, m)
		return 0, nil
	})
	gate := b.Gate(next)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var pc net.PacketConn
	for i := 0; i < 20; i++ {
		if pc, err = net.ListenPacket("udp", l.Addr().String()); err == nil {
			break
		}
		l.Close()
		if l, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
	}
	if pc == nil {
		t.Fatal("no port free for UDP and TCP")
	}
	s.addr = l.Addr().String()
	ctx := context.WithValue(context.Background(), dnsserver.Key{}, &dnsserver.Server{Addr: "dns://" + s.addr, TsigSecret: secrets})
	h := dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) { gate.ServeDNS(ctx, w, r) })
	accept := func(dh dns.Header) dns.MsgAcceptAction { return dns.MsgAccept }
	for _, srv := range []*dns.Server{
		{Listener: l, Handler: h, TsigSecret: secrets, MsgAcceptFunc: accept},
		{PacketConn: pc, Handler: h, TsigSecret: secrets, MsgAcceptFunc: accept},
	} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		go srv.ActivateAndServe()
		<-started
		t.Cleanup(func() { srv.Shutdown() })
	}
	return s
}

func (s *server) decisions() []Identity {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Identity(nil), s.seen...)
}

// exchange sends raw bytes and returns the raw answer.
func (s *server) exchange(t *testing.T, network string, b []byte) []byte {
	t.Helper()
	c, err := net.Dial(network, s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if network == "tcp" {
		b = append([]byte{byte(len(b) >> 8), byte(len(b))}, b...)
	}
	if _, err := c.Write(b); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 65535)
	if network == "tcp" {
		var l [2]byte
		if _, err := c.Read(l[:]); err != nil {
			t.Fatal(err)
		}
		n := int(binary.BigEndian.Uint16(l[:]))
		got := 0
		for got < n {
			k, err := c.Read(buf[got:n])
			if err != nil {
				t.Fatal(err)
			}
			got += k
		}
		return buf[:n]
	}
	n, err := c.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	return buf[:n]
}

// signedBytes packs m signed with k at time ts.
func signedBytes(t *testing.T, m *dns.Msg, k tsigkey.Key, ts time.Time) ([]byte, string) {
	t.Helper()
	m = m.Copy()
	m.SetTsig(k.Name, k.Algorithm, 300, ts.Unix())
	b, mac, err := dns.TsigGenerateWithProvider(m, k.Provider(), "", false)
	if err != nil {
		t.Fatal(err)
	}
	return b, mac
}

func updateMsg() *dns.Msg {
	m := new(dns.Msg)
	m.SetUpdate("example.test.")
	rr, _ := dns.NewRR(`_acme-challenge.www.example.test. 60 IN TXT "abc"`)
	m.Insert([]dns.RR{rr})
	return m
}

// appendRR adds rr after the last record of the packed message b.
func appendRR(t *testing.T, b []byte, rr dns.RR) []byte {
	t.Helper()
	buf := make([]byte, dns.Len(rr)+64)
	n, err := dns.PackRR(rr, buf, 0, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	out := append(append([]byte(nil), b...), buf[:n]...)
	binary.BigEndian.PutUint16(out[10:], binary.BigEndian.Uint16(out[10:])+1)
	return out
}

func garbageTSIG(name, alg string) *dns.TSIG {
	return &dns.TSIG{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeTSIG, Class: dns.ClassANY}, Algorithm: alg,
		TimeSigned: uint64(time.Now().Unix()), Fudge: 300, MACSize: 32, MAC: strings.Repeat("ab", 32)}
}

func unpack(t *testing.T, b []byte) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	if err := m.Unpack(b); err != nil {
		t.Fatalf("answer does not parse: %v", err)
	}
	return m
}

func twoKeys(t *testing.T) (md5k, sha tsigkey.Key, s *server) {
	md5k = mustKey(t, "acme-md5.", "hmac-md5", md5Secret)
	sha = mustKey(t, "acme-www.", "hmac-sha256", shaSecret)
	b := NewTestBlock(md5k, sha)
	return md5k, sha, startServer(t, b, b.Ring.Secrets())
}

// The attack of issue 14: a message correctly signed with one key followed
// (or preceded) by a second TSIG record naming another key is FORMERR,
// whatever the order and the algorithms, over UDP and TCP, and no plugin
// sees it.
func TestTwoTSIGRecords(t *testing.T) {
	md5k, sha, s := twoKeys(t)
	for _, c := range []struct {
		name         string
		signer       tsigkey.Key
		second       *dns.TSIG
		secondBefore bool
	}{
		{"md5 then sha256", md5k, garbageTSIG(sha.Name, dns.HmacSHA256), false},
		{"sha256 then md5", sha, garbageTSIG(md5k.Name, dns.HmacMD5), false},
		{"garbage sha256 before valid md5", md5k, garbageTSIG(sha.Name, dns.HmacSHA256), true},
		{"garbage md5 before valid sha256", sha, garbageTSIG(md5k.Name, dns.HmacMD5), true},
		{"same key twice", sha, garbageTSIG(sha.Name, dns.HmacSHA256), false},
	} {
		for _, network := range []string{"udp", "tcp"} {
			m := updateMsg()
			var b []byte
			if c.secondBefore {
				m.Extra = append(m.Extra, c.second)
				b, _ = signedBytes(t, m, c.signer, time.Now())
			} else {
				b, _ = signedBytes(t, m, c.signer, time.Now())
				b = appendRR(t, b, c.second)
			}
			ans := unpack(t, s.exchange(t, network, b))
			if ans.Rcode != dns.RcodeFormatError || len(ans.Extra) != 0 {
				t.Errorf("%s over %s: rcode %s, extra %v; want FORMERR and nothing else", c.name, network, dns.RcodeToString[ans.Rcode], ans.Extra)
			}
		}
	}
	if d := s.decisions(); len(d) != 0 {
		t.Fatalf("the plugins saw %d refused messages: %+v", len(d), d)
	}
}

// Every other misplaced or repeated pseudo-record is FORMERR too.
func TestStructure(t *testing.T) {
	_, sha, s := twoKeys(t)
	opt := func(name string) *dns.OPT {
		o := &dns.OPT{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeOPT}}
		o.SetUDPSize(1232)
		return o
	}
	q := func() *dns.Msg {
		m := new(dns.Msg)
		m.SetQuestion("www.example.test.", dns.TypeA)
		return m
	}
	signedThen := func(rr dns.RR) []byte {
		b, _ := signedBytes(t, q(), sha, time.Now())
		return appendRR(t, b, rr)
	}
	pack := func(m *dns.Msg) []byte {
		b, err := m.Pack()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	twoOPT := q()
	twoOPT.Extra = []dns.RR{opt("."), opt(".")}
	optAnswer := q()
	optAnswer.Answer = []dns.RR{opt(".")}
	optNonRoot := q()
	optNonRoot.Extra = []dns.RR{opt("example.test.")}
	tsigAuthority := updateMsg()
	tsigAuthority.Ns = append(tsigAuthority.Ns, garbageTSIG(sha.Name, dns.HmacSHA256))
	badClass := garbageTSIG(sha.Name, dns.HmacSHA256)
	badClass.Hdr.Class = dns.ClassINET
	classMsg := q()
	classMsg.Extra = []dns.RR{badClass}
	twoQ := q()
	twoQ.Question = append(twoQ.Question, dns.Question{Name: "x.example.test.", Qtype: dns.TypeA, Qclass: dns.ClassINET})
	for name, b := range map[string][]byte{
		"TSIG before OPT":     signedThen(opt(".")),
		"two OPT records":     pack(twoOPT),
		"OPT in the answer":   pack(optAnswer),
		"OPT not at the root": pack(optNonRoot),
		"TSIG in authority":   pack(tsigAuthority),
		"TSIG of class IN":    pack(classMsg),
		"two questions":       pack(twoQ),
	} {
		ans := unpack(t, s.exchange(t, "tcp", b))
		if ans.Rcode != dns.RcodeFormatError {
			t.Errorf("%s: rcode %s, want FORMERR", name, dns.RcodeToString[ans.Rcode])
		}
	}
	if d := s.decisions(); len(d) != 0 {
		t.Fatalf("the plugins saw %d malformed messages", len(d))
	}
}

// A correctly signed request reaches the plugins with its key, for each
// algorithm and for a key name spelled in another case; the reply is
// signed and verifies; a plain query passes undecided.
func TestVerifiedAndSignedReply(t *testing.T) {
	keys := []tsigkey.Key{
		mustKey(t, "k-md5.", "hmac-md5", md5Secret),
		mustKey(t, "k-sha1.", "hmac-sha1", shaSecret),
		mustKey(t, "k-sha224.", "hmac-sha224", shaSecret),
		mustKey(t, "k-sha256.", "hmac-sha256", shaSecret),
		mustKey(t, "k-sha384.", "hmac-sha384", shaSecret),
		mustKey(t, "k-sha512.", "hmac-sha512", shaSecret),
	}
	b := NewTestBlock(keys...)
	s := startServer(t, b, b.Ring.Secrets())
	for i, k := range keys {
		for _, network := range []string{"udp", "tcp"} {
			for _, upper := range []bool{false, true} {
				signer := k
				if upper {
					signer.Name = strings.ToUpper(k.Name)
				}
				raw, mac := signedBytes(t, updateMsg(), signer, time.Now())
				ansRaw := s.exchange(t, network, raw)
				ans := unpack(t, ansRaw)
				if ans.Rcode != dns.RcodeSuccess {
					t.Fatalf("%s (upper %v) over %s: %s", k.Name, upper, network, dns.RcodeToString[ans.Rcode])
				}
				if err := dns.TsigVerifyWithProvider(ansRaw, k.Provider(), mac, false); err != nil {
					t.Fatalf("%s over %s: reply does not verify: %v", k.Name, network, err)
				}
			}
		}
		d := s.decisions()
		if last := d[len(d)-1]; last.KeyName() != k.Name {
			t.Fatalf("decision %d: key %q, want %s", i, last.KeyName(), k.Name)
		}
	}
	plain := new(dns.Msg)
	plain.SetQuestion("www.example.test.", dns.TypeA)
	pb, _ := plain.Pack()
	if ans := unpack(t, s.exchange(t, "udp", pb)); ans.Rcode != dns.RcodeSuccess || ans.IsTsig() != nil {
		t.Fatalf("plain query: %v", ans)
	}
}

// RFC 8945 §5.2: unknown key and algorithm swap are BADKEY, a bad MAC is
// BADSIG (unsigned answers), a time outside the window BADTIME (signed, the
// server's time in Other Data), for hmac-md5 as for hmac-sha256; MAC sizes
// follow §5.2.2.1.
func TestFailures(t *testing.T) {
	md5k, sha, s := twoKeys(t)
	type tc struct {
		name    string
		raw     []byte
		rcode   int
		tsigErr uint16
		signed  *tsigkey.Key
		reqMAC  string
	}
	var cases []tc
	for _, k := range []tsigkey.Key{md5k, sha} {
		k := k
		wrong := k
		wrong.Secret = badSecret
		raw, _ := signedBytes(t, updateMsg(), wrong, time.Now())
		cases = append(cases, tc{name: k.Name + " wrong secret", raw: raw, rcode: dns.RcodeNotAuth, tsigErr: dns.RcodeBadSig})
		old, mac := signedBytes(t, updateMsg(), k, time.Now().Add(-time.Hour))
		cases = append(cases, tc{name: k.Name + " an hour old", raw: old, rcode: dns.RcodeNotAuth, tsigErr: dns.RcodeBadTime, signed: &k, reqMAC: mac})
		swapped := k
		swapped.Algorithm = dns.HmacSHA512
		if k.Algorithm == dns.HmacSHA256 {
			swapped.Algorithm = dns.HmacMD5
		}
		sw, _ := signedBytes(t, updateMsg(), swapped, time.Now())
		cases = append(cases, tc{name: k.Name + " other algorithm", raw: sw, rcode: dns.RcodeNotAuth, tsigErr: dns.RcodeBadKey})
		tampered, _ := signedBytes(t, updateMsg(), k, time.Now())
		i := strings.Index(string(tampered), "abc")
		tampered[i] = 'x' // the TXT data of the update
		cases = append(cases, tc{name: k.Name + " tampered", raw: tampered, rcode: dns.RcodeNotAuth, tsigErr: dns.RcodeBadSig})
	}
	unknown, _ := signedBytes(t, updateMsg(), mustKey(t, "nobody.", "hmac-sha256", shaSecret), time.Now())
	cases = append(cases, tc{name: "unknown key", raw: unknown, rcode: dns.RcodeNotAuth, tsigErr: dns.RcodeBadKey})
	// MAC sizes: sha256 is 32 octets; 33 is too long, 8 too short, 16 a
	// truncation dnspki's policy refuses.
	for _, c := range []struct {
		size    int
		rcode   int
		tsigErr uint16
	}{{33, dns.RcodeFormatError, 0}, {8, dns.RcodeFormatError, 0}, {16, dns.RcodeNotAuth, dns.RcodeBadTrunc}, {0, dns.RcodeFormatError, 0}} {
		m := updateMsg()
		tt := garbageTSIG(sha.Name, dns.HmacSHA256)
		tt.MACSize, tt.MAC = uint16(c.size), strings.Repeat("ab", c.size)
		m.Extra = append(m.Extra, tt)
		b, err := m.Pack()
		if err != nil {
			t.Fatal(err)
		}
		cases = append(cases, tc{name: "MAC of " + itoa(c.size), raw: b, rcode: c.rcode, tsigErr: c.tsigErr})
	}
	for _, c := range cases {
		for _, network := range []string{"udp", "tcp"} {
			ansRaw := s.exchange(t, network, c.raw)
			ans := unpack(t, ansRaw)
			if ans.Rcode != c.rcode {
				t.Errorf("%s over %s: rcode %s, want %s", c.name, network, dns.RcodeToString[ans.Rcode], dns.RcodeToString[c.rcode])
				continue
			}
			at := ans.IsTsig()
			if c.tsigErr == 0 {
				if at != nil {
					t.Errorf("%s: FORMERR with a TSIG record", c.name)
				}
				continue
			}
			if at == nil || at.Error != c.tsigErr {
				t.Errorf("%s over %s: TSIG %v, want error %s", c.name, network, at, dns.RcodeToString[int(c.tsigErr)])
				continue
			}
			if c.signed == nil {
				if at.MACSize != 0 {
					t.Errorf("%s: error answer signed (MAC size %d), RFC 8945 §5.3.2 forbids it", c.name, at.MACSize)
				}
				continue
			}
			if at.OtherLen != 6 {
				t.Errorf("%s: BADTIME without the server's time", c.name)
			}
			if err := verifyError(ansRaw, *c.signed, c.reqMAC); err != nil {
				t.Errorf("%s: BADTIME answer does not verify: %v", c.name, err)
			}
		}
	}
	if d := s.decisions(); len(d) != 0 {
		t.Fatalf("the plugins saw %d refused messages", len(d))
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// A message already accepted, sent again within its time window (a
// capture replayed), is REFUSED with a signed answer and never reaches the
// plugins a second time; the same content signed anew is accepted.
func TestReplay(t *testing.T) {
	md5k, sha, s := twoKeys(t)
	for _, k := range []tsigkey.Key{md5k, sha} {
		raw, mac := signedBytes(t, updateMsg(), k, time.Now())
		if ans := unpack(t, s.exchange(t, "tcp", raw)); ans.Rcode != dns.RcodeSuccess {
			t.Fatalf("%s: first: %s", k.Name, dns.RcodeToString[ans.Rcode])
		}
		before := len(s.decisions())
		for _, network := range []string{"udp", "tcp"} {
			ansRaw := s.exchange(t, network, raw)
			ans := unpack(t, ansRaw)
			if ans.Rcode != dns.RcodeRefused {
				t.Fatalf("%s: replay over %s: %s, want REFUSED", k.Name, network, dns.RcodeToString[ans.Rcode])
			}
			if err := dns.TsigVerifyWithProvider(ansRaw, k.Provider(), mac, false); err != nil {
				t.Fatalf("%s: the REFUSED answer is not signed: %v", k.Name, err)
			}
		}
		if n := len(s.decisions()); n != before {
			t.Fatalf("%s: a replay reached the plugins", k.Name)
		}
		again, _ := signedBytes(t, updateMsg(), k, time.Now().Add(time.Second))
		if ans := unpack(t, s.exchange(t, "udp", again)); ans.Rcode != dns.RcodeSuccess {
			t.Fatalf("%s: the same change signed anew: %s", k.Name, dns.RcodeToString[ans.Rcode])
		}
	}
}

// The replay memory forgets a MAC at the end of its window and stays
// within its bound, per key.
func TestReplayMemory(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	m := newReplayMemory()
	m.clock = func() time.Time { return now }
	m.limit = 3
	tsig := func(mac string) *dns.TSIG { return &dns.TSIG{MAC: mac, TimeSigned: uint64(now.Unix()), Fudge: 300} }
	if f := m.check("k.", tsig("aa")); f != nil {
		t.Fatal(f)
	}
	if f := m.check("k.", tsig("aa")); f == nil || f.Reason != "replay" {
		t.Fatalf("replay: %v", f)
	}
	if f := m.check("other.", tsig("aa")); f != nil {
		t.Fatalf("same MAC, other key: %v", f)
	}
	now = now.Add(301 * time.Second)
	if f := m.check("k.", tsig("aa")); f != nil {
		t.Fatalf("after the window: %v", f)
	}
	for _, mac := range []string{"01", "02", "03", "04"} {
		m.check("k.", tsig(mac))
	}
	if k := m.keys["k."]; len(k.seen) > 3 || len(k.order) > 3 {
		t.Fatalf("memory over its bound: %d/%d", len(k.seen), len(k.order))
	}
	// Each key has its own bound: another key's requests, however many,
	// do not push k.'s out (its holder could then replay them).
	if f := m.check("victim.", tsig("v1")); f != nil {
		t.Fatal(f)
	}
	for _, mac := range []string{"11", "12", "13", "14", "15", "16", "17"} {
		if f := m.check("attacker.", tsig(mac)); f != nil {
			t.Fatal(f)
		}
	}
	if f := m.check("victim.", tsig("v1")); f == nil || f.Reason != "replay" {
		t.Fatalf("a victim's MAC forgotten after another key's requests: %v", f)
	}
	if k := m.keys["attacker."]; len(k.seen) > 3 || len(k.order) > 3 {
		t.Fatalf("attacker's memory over its bound: %d/%d", len(k.seen), len(k.order))
	}
}

// A key name is valid in the block that defines it: a request signed with a
// key of the stock tsig plugin passes as Foreign (for that plugin), and
// dnspki's plugins answer it BADKEY; without the tsig plugin it is BADKEY at
// the gate. A secret the server holds under the name for another block is
// not this block's.
func TestScopedKeys(t *testing.T) {
	sha := mustKey(t, "acme-www.", "hmac-sha256", shaSecret)
	stock := mustKey(t, "stock.", "hmac-sha256", badSecret)
	b := NewTestBlock(sha)
	b.foreign = true
	secrets := map[string]string{sha.Name: sha.Secret, stock.Name: stock.Secret}
	s := startServer(t, b, secrets)
	raw, _ := signedBytes(t, updateMsg(), stock, time.Now())
	s.exchange(t, "tcp", raw)
	d := s.decisions()
	if len(d) != 1 || !d[0].Foreign || d[0].Key != nil {
		t.Fatalf("stock tsig key: %+v", d)
	}
	// The server holds another secret for acme-www. (another block on the
	// listener): a request signed with it is not acme-www. of this block.
	other := sha
	other.Secret = badSecret
	b2 := NewTestBlock(sha)
	s2 := startServer(t, b2, map[string]string{sha.Name: badSecret})
	raw, _ = signedBytes(t, updateMsg(), other, time.Now())
	if ans := unpack(t, s2.exchange(t, "udp", raw)); ans.Rcode != dns.RcodeNotAuth || ans.IsTsig() == nil || ans.IsTsig().Error != dns.RcodeBadKey {
		t.Fatalf("other block's secret: %v", ans)
	}
	if len(s2.decisions()) != 0 {
		t.Fatal("other block's secret reached the plugins")
	}
}

// Decided answers what a dnspki plugin must not act on.
func TestDecided(t *testing.T) {
	w := &recorder{}
	r := updateMsg()
	r.SetTsig("stock.", dns.HmacSHA256, 300, time.Now().Unix())
	if _, ok := Decided(context.Background(), w, r); ok || w.msg == nil || w.msg.Rcode != dns.RcodeServerFailure {
		t.Fatalf("undecided signed request: ok %v, answer %v", ok, w.msg)
	}
	w = &recorder{}
	ctx := WithIdentity(context.Background(), Identity{TSIG: r.IsTsig(), Foreign: true})
	var buf bytes.Buffer
	loglimit.Refusals.Reset() // earlier tests may have used this second's budget
	stdlog.SetOutput(&buf)
	_, ok := Decided(ctx, w, r)
	stdlog.SetOutput(os.Stderr)
	if ok || w.msg == nil || w.msg.Rcode != dns.RcodeNotAuth || w.msg.IsTsig().Error != dns.RcodeBadKey {
		t.Fatalf("foreign key: ok %v, answer %v", ok, w.msg)
	}
	// The log says which key, which name and why, as the gate's do.
	if want := "UPDATE example.test. from 10.240.0.1:40212, key stock.: refused (NOTAUTH/BADKEY): TSIG key stock. is not a key of this server block's dnspki plugins"; !strings.Contains(buf.String(), want) {
		t.Fatalf("foreign key: log %q, want %q", buf.String(), want)
	}
	if id, ok := Decided(context.Background(), &recorder{}, updateMsg()); !ok || id.Signed() {
		t.Fatalf("unsigned: %v %v", id, ok)
	}
}

type recorder struct {
	test.ResponseWriter
	msg *dns.Msg
}

func (r *recorder) WriteMsg(m *dns.Msg) error { r.msg = m; return nil }
func (r *recorder) Write(b []byte) (int, error) {
	r.msg = new(dns.Msg)
	return len(b), r.msg.Unpack(b)
}

// Multi-message answers (zone transfers): every message signed, each over
// the previous MAC in timers-only mode (RFC 8945 §5.3.1), hmac-md5 too; a
// client checking them in order accepts all.
func TestReplies(t *testing.T) {
	for _, k := range []tsigkey.Key{mustKey(t, "x-md5.", "hmac-md5", md5Secret), mustKey(t, "x-sha.", "hmac-sha384", shaSecret)} {
		req := new(dns.Msg)
		req.SetAxfr("example.test.")
		raw, reqMAC := signedBytes(t, req, k, time.Now())
		in := unpack(t, raw)
		w := &multi{}
		rs := NewReplies(context.Background(), w, Identity{Key: &k, TSIG: in.IsTsig()})
		for i := 0; i < 3; i++ {
			m := new(dns.Msg)
			m.SetReply(in)
			rr, _ := dns.NewRR("example.test. 60 IN TXT \"part " + string(rune('0'+i)) + "\"")
			m.Answer = []dns.RR{rr}
			if err := rs.Write(m); err != nil {
				t.Fatal(err)
			}
		}
		mac := reqMAC
		for i, b := range w.out {
			if err := dns.TsigVerifyWithProvider(append([]byte(nil), b...), k.Provider(), mac, i > 0); err != nil {
				t.Fatalf("%s: message %d: %v", k.Name, i, err)
			}
			mac = unpack(t, b).IsTsig().MAC
		}
	}
}

type multi struct {
	test.ResponseWriter
	out [][]byte
}

func (m *multi) Write(b []byte) (int, error) {
	m.out = append(m.out, append([]byte(nil), b...))
	return len(b), nil
}

// Two server blocks on one listener cannot give one key name two secrets
// (the server keeps one per name); another port can. A name the stock tsig
// plugin of the block holds with another secret is refused.
func TestCheckListeners(t *testing.T) {
	mk := func(port string, hosts []string, secret string) *Block {
		b := newBlock(&dnsserver.Config{Port: port, ListenHosts: hosts, Transport: "dns"})
		if err := b.AddKey(mustKey(t, "k.", "hmac-sha256", secret), "test"); err != nil {
			t.Fatal(err)
		}
		return b
	}
	reg := &registry{order: []*Block{mk("53", []string{""}, shaSecret), mk("53", []string{"127.0.0.1"}, badSecret)}}
	if err := reg.checkListeners(); err == nil || !strings.Contains(err.Error(), "different secrets") {
		t.Fatalf("same listener: %v", err)
	}
	reg = &registry{order: []*Block{mk("53", []string{""}, shaSecret), mk("5353", []string{""}, badSecret)}}
	if err := reg.checkListeners(); err != nil {
		t.Fatalf("other port: %v", err)
	}
	b := newBlock(&dnsserver.Config{TsigSecret: map[string]string{"k.": badSecret}})
	if err := b.AddKey(mustKey(t, "k.", "hmac-sha256", shaSecret), "test"); err == nil || !strings.Contains(err.Error(), "tsig plugin") {
		t.Fatalf("stock tsig secret: %v", err)
	}
}

// verifyError checks the MAC of a signed error answer (miekg/dns refuses to
// check a NOTAUTH message): RFC 8945 §4.3: the request MAC, the message
// without its TSIG record, then the TSIG variables.
func verifyError(b []byte, k tsigkey.Key, reqMAC string) error {
	m := new(dns.Msg)
	if err := m.Unpack(b); err != nil {
		return err
	}
	t := m.IsTsig()
	if t == nil {
		return dns.ErrNoSig
	}
	m.Extra = m.Extra[:len(m.Extra)-1]
	m.Compress = true
	body, err := m.Pack()
	if err != nil {
		return err
	}
	binary.BigEndian.PutUint16(body[0:], t.OrigId)
	rm, _ := hex.DecodeString(reqMAC)
	buf := binary.BigEndian.AppendUint16(nil, uint16(len(rm)))
	buf = append(buf, rm...)
	buf = append(buf, body...)
	wire := func(name string) []byte {
		out := make([]byte, 256)
		n, _ := dns.PackDomainName(strings.ToLower(dns.Fqdn(name)), out, 0, nil, false)
		return out[:n]
	}
	buf = append(buf, wire(t.Hdr.Name)...)
	buf = binary.BigEndian.AppendUint16(buf, dns.ClassANY)
	buf = binary.BigEndian.AppendUint32(buf, 0)
	buf = append(buf, wire(t.Algorithm)...)
	buf = append(buf, byte(t.TimeSigned>>40), byte(t.TimeSigned>>32), byte(t.TimeSigned>>24), byte(t.TimeSigned>>16), byte(t.TimeSigned>>8), byte(t.TimeSigned))
	buf = binary.BigEndian.AppendUint16(buf, t.Fudge)
	buf = binary.BigEndian.AppendUint16(buf, t.Error)
	buf = binary.BigEndian.AppendUint16(buf, t.OtherLen)
	od, _ := hex.DecodeString(t.OtherData)
	buf = append(buf, od...)
	return k.Provider().Verify(buf, t)
}

// A refusal carries an Extended DNS Error (RFC 8914) when the request has
// EDNS: Prohibited with the reason for key and MAC errors, Other for a
// malformed message; none without EDNS, and none for a second OPT.
func TestRefusalEDE(t *testing.T) {
	_, sha, s := twoKeys(t)
	wrong := sha
	wrong.Secret = badSecret
	m := updateMsg()
	m.SetEdns0(1232, false)
	raw, _ := signedBytes(t, m, wrong, time.Now())
	ans := unpack(t, s.exchange(t, "udp", raw))
	if e := edeOf(ans); ans.Rcode != dns.RcodeNotAuth || e == nil || e.InfoCode != dns.ExtendedErrorCodeProhibited || e.ExtraText != "badsig" {
		t.Fatalf("BADSIG with EDNS: %v", ans)
	}
	if ans.Extra[len(ans.Extra)-1].Header().Rrtype != dns.TypeTSIG {
		t.Fatal("the TSIG record is not last")
	}
	raw, _ = signedBytes(t, updateMsg(), wrong, time.Now())
	if ans := unpack(t, s.exchange(t, "udp", raw)); edeOf(ans) != nil || ans.IsEdns0() != nil {
		t.Fatalf("BADSIG without EDNS got an OPT: %v", ans)
	}
	m = updateMsg()
	m.SetEdns0(1232, false)
	m.Extra = append(m.Extra, garbageTSIG(sha.Name, dns.HmacSHA256), garbageTSIG(sha.Name, dns.HmacSHA256))
	b, _ := m.Pack()
	if ans := unpack(t, s.exchange(t, "tcp", b)); ans.Rcode != dns.RcodeFormatError || edeOf(ans) == nil || edeOf(ans).InfoCode != dns.ExtendedErrorCodeOther {
		t.Fatalf("two TSIG records with EDNS: %v", ans)
	}
}

func edeOf(m *dns.Msg) *dns.EDNS0_EDE {
	if o := m.IsEdns0(); o != nil {
		for _, e := range o.Option {
			if x, ok := e.(*dns.EDNS0_EDE); ok {
				return x
			}
		}
	}
	return nil
}
