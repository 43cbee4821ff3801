package security

import (
	"encoding/hex"
	"fmt"
	"net"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/dnspki/dnspki/test/harness"
)

// nsupdate runs BIND's nsupdate against server (host:port) from the local
// address local with key k; tcp selects -v.
func nsupdate(t *testing.T, server, local string, k *harness.TSIGKey, keyName string, tcp bool, commands ...string) (string, error) {
	t.Helper()
	bin := harness.Need(t, "nsupdate")[0]
	host, port := hostPort(server)
	script := fmt.Sprintf("server %s %s\nlocal %s\nzone %s\n%s\nsend\n", host, port, local, zone, strings.Join(commands, "\n"))
	args := []string{bin, "-t", "5", "-y", k.Algorithm + ":" + keyName + ":" + k.Secret}
	if tcp {
		args = append(args, "-v")
	}
	return harness.RunInput(t, 30*time.Second, "", script, args...)
}

// TestAlgorithmSwap: a key is bound to its algorithm. Its secret used with
// another algorithm is BADKEY (NOTAUTH), from real clients: nsupdate
// (hmac-sha256 key as hmac-sha512, hmac-md5 key as hmac-sha256, UDP and
// TCP), dig (AXFR with the internal transfer key as hmac-sha512) and kdig
// (a query selecting the internal view by that key); logged with the key,
// the name and both algorithms; nothing changes, nothing internal leaks.
func TestAlgorithmSwap(t *testing.T) {
	bins := harness.Need(t, "nsupdate", "dig", "kdig")
	f := startFixture(t, "")
	sec := zoneSecrets(t)
	before := f.state(t)
	host, port := hostPort(f.Addr)

	for _, c := range []struct {
		k       *harness.TSIGKey
		as      string
		owner   string
		granted string // the key's own algorithm, as the log names it
	}{
		{keyWWW, "hmac-sha512", "_acme-challenge.www.example.test", "hmac-sha256"},
		{keyWWW, "hmac-md5", "_acme-challenge.www.example.test", "hmac-sha256"},
		{keyMD5, "hmac-sha256", "_acme-challenge.mail.example.test", "hmac-md5"},
		{key512, "hmac-sha256", "_acme-challenge.api.example.test", "hmac-sha512"},
	} {
		swapped := &harness.TSIGKey{Name: c.k.Name, Algorithm: c.as, Secret: c.k.Secret}
		for _, tcp := range []bool{false, true} {
			f.logs.take(1)
			mark := f.LogMark()
			out, err := nsupdate(t, f.Addr, "127.0.0.2", swapped, c.k.Name, tcp, fmt.Sprintf("update add %s 60 TXT %s", c.owner, val1))
			if err == nil || !strings.Contains(out, "NOTAUTH(BADKEY)") {
				t.Errorf("nsupdate with %s as %s (tcp=%v): %v\n%s", c.k.Name, c.as, tcp, err, out)
			}
			logged(t, f.Proc, mark, 1, `plugin/dnspki-tsig: UPDATE example\.test\. from `+src(f.ext)+`, key `+regexp.QuoteMeta(c.k.Name)+`: refused \(NOTAUTH/BADKEY\): TSIG key `+regexp.QuoteMeta(c.k.Name)+` is `+c.granted+`, request signed with `+c.as)
		}
	}

	// dig: AXFR of the internal view with its key as hmac-sha512.
	f.logs.take(1)
	mark := f.LogMark()
	out, _ := harness.Run(t, 30*time.Second, "", bins[1], "@"+host, "-p", port, "-b", "127.0.0.2", zone, "AXFR", "-y", "hmac-sha512:"+keyInt.Name+":"+keyInt.Secret)
	if !strings.Contains(out, "BADKEY") || !strings.Contains(out, "Transfer failed") || strings.Contains(out, "10.1.2.3") {
		t.Errorf("dig AXFR with xfr-internal. as hmac-sha512:\n%s", out)
	}
	logged(t, f.Proc, mark, 1, `AXFR example\.test\. from `+src(f.ext)+`, key xfr-internal\.: refused \(NOTAUTH/BADKEY\): TSIG key xfr-internal\. is hmac-sha256, request signed with hmac-sha512`)

	// kdig: a query from outside selecting the internal view by that key.
	for _, name := range []string{"www.intra.example.test", "vault.intra.example.test", "mail.example.test"} {
		f.logs.take(1)
		mark := f.LogMark()
		out, _ := harness.Run(t, 30*time.Second, "", bins[2], "@"+host, "-p", port, "-b", "127.0.0.2", name, "A", "-y", "hmac-sha512:"+keyInt.Name+":"+keyInt.Secret)
		if !strings.Contains(out, "status: BADKEY") || strings.Contains(out, "10.1.") {
			t.Errorf("kdig %s with xfr-internal. as hmac-sha512:\n%s", name, out)
		}
		for tk := range sec.Tokens {
			if strings.Contains(out, tk+".") && !strings.Contains(name, tk) {
				t.Errorf("kdig %s output has the internal word %q:\n%s", name, tk, out)
			}
		}
		logged(t, f.Proc, mark, 1, `A `+regexp.QuoteMeta(name)+`\. from `+src(f.ext)+`, key xfr-internal\.: refused \(NOTAUTH/BADKEY\)`)
	}
	f.unchanged(t, before, "algorithm swaps")
}

// truncate returns m signed with k whose MAC is cut to size octets (the
// first octets of the real MAC, as RFC 8945 §5.2.2.1 truncation makes it),
// or padded with zeros beyond the algorithm's length.
func truncate(t *testing.T, m *dns.Msg, k *harness.TSIGKey, size int) []byte {
	t.Helper()
	b, mac := signNow(t, m, k)
	full := unpack(t, b).IsTsig()
	raw, _ := hex.DecodeString(mac)
	if size <= len(raw) {
		raw = raw[:size]
	} else {
		raw = append(raw, make([]byte, size-len(raw))...)
	}
	ts := *full
	ts.MAC, ts.MACSize = hex.EncodeToString(raw), uint16(size)
	prefix, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	return appendRR(t, prefix, &ts)
}

// TestTruncatedMAC: RFC 8945 §5.2.2.1. A MAC shorter than max(10, half the
// algorithm's length) or longer than the algorithm's length is FORMERR; a
// truncated MAC in between is refused by policy with BADTRUNC (NOTAUTH,
// unsigned: the MAC was not verified), for every algorithm and on UPDATE,
// transfers and view-selecting queries; logged; nothing changes.
func TestTruncatedMAC(t *testing.T) {
	f := startFixture(t, "")
	sec := zoneSecrets(t)
	before := f.state(t)
	type tc struct {
		k     *harness.TSIGKey
		size  int
		rcode int    // FORMERR or NOTAUTH
		why   string // the log's reason
	}
	cases := []tc{
		{keyWWW, 16, dns.RcodeNotAuth, `NOTAUTH/BADTRUNC\): TSIG key acme-www\.: MAC truncated to 16 octets \(only full 32-octet MACs are accepted\)`},
		{keyWWW, 31, dns.RcodeNotAuth, `NOTAUTH/BADTRUNC\): TSIG key acme-www\.: MAC truncated to 31 octets`},
		{keyWWW, 15, dns.RcodeFormatError, `FORMERR\): TSIG key acme-www\.: MAC of 15 octets, shorter than RFC 8945 allows \(16\)`},
		{keyWWW, 1, dns.RcodeFormatError, `FORMERR\): TSIG key acme-www\.: MAC of 1 octets, shorter`},
		{keyWWW, 33, dns.RcodeFormatError, `FORMERR\): TSIG key acme-www\.: MAC of 33 octets, longer than hmac-sha256's 32`},
		{keyMD5, 10, dns.RcodeNotAuth, `NOTAUTH/BADTRUNC\): TSIG key acme-md5\.: MAC truncated to 10 octets \(only full 16-octet MACs are accepted\)`},
		{keyMD5, 9, dns.RcodeFormatError, `FORMERR\): TSIG key acme-md5\.: MAC of 9 octets, shorter than RFC 8945 allows \(10\)`},
		{key512, 32, dns.RcodeNotAuth, `NOTAUTH/BADTRUNC\): TSIG key acme-512\.: MAC truncated to 32 octets \(only full 64-octet MACs are accepted\)`},
		{key512, 31, dns.RcodeFormatError, `FORMERR\): TSIG key acme-512\.: MAC of 31 octets, shorter than RFC 8945 allows \(32\)`},
		{keyInt, 16, dns.RcodeNotAuth, `NOTAUTH/BADTRUNC\): TSIG key xfr-internal\.`},
		{keyInt, 0, dns.RcodeFormatError, `FORMERR\): TSIG key xfr-internal\.: MAC of 0 octets`},
	}
	owners := map[string]string{keyWWW.Name: "_acme-challenge.www.example.test.", keyMD5.Name: "_acme-challenge.mail.example.test.", key512.Name: "_acme-challenge.api.example.test."}
	for _, c := range cases {
		msgs := map[string]*dns.Msg{}
		if o, ok := owners[c.k.Name]; ok {
			msgs["UPDATE example\\.test\\."] = addTXT(o, val1)
		} else {
			msgs["AXFR example\\.test\\."] = axfrMsg()
			q := queryMsg("www.intra.example.test.", dns.TypeA)
			q.Extra = nil
			msgs["A www\\.intra\\.example\\.test\\."] = q
		}
		for what, m := range msgs {
			for _, tcp := range []bool{false, true} {
				if strings.HasPrefix(what, "AXFR") && !tcp {
					continue
				}
				f.logs.take(1)
				mark := f.LogMark()
				r, _ := rawExchange(t, f.ext, truncate(t, m, c.k, c.size), tcp)
				desc := fmt.Sprintf("%s, %s MAC of %d octets, tcp=%v", what, c.k.Name, c.size, tcp)
				switch c.rcode {
				case dns.RcodeFormatError:
					expectFormErr(t, desc, r)
				default:
					ts := r.IsTsig()
					if r.Rcode != dns.RcodeNotAuth || ts == nil || ts.Error != dns.RcodeBadTrunc || ts.MACSize != 0 || len(r.Answer)+len(r.Ns) != 0 {
						t.Errorf("%s: %s, want NOTAUTH with an unsigned TSIG carrying BADTRUNC", desc, describe(r))
					}
				}
				if l := sec.Leaks("", harness.MsgRRs(r)); len(l) > 0 {
					t.Errorf("%s leaks %v", desc, l)
				}
				logged(t, f.Proc, mark, 1, what+` from `+src(f.ext)+`, key `+regexp.QuoteMeta(c.k.Name)+`: refused \(`+c.why)
			}
		}
	}
	f.unchanged(t, before, "truncated MACs")
}

// TestBadTimeSigned: a request signed an hour ago or an hour ahead with a
// valid MAC gets NOTAUTH/BADTIME, and that answer is signed with the key
// (RFC 8945 §5.2.3: its MAC covers the request's MAC; Time Signed is the
// request's, Other Data the server's time). Checked on the bytes for every
// algorithm (hmac-md5 too) on UPDATE, AXFR and a view-selecting query, and
// with kdig run an hour in the past (faketime): kdig shows BADTIME and the
// server's time. Nothing changes, nothing internal leaks.
func TestBadTimeSigned(t *testing.T) {
	f := startFixture(t, "")
	sec := zoneSecrets(t)
	before := f.state(t)
	owners := map[string]string{keyWWW.Name: "_acme-challenge.www.example.test.", keyMD5.Name: "_acme-challenge.mail.example.test.", key512.Name: "_acme-challenge.api.example.test."}
	for _, k := range []*harness.TSIGKey{keyWWW, keyMD5, key512, keyInt} {
		msgs := map[string]*dns.Msg{}
		if o, ok := owners[k.Name]; ok {
			msgs["UPDATE example\\.test\\."] = addTXT(o, val1)
		} else {
			msgs["AXFR example\\.test\\."] = axfrMsg()
			msgs["A www\\.intra\\.example\\.test\\."] = queryMsg("www.intra.example.test.", dns.TypeA)
		}
		for what, m := range msgs {
			for _, skew := range []time.Duration{-time.Hour, time.Hour} {
				for _, tcp := range []bool{false, true} {
					if strings.HasPrefix(what, "AXFR") && !tcp {
						continue
					}
					desc := fmt.Sprintf("%s with %s signed %s away, tcp=%v", what, k.Name, skew, tcp)
					at := time.Now().Add(skew)
					b, mac := sign(t, m, k, at)
					f.logs.take(1)
					mark := f.LogMark()
					r, raw := rawExchange(t, f.ext, b, tcp)
					ts := r.IsTsig()
					if r.Rcode != dns.RcodeNotAuth || ts == nil || ts.Error != dns.RcodeBadTime || len(r.Answer)+len(r.Ns) != 0 {
						t.Errorf("%s: %s, want NOTAUTH/BADTIME", desc, describe(r))
						continue
					}
					if err := verifyReply(t, raw, k, mac); err != nil {
						t.Errorf("%s: the BADTIME answer is not signed with %s over the request's MAC: %v", desc, k.Name, err)
					}
					if ts.TimeSigned != uint64(at.Unix()) || ts.OtherLen != 6 {
						t.Errorf("%s: BADTIME answer with Time Signed %d (request %d), Other Len %d", desc, ts.TimeSigned, at.Unix(), ts.OtherLen)
					}
					var server uint64
					fmt.Sscanf(ts.OtherData, "%x", &server)
					if d := int64(server) - at.Unix(); d > -int64(ts.Fudge) && d < int64(ts.Fudge) {
						t.Errorf("%s: Other Data %q is not the server's time (the request's was %d)", desc, ts.OtherData, at.Unix())
					}
					if l := sec.Leaks("", harness.MsgRRs(r)); len(l) > 0 {
						t.Errorf("%s leaks %v", desc, l)
					}
					logged(t, f.Proc, mark, 1, what+` from `+src(f.ext)+`, key `+regexp.QuoteMeta(k.Name)+`: refused \(NOTAUTH/BADTIME\): TSIG key `+regexp.QuoteMeta(k.Name)+`: signed at .*, outside the 300 s fudge window`)
				}
			}
		}
	}

	// A real client with a clock an hour behind.
	bins := harness.Need(t, "kdig", "faketime")
	host, port := hostPort(f.Addr)
	f.logs.take(1)
	mark := f.LogMark()
	out, err := harness.Run(t, 30*time.Second, "", bins[1], "-f", "-1h", bins[0], "@"+host, "-p", port, "-b", "127.0.0.2", "www.intra.example.test", "A", "-y", "hmac-sha256:"+keyInt.Name+":"+keyInt.Secret)
	if err != nil || !strings.Contains(out, "status: BADTIME") || !strings.Contains(out, " BADTIME 6 ") || strings.Contains(out, "10.1.2.3") {
		t.Errorf("kdig an hour behind: %v\n%s", err, out)
	}
	logged(t, f.Proc, mark, 1, `A www\.intra\.example\.test\. from `+src(f.ext)+`, key xfr-internal\.: refused \(NOTAUTH/BADTIME\)`)
	f.unchanged(t, before, "requests outside the time window")
}

// capture is a UDP relay between a client and dnspki that keeps a copy of
// every request: what an eavesdropper on the path gets.
type capture struct {
	conn *net.UDPConn
	mu   sync.Mutex
	reqs [][]byte
}

func startCapture(t *testing.T, to harness.Client) *capture {
	t.Helper()
	l, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	c := &capture{conn: l}
	t.Cleanup(func() { l.Close() })
	go func() {
		buf := make([]byte, 65535)
		for {
			n, from, err := l.ReadFromUDP(buf)
			if err != nil {
				return
			}
			req := append([]byte(nil), buf[:n]...)
			c.mu.Lock()
			c.reqs = append(c.reqs, req)
			c.mu.Unlock()
			go func() {
				if ans, err := to.Raw(req, false); err == nil {
					l.WriteToUDP(ans, from)
				}
			}()
		}
	}()
	return c
}

func (c *capture) addr() string { return c.conn.LocalAddr().String() }

// last returns the last request relayed.
func (c *capture) last(t *testing.T) []byte {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.reqs) == 0 {
		t.Fatal("nothing captured")
	}
	return c.reqs[len(c.reqs)-1]
}

// TestReplay is attack 4 of issue 14: an UPDATE captured on the path (sent
// by nsupdate, with an hmac-sha256 key and with an hmac-md5 key) that added
// a challenge record, replayed after the client deleted the record, within
// the message's time window, over UDP and TCP, from another address and
// with another message ID (the MAC covers the original ID, not the header's):
// REFUSED, the answer signed with the key over the replayed request's MAC,
// logged as a replay, and the record does not come back (serial, journal
// unchanged). A captured signed query (kdig) replayed is refused too.
func TestReplay(t *testing.T) {
	bins := harness.Need(t, "nsupdate", "kdig")
	f := startFixture(t, "")
	eve := harness.NewClient("127.0.0.3", f.Port)
	replays := 0
	for _, c := range []struct {
		k     *harness.TSIGKey
		owner string
	}{
		{keyWWW, "_acme-challenge.www.example.test."},
		{keyMD5, "_acme-challenge.mail.example.test."},
	} {
		cap := startCapture(t, f.ext)
		out, err := nsupdate(t, cap.addr(), "127.0.0.1", c.k, c.k.Name, false, fmt.Sprintf("update add %s 60 TXT %s", c.owner, val1))
		if err != nil {
			t.Fatalf("nsupdate add through the relay: %v\n%s", err, out)
		}
		captured := cap.last(t)
		if got := harness.TXTValues(t, f.Addr, c.owner); len(got) != 1 || got[0] != val1 {
			t.Fatalf("%s after the add: %v", c.owner, got)
		}
		// At once: the same message again is a replay.
		f.logs.take(1)
		mark := f.LogMark()
		mac := unpack(t, captured).IsTsig().MAC
		r, raw := rawExchange(t, eve, captured, false)
		replays++
		if r.Rcode != dns.RcodeRefused || verifyReply(t, raw, c.k, mac) != nil {
			t.Errorf("%s: immediate replay: %s, want REFUSED signed with the key", c.k.Name, describe(r))
		}
		logged(t, f.Proc, mark, 1, `UPDATE example\.test\. from `+src(eve)+`, key `+regexp.QuoteMeta(c.k.Name)+`: refused \(REFUSED\): TSIG key `+regexp.QuoteMeta(c.k.Name)+`: replay of a message already processed`)

		// The client deletes the record; the replays must not bring it back.
		if out, err := nsupdate(t, f.Addr, "127.0.0.1", c.k, c.k.Name, true, fmt.Sprintf("update delete %s TXT", c.owner)); err != nil {
			t.Fatalf("nsupdate delete: %v\n%s", err, out)
		}
		before := f.state(t)
		// The MAC covers the original ID (RFC 8945 §4.3.3), not the
		// header's: a copy with another message ID is the same message.
		otherID := append([]byte(nil), captured...)
		otherID[0], otherID[1] = ^otherID[0], ^otherID[1]
		for i, msg := range [][]byte{captured, captured, otherID} {
			tcp := i == 1
			f.logs.take(1)
			mark := f.LogMark()
			r, raw := rawExchange(t, eve, msg, tcp)
			replays++
			if r.Rcode != dns.RcodeRefused || verifyReply(t, raw, c.k, mac) != nil {
				t.Errorf("%s: replay %d after the delete (tcp=%v): %s, want REFUSED signed with the key", c.k.Name, i, tcp, describe(r))
			}
			logged(t, f.Proc, mark, 1, `UPDATE example\.test\. from `+src(eve)+`, key `+regexp.QuoteMeta(c.k.Name)+`: refused \(REFUSED\): TSIG key `+regexp.QuoteMeta(c.k.Name)+`: replay`)
		}
		f.unchanged(t, before, c.k.Name+" replays")
		if got := harness.TXTValues(t, f.Addr, c.owner); got != nil {
			t.Errorf("%s came back: %v", c.owner, got)
		}
	}

	// A signed query captured and replayed.
	cap := startCapture(t, f.ext)
	host, port := hostPort(cap.addr())
	out, err := harness.Run(t, 30*time.Second, "", bins[1], "@"+host, "-p", port, "www.intra.example.test", "A", "-y", "hmac-sha256:"+keyInt.Name+":"+keyInt.Secret)
	if err != nil || !strings.Contains(out, "10.1.2.3") {
		t.Fatalf("kdig through the relay: %v\n%s", err, out)
	}
	captured := cap.last(t)
	f.logs.take(1)
	mark := f.LogMark()
	r, raw := rawExchange(t, eve, captured, false)
	replays++
	if r.Rcode != dns.RcodeRefused || len(r.Answer) != 0 || verifyReply(t, raw, keyInt, unpack(t, captured).IsTsig().MAC) != nil {
		t.Errorf("replayed query: %s, want REFUSED, signed, no answer", describe(r))
	}
	logged(t, f.Proc, mark, 1, `A www\.intra\.example\.test\. from `+src(eve)+`, key xfr-internal\.: refused \(REFUSED\): .*replay`)
	if n := harness.Metric(t, f.metrics, "coredns_dnspki_tsig_refused_total", map[string]string{"reason": "replay"}); n != float64(replays) {
		t.Errorf("tsig_refused_total{reason=replay} = %v, want %d", n, replays)
	}
}

// TestReplayNotForgottenForAnotherKey: the replay memory is bounded, but
// one key's requests cannot push another key's out of it. An attacker
// holding acme-www. who captured an UPDATE of acme-md5. (adding the mail
// challenge, since deleted by its client) sends more valid signed queries
// than the memory holds (each is remembered), then replays the capture
// within its window: REFUSED, and the record does not come back.
func TestReplayNotForgottenForAnotherKey(t *testing.T) {
	const memory = 1 << 16 // tsigauth's bound of remembered MACs (per key)
	f := startFixture(t, "")
	owner := "_acme-challenge.mail.example.test."
	captured, mac := signNow(t, addTXT(owner, val1), keyMD5)
	if r, _ := rawExchange(t, f.in, captured, false); r.Rcode != dns.RcodeSuccess {
		t.Fatalf("the victim's UPDATE: %s", describe(r))
	}
	del := new(dns.Msg)
	del.SetUpdate(zone)
	del.RemoveRRset([]dns.RR{&dns.TXT{Hdr: dns.RR_Header{Name: owner, Rrtype: dns.TypeTXT, Class: dns.ClassINET}}})
	b, _ := signNow(t, del, keyMD5)
	if r, _ := rawExchange(t, f.in, b, false); r.Rcode != dns.RcodeSuccess {
		t.Fatalf("the victim's delete: %s", describe(r))
	}
	before := f.state(t)
	verified0 := harness.Metric(t, f.metrics, "coredns_dnspki_tsig_verified_total", map[string]string{"key": keyWWW.Name})

	// The attacker's valid signed queries, as fast as answered.
	const n = memory + 1000
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Int64
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn, err := f.ext.Dialer(false).Dial("udp", f.ext.Server)
			if err != nil {
				failed.Add(1)
				return
			}
			defer conn.Close()
			buf := make([]byte, 4096)
			for i := next.Add(1); i <= n; i = next.Add(1) {
				// A name of its own: two messages with the same content,
				// time and ID would have the same MAC (a replay).
				b, _ := signNow(t, queryMsg(fmt.Sprintf("q%d.example.test.", i), dns.TypeA), keyWWW)
				for try := 0; try < 3; try++ {
					conn.SetDeadline(time.Now().Add(2 * time.Second))
					conn.Write(b)
					if _, err := conn.Read(buf); err == nil {
						break
					}
				}
			}
		}()
	}
	wg.Wait()
	if failed.Load() > 0 {
		t.Fatal("could not open the attacker's sockets")
	}
	// The gate remembered them all (each verified, each a new MAC).
	if got := harness.Metric(t, f.metrics, "coredns_dnspki_tsig_verified_total", map[string]string{"key": keyWWW.Name}) - verified0; got < memory {
		t.Fatalf("only %v of the attacker's %d signed queries verified", got, n)
	}
	f.logs.take(1)
	mark := f.LogMark()
	r, raw := rawExchange(t, f.ext, captured, false)
	if r.Rcode != dns.RcodeRefused || verifyReply(t, raw, keyMD5, mac) != nil {
		t.Errorf("the captured UPDATE replayed after %d signed queries of another key: %s, want REFUSED", n, describe(r))
	}
	logged(t, f.Proc, mark, 1, `key acme-md5\.: refused \(REFUSED\): TSIG key acme-md5\.: replay`)
	f.unchanged(t, before, "a replay after another key's flood")
}
