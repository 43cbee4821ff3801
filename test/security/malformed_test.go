package security

import (
	"encoding/binary"
	"fmt"
	"io"
	"math/rand"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/dnspki/dnspki/test/harness"
)

// seeds are valid messages of every kind the server takes (and a few the
// gate refuses), the material of the structured mutations.
func seeds(t *testing.T, serial uint32) [][]byte {
	t.Helper()
	pack := func(m *dns.Msg) []byte {
		b, err := m.Pack()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	q := queryMsg("www.example.test.", dns.TypeA)
	qdo := queryMsg("vault.intra.example.test.", dns.TypeNSEC)
	qdo.SetEdns0(4096, true)
	ecs := queryMsg("www.intra.example.test.", dns.TypeA)
	ecs.IsEdns0().Option = append(ecs.IsEdns0().Option, &dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: 1, SourceNetmask: 24, Address: net.IPv4(10, 1, 2, 0).To4()},
		&dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: "0123456789abcdef"}, &dns.EDNS0_NSID{Code: dns.EDNS0NSID})
	noedns := queryMsg("mail.example.test.", dns.TypeANY)
	noedns.Extra = nil
	notify := new(dns.Msg)
	notify.SetNotify(zone)
	prereq := prereqMsg("value", "_acme-challenge.www.example.test.", &dns.TXT{Hdr: dns.RR_Header{Name: "_acme-challenge.www.example.test.", Rrtype: dns.TypeTXT, Class: dns.ClassINET}, Txt: []string{val1}})
	prereq.Insert([]dns.RR{&dns.TXT{Hdr: dns.RR_Header{Name: "_acme-challenge.www.example.test.", Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 60}, Txt: []string{val2}}})
	out := [][]byte{
		pack(q), pack(qdo), pack(ecs), pack(noedns), pack(axfrMsg()), pack(ixfrMsg(serial)), pack(notify),
		pack(addTXT("_acme-challenge.www.example.test.", val2)),
	}
	for _, m := range []struct {
		msg *dns.Msg
		k   *harness.TSIGKey
	}{
		{queryMsg("www.intra.example.test.", dns.TypeA), keyInt},
		{axfrMsg(), keyInt},
		{ixfrMsg(serial), keyExt},
		{addTXT("_acme-challenge.www.example.test.", val2), keyWWW},
		{addTXT("_acme-challenge.mail.example.test.", val2), keyMD5},
		{prereq, keyWWW},
		{notify, keyInt},
	} {
		b, _ := signNow(t, m.msg, m.k)
		out = append(out, b)
	}
	out = append(out,
		twoTSIG(t, addTXT("_acme-challenge.www.example.test.", val2), keyMD5, keyWWW, true),
		twoTSIG(t, axfrMsg(), keyExt, keyInt, false),
		truncate(t, addTXT("_acme-challenge.api.example.test.", val2), key512, 32),
	)
	return out
}

// mutator makes malformed messages: random bytes, and structured
// mutations of the seeds (bits, bytes, truncation, garbage, header counts,
// opcodes and flags, compression pointer loops, huge lengths, splices,
// pseudo-records in the wrong place).
type mutator struct {
	rnd   *rand.Rand
	seeds [][]byte
}

func (m *mutator) seed() []byte {
	return append([]byte(nil), m.seeds[m.rnd.Intn(len(m.seeds))]...)
}

func (m *mutator) next() []byte {
	r := m.rnd
	b := m.seed()
	switch k := r.Intn(14); k {
	case 0: // random bytes
		b = make([]byte, r.Intn(600))
		r.Read(b)
	case 1: // flip bits
		for i := 0; i <= r.Intn(8); i++ {
			p := r.Intn(len(b))
			b[p] ^= 1 << r.Intn(8)
		}
	case 2: // random bytes at random places
		for i := 0; i <= r.Intn(4); i++ {
			b[r.Intn(len(b))] = byte(r.Intn(256))
		}
	case 3: // truncate
		b = b[:r.Intn(len(b))]
	case 4: // garbage after the message
		g := make([]byte, 1+r.Intn(200))
		r.Read(g)
		b = append(b, g...)
	case 5: // section counts
		counts := []uint16{0, 1, 2, 3, 0x7fff, 0xffff}
		binary.BigEndian.PutUint16(b[4+2*r.Intn(4):], counts[r.Intn(len(counts))])
	case 6: // opcode, QR, rcode, Z bits
		b[2] = byte(r.Intn(256))
		b[3] = byte(r.Intn(256))
	case 7: // a compression pointer loop where a name is
		if len(b) > 14 {
			p := 12 + r.Intn(len(b)-13)
			b[p], b[p+1] = 0xc0|byte(p>>8)&0x3f, byte(p)
		}
	case 8: // a pointer to the header or past the end
		if len(b) > 14 {
			p := 12 + r.Intn(len(b)-13)
			b[p], b[p+1] = 0xc0|byte(r.Intn(64)), byte(r.Intn(256))
		}
	case 9: // splice two seeds
		o := m.seed()
		cut := r.Intn(len(b))
		b = append(b[:cut], o[r.Intn(len(o)):]...)
	case 10: // a huge RDLENGTH: the last two octets before a record's data
		if len(b) > 24 {
			p := 12 + r.Intn(len(b)-14)
			b[p], b[p+1] = 0xff, 0xff
		}
	case 11: // duplicate a slice of the message
		i, j := r.Intn(len(b)), r.Intn(len(b))
		if i > j {
			i, j = j, i
		}
		b = append(b[:j:j], append(b[i:j:j], b[j:]...)...)
	case 12, 13: // pseudo-records where they must not be
		b = m.misplaced()
	}
	return b
}

// misplaced builds a message with OPT or TSIG records where no RFC allows
// them: two OPTs, an OPT in the answer section or not at the root, a TSIG
// in the authority section, two TSIGs, a TSIG that is not last, a TSIG
// with an unknown algorithm, a MAC size that lies, Other Data that lies.
func (m *mutator) misplaced() []byte {
	r := m.rnd
	msg := new(dns.Msg)
	if r.Intn(2) == 0 {
		msg = addTXT("_acme-challenge.www.example.test.", val2)
	} else {
		msg.SetQuestion("www.intra.example.test.", dns.TypeA)
	}
	opt := func(name string) *dns.OPT {
		o := &dns.OPT{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeOPT}}
		o.SetUDPSize(uint16(r.Intn(65536)))
		o.SetVersion(uint8(r.Intn(3)))
		return o
	}
	tsig := func(k *harness.TSIGKey) *dns.TSIG {
		ts := &dns.TSIG{Hdr: dns.RR_Header{Name: k.Name, Rrtype: dns.TypeTSIG, Class: dns.ClassANY}, Algorithm: dns.HmacSHA256,
			TimeSigned: uint64(time.Now().Unix()), Fudge: 300, MACSize: 32, MAC: strings.Repeat("ab", 32), OrigId: msg.Id}
		switch r.Intn(5) {
		case 0:
			ts.Algorithm = "hmac-sha3-1024."
		case 1:
			ts.MACSize = uint16(r.Intn(65536))
		case 2:
			ts.OtherLen, ts.OtherData = uint16(r.Intn(65536)), "00"
		case 3:
			ts.Hdr.Class = dns.ClassINET
		}
		return ts
	}
	keys := []*harness.TSIGKey{keyWWW, keyInt, keyMD5, {Name: "nobody."}}
	k := keys[r.Intn(len(keys))]
	switch r.Intn(7) {
	case 0:
		msg.Extra = append(msg.Extra, opt("."), opt("."))
	case 1:
		msg.Answer = append(msg.Answer, opt("."))
	case 2:
		msg.Extra = append(msg.Extra, opt("example.test."))
	case 3:
		msg.Ns = append(msg.Ns, tsig(k))
	case 4:
		msg.Extra = append(msg.Extra, tsig(k), tsig(keys[r.Intn(len(keys))]))
	case 5:
		msg.Extra = append(msg.Extra, tsig(k), opt("."))
	case 6:
		msg.Extra = append(msg.Extra, opt("."), tsig(k))
	}
	b, err := msg.Pack()
	if err != nil {
		// A lie the packer refuses: send what it packs without it.
		b, _ = new(dns.Msg).SetQuestion("www.example.test.", dns.TypeA).Pack()
	}
	return b
}

// marker is a valid query whose answer tells that the server got
// everything sent before it on the same socket and still answers.
func marker(id uint16) []byte {
	m := queryMsg(fmt.Sprintf("marker%d.example.test.", id), dns.TypeA)
	m.Id = id
	b, _ := m.Pack()
	return b
}

func isMarker(b []byte, id uint16) bool {
	m := new(dns.Msg)
	return m.Unpack(b) == nil && m.Id == id && len(m.Question) == 1 && m.Question[0].Name == fmt.Sprintf("marker%d.example.test.", id) && m.Rcode == dns.RcodeNameError
}

// TestMalformedMessages: 10,000 malformed messages (random bytes and
// structured mutations of valid queries, signed and unsigned UPDATEs,
// transfers and NOTIFYs), half over UDP, half over TCP (several per
// connection, some with lying length prefixes, some cut short), from
// outside. After every batch the server answers a correct query on the
// same socket; at the end it is still running, answers correct queries
// right in both views, takes a signed UPDATE, serves signed transfers, and
// no panic was recovered (metric and log). None of the messages changed the
// zone (the valid seeds were applied, and are replays, before the flood).
func TestMalformedMessages(t *testing.T) {
	const total = 10000
	f := startFixture(t, "")
	serial := serialOf(t, f.in)
	sd := seeds(t, serial)
	// Apply the seeds once: what they change is done, and a mutation that
	// keeps a MAC valid (the header ID is outside it) is a replay.
	for _, b := range sd {
		if _, err := f.ext.Raw(b, true); err != nil {
			t.Fatalf("seed: %v", err)
		}
	}
	before := f.state(t)
	seed := time.Now().UnixNano()
	if s, err := strconv.ParseInt(os.Getenv("DNSPKI_MUTATION_SEED"), 10, 64); err == nil {
		seed = s
	}
	t.Logf("mutation seed %d (DNSPKI_MUTATION_SEED=%[1]d repeats this run)", seed)
	mut := &mutator{rnd: rand.New(rand.NewSource(seed)), seeds: sd}
	msgs := make([][]byte, total)
	for i := range msgs {
		msgs[i] = mut.next()
	}

	var answers sync.Map // rcode name -> *atomic.Int64
	count := func(b []byte) {
		name := "unparsable"
		m := new(dns.Msg)
		if m.Unpack(b) == nil {
			name = dns.RcodeToString[m.Rcode]
		}
		v, _ := answers.LoadOrStore(name, new(atomic.Int64))
		v.(*atomic.Int64).Add(1)
	}

	t.Run("udp", func(t *testing.T) { floodUDP(t, f.ext, msgs[:total/2], count) })
	t.Run("tcp", func(t *testing.T) { floodTCP(t, f.ext, msgs[total/2:], count) })

	var summary []string
	answers.Range(func(k, v any) bool {
		summary = append(summary, fmt.Sprintf("%s %d", k, v.(*atomic.Int64).Load()))
		return true
	})
	sort.Strings(summary)
	t.Logf("%d malformed messages sent; answers: %s", total, strings.Join(summary, ", "))

	if f.Exited() {
		out := f.Output()
		if i := strings.Index(out, "panic"); i >= 0 {
			out = out[i:min(len(out), i+6000)]
		} else {
			out = out[max(0, len(out)-3000):]
		}
		err, _ := f.Wait(0)
		t.Fatalf("dnspki exited (%v):\n%s", err, out)
	}
	// Still right: both views, a signed UPDATE, a signed transfer.
	for _, c := range []struct {
		cl   harness.Client
		name string
		want string
	}{{f.ext, "www.example.test.", "192.0.2.10"}, {f.in, "www.intra.example.test.", "10.1.2.3"}, {f.in, "mail.example.test.", "10.1.2.25"}, {f.ext, "mail.example.test.", "192.0.2.25"}} {
		for _, tcp := range []bool{false, true} {
			r, err := c.cl.Exchange(queryMsg(c.name, dns.TypeA), tcp)
			if err != nil || r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 || !strings.Contains(r.Answer[0].String(), c.want) {
				t.Errorf("%s A from %s after the flood: %v %v", c.name, c.cl.Src, r, err)
			}
		}
	}
	f.unchanged(t, before, "10,000 malformed messages")
	if n := harness.Metric(t, f.metrics, "coredns_panics_total", nil); n != 0 {
		t.Errorf("coredns_panics_total = %v", n)
	}
	if l := f.LogLines(`(?i)panic`); len(l) > 0 {
		t.Errorf("the log has panics: %v", l)
	}
	b, mac := signNow(t, addTXT("_acme-challenge.www.example.test.", "afterflood0000000000000000000000000000000000"[:43]), keyWWW)
	if r, raw := rawExchange(t, f.ext, b, false); r.Rcode != dns.RcodeSuccess || verifyReply(t, raw, keyWWW, mac) != nil {
		t.Errorf("a signed UPDATE after the flood: %s", describe(r))
	}
	if rrs, err := f.ext.Transfer(axfrMsg(), keyInt); err != nil || len(rrs) < 20 {
		t.Errorf("AXFR after the flood: %v (%d records)", err, len(rrs))
	}
}

// floodUDP sends msgs from c's address in batches of 100 over one socket;
// after each batch a marker query must be answered (resent up to three
// times: UDP may drop it under load), or the server has stopped answering.
func floodUDP(t *testing.T, c harness.Client, msgs [][]byte, count func([]byte)) {
	conn, err := c.Dialer(false).Dial("udp", c.Server)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	got := make(chan uint16, 16)
	go func() {
		buf := make([]byte, 65535)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			count(buf[:n])
			m := new(dns.Msg)
			if m.Unpack(buf[:n]) == nil && strings.HasPrefix(questionName(m), "marker") {
				got <- m.Id
			}
		}
	}()
	const batch = 100
	for i := 0; i < len(msgs); i += batch {
		for _, b := range msgs[i:min(i+batch, len(msgs))] {
			if len(b) == 0 {
				b = []byte{0}
			}
			if _, err := conn.Write(b); err != nil {
				t.Fatalf("udp write: %v", err)
			}
		}
		id := uint16(0xe000 + i/batch)
		answered := false
		for try := 0; try < 3 && !answered; try++ {
			conn.Write(marker(id))
			deadline := time.After(5 * time.Second)
		wait:
			for {
				select {
				case g := <-got:
					if g == id {
						answered = true
						break wait
					}
				case <-deadline:
					break wait
				}
			}
		}
		if !answered {
			t.Fatalf("no answer to a correct query after %d malformed UDP messages", i+batch)
		}
	}
}

func questionName(m *dns.Msg) string {
	if len(m.Question) == 0 {
		return ""
	}
	return m.Question[0].Name
}

// floodTCP sends msgs over TCP connections from c's address, 20 per
// connection followed by a marker, 8 connections at a time. Every fifth
// connection lies about one length (longer than the message: the server
// then reads the next messages as its rest) or ends in the middle of a
// message. The server may close a connection on garbage; then a fresh
// connection must get the marker answered.
func floodTCP(t *testing.T, c harness.Client, msgs [][]byte, count func([]byte)) {
	const per = 20
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	var failed atomic.Int64
	for i := 0; i < len(msgs); i += per {
		wg.Add(1)
		sem <- struct{}{}
		go func(n int, batch [][]byte) {
			defer wg.Done()
			defer func() { <-sem }()
			id := uint16(0xc000 + n)
			var stream []byte
			for j, b := range batch {
				l := len(b)
				if n%5 == 0 && j == per/2 {
					l += 1 + n%300 // a lying length
				}
				stream = binary.BigEndian.AppendUint16(stream, uint16(l))
				stream = append(stream, b...)
			}
			cut := n%5 == 1
			if !cut {
				mk := marker(id)
				stream = binary.BigEndian.AppendUint16(stream, uint16(len(mk)))
				stream = append(stream, mk...)
			} else {
				stream = stream[:len(stream)-3] // ends in the middle of a message
			}
			if !tcpSession(c, stream, id, count) && !tcpSession(c, framed(marker(id)), id, count) {
				if failed.Add(1) <= 3 {
					t.Errorf("connection %d: no answer to a correct query on a fresh connection either", n)
				}
			}
		}(i/per, msgs[i:min(i+per, len(msgs))])
	}
	wg.Wait()
}

func framed(b []byte) []byte {
	return append(binary.BigEndian.AppendUint16(nil, uint16(len(b))), b...)
}

// tcpSession writes stream on a new connection and reads answers until the
// marker's (true), or until the server closes the connection or 10 s pass
// (false).
func tcpSession(c harness.Client, stream []byte, id uint16, count func([]byte)) bool {
	conn, err := c.Dialer(true).Dial("tcp", c.Server)
	if err != nil {
		return false
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	go conn.Write(stream)
	for {
		var l [2]byte
		if _, err := io.ReadFull(conn, l[:]); err != nil {
			return false
		}
		b := make([]byte, binary.BigEndian.Uint16(l[:]))
		if _, err := io.ReadFull(conn, b); err != nil {
			return false
		}
		count(b)
		if isMarker(b, id) {
			return true
		}
	}
}
