package secondary

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/dnspki/dnspki/plugin/pkg/xfrpeer"
	"github.com/dnspki/dnspki/plugin/pkg/zonemodel"
)

// Timeouts of incoming transfers (besides xfrpeer's dial timeout).
var (
	xfrReadTimeout = 30 * time.Second
	xfrMaxDuration = 30 * time.Minute
)

// Diff is one RFC 1995 difference sequence.
type Diff struct {
	Old, New *dns.SOA
	Del, Add []dns.RR
}

// Result is a complete incoming transfer.
type Result struct {
	Kind  string   // "axfr", "ixfr" or "uptodate"
	SOA   *dns.SOA // the primary's SOA after the transfer
	All   []dns.RR // axfr: every record, the SOA once (first)
	Diffs []Diff   // ixfr
	Msgs  int
	RRs   int
	Bytes int
}

// xfrParser consumes the records of an AXFR or IXFR response stream in
// order and tells when the transfer is complete (RFC 5936 §2.2, RFC 1995 §4).
type xfrParser struct {
	origin string
	ixfr   bool
	serial uint32 // IXFR: the serial the client asked from

	n     int
	first *dns.SOA
	res   *Result
	state int // ixfr: 0 expect old SOA or end, 1 deletions, 2 additions
	cur   *Diff
	done  bool
}

func newXfrParser(origin string, qtype uint16, serial uint32) *xfrParser {
	return &xfrParser{origin: origin, ixfr: qtype == dns.TypeIXFR, serial: serial, res: &Result{}}
}

func (p *xfrParser) isApexSOA(rr dns.RR) (*dns.SOA, bool) {
	s, ok := rr.(*dns.SOA)
	if !ok || !strings.EqualFold(s.Hdr.Name, p.origin) {
		return nil, false
	}
	return s, true
}

// add consumes one record. After done, any record is an error.
func (p *xfrParser) add(rr dns.RR) error {
	if p.done {
		return errors.New("records after the closing SOA")
	}
	p.n++
	p.res.RRs++
	switch p.n {
	case 1:
		return p.addFirst(rr)
	case 2:
		if ixfr, err := p.addSecond(rr); ixfr || err != nil {
			return err
		}
	}
	if p.res.Kind == "axfr" {
		return p.addAXFR(rr)
	}
	return p.addIXFR(rr)
}

// addFirst consumes the first record: the SOA the transfer opens with.
func (p *xfrParser) addFirst(rr dns.RR) error {
	s, ok := p.isApexSOA(rr)
	if !ok {
		return fmt.Errorf("transfer does not start with the SOA of %s (got %s)", p.origin, xfrpeer.Short(rr))
	}
	p.first = s
	p.res.SOA = s
	return nil
}

// addSecond decides from the second record whether the transfer is
// incremental (ixfr: rr opened its first difference sequence) or a whole
// zone (rr is left for addAXFR).
func (p *xfrParser) addSecond(rr dns.RR) (ixfr bool, err error) {
	s, isSOA := p.isApexSOA(rr)
	switch {
	case p.ixfr && isSOA && s.Serial == p.serial && s.Serial != p.first.Serial:
		// Incremental: the first difference sequence starts.
		p.res.Kind = "ixfr"
		p.cur = &Diff{Old: s}
		p.state = 1
		return true, nil
	case isSOA && s.Serial == p.first.Serial:
		// A zone of only its SOA: nothing a zone can be.
		return false, errors.New("transfer holds only the SOA (no NS records)")
	default:
		p.res.Kind = "axfr"
		p.res.All = append(p.res.All, p.first)
		return false, nil
	}
}

// addAXFR consumes a record of a whole-zone transfer.
func (p *xfrParser) addAXFR(rr dns.RR) error {
	if s, ok := p.isApexSOA(rr); ok {
		if s.Serial != p.first.Serial {
			return fmt.Errorf("AXFR ends with serial %d, started with %d", s.Serial, p.first.Serial)
		}
		p.done = true
		return nil
	}
	p.res.All = append(p.res.All, rr)
	return nil
}

// addIXFR consumes a record of the difference sequences of an IXFR.
func (p *xfrParser) addIXFR(rr dns.RR) error {
	s, isSOA := p.isApexSOA(rr)
	switch p.state {
	case 0:
		if !isSOA {
			return fmt.Errorf("IXFR: expected a SOA, got %s", xfrpeer.Short(rr))
		}
		if s.Serial == p.first.Serial {
			p.done = true
			return nil
		}
		return fmt.Errorf("IXFR: difference sequence from serial %d, want %d", s.Serial, p.res.Diffs[len(p.res.Diffs)-1].New.Serial)
	case 1:
		if isSOA {
			p.cur.New = s
			p.state = 2
			return nil
		}
		p.cur.Del = append(p.cur.Del, rr)
	case 2:
		if isSOA {
			return p.endSequence(s)
		}
		p.cur.Add = append(p.cur.Add, rr)
	}
	return nil
}

// endSequence ends the current difference sequence at SOA s, which closes
// the transfer or opens the next sequence.
func (p *xfrParser) endSequence(s *dns.SOA) error {
	p.res.Diffs = append(p.res.Diffs, *p.cur)
	prev := p.cur.New.Serial
	p.cur = nil
	if prev == p.first.Serial && s.Serial == p.first.Serial {
		p.done = true
		return nil
	}
	if s.Serial != prev {
		return fmt.Errorf("IXFR: difference sequence from serial %d follows one ending at %d", s.Serial, prev)
	}
	p.cur = &Diff{Old: s}
	p.state = 1
	return nil
}

// finish is called when the stream ends (after the last message).
func (p *xfrParser) finish() (*Result, error) {
	if p.n == 1 && p.ixfr {
		if zonemodel.SerialGreater(p.first.Serial, p.serial) {
			return nil, fmt.Errorf("the primary has serial %d but sent no changes", p.first.Serial)
		}
		// One SOA not newer than ours: up to date.
		p.res.Kind = "uptodate"
		return p.res, nil
	}
	if !p.done {
		return nil, errors.New("transfer ended before the closing SOA")
	}
	return p.res, nil
}

// Transfer transfers origin from the peer over TCP: AXFR, or IXFR from serial.
// With a key, the request is signed and every response message must carry a
// valid TSIG (RFC 8945 §5.3.1: the first covers the request MAC, each next
// one the previous MAC, timers only).
func Transfer(ctx context.Context, p *xfrpeer.Peer, origin string, qtype uint16, serial uint32) (*Result, error) {
	ctx, cancel := context.WithTimeout(ctx, xfrMaxDuration)
	defer cancel()
	conn, err := xfrpeer.Dial(ctx, p)
	if err != nil {
		return nil, err
	}
	co := &dns.Conn{Conn: conn}
	defer co.Close()
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()

	s := &xfrStream{ctx: ctx, co: co, peer: p, origin: origin, qtype: qtype, serial: serial, parser: newXfrParser(origin, qtype, serial)}
	if err := s.send(); err != nil {
		return nil, err
	}
	for first := true; !s.parser.done; first = false {
		end, err := s.read(first)
		if err != nil {
			return nil, err
		}
		if end {
			break
		}
	}
	return s.parser.finish()
}

// xfrStream is one incoming transfer on its connection.
type xfrStream struct {
	ctx    context.Context
	co     *dns.Conn
	peer   *xfrpeer.Peer
	origin string
	qtype  uint16
	serial uint32
	parser *xfrParser

	m   *dns.Msg // the request
	mac string   // the MAC the next signed response message covers
}

// send writes the request, signed with the peer's key if it has one.
func (s *xfrStream) send() error {
	m := new(dns.Msg)
	m.SetQuestion(s.origin, s.qtype)
	if s.qtype == dns.TypeIXFR {
		m.Ns = []dns.RR{&dns.SOA{Hdr: dns.RR_Header{Name: s.origin, Rrtype: dns.TypeSOA, Class: dns.ClassINET}, Ns: ".", Mbox: ".", Serial: s.serial}}
	}
	var out []byte
	var err error
	if k := s.peer.Key; k != nil {
		m.SetTsig(k.Name, k.Algorithm, 300, time.Now().Unix())
		out, s.mac, err = dns.TsigGenerate(m, k.Secret, "", false)
	} else {
		out, err = m.Pack()
	}
	if err != nil {
		return err
	}
	s.m = m
	s.co.SetWriteDeadline(time.Now().Add(xfrpeer.DialTimeout))
	_, err = s.co.Write(out)
	return err
}

// upToDate reports whether the response so far is a single SOA not newer
// than the serial asked from: the IXFR answer of a primary with nothing new.
func (s *xfrStream) upToDate() bool {
	return s.qtype == dns.TypeIXFR && s.parser.n == 1 && !zonemodel.SerialGreater(s.parser.first.Serial, s.serial)
}

// read reads, checks and parses one response message (first: the first of
// the stream); end is set when the transfer is complete without its closing
// SOA (up to date).
func (s *xfrStream) read(first bool) (end bool, err error) {
	res := s.parser.res
	s.co.SetReadDeadline(time.Now().Add(xfrReadTimeout))
	raw, err := s.co.ReadMsgHeader(nil)
	if err != nil {
		return s.readError(err)
	}
	r := new(dns.Msg)
	if err := r.Unpack(raw); err != nil {
		return false, fmt.Errorf("message %d: %v", res.Msgs+1, err)
	}
	res.Msgs++
	res.Bytes += len(raw)
	if r.Id != s.m.Id {
		return false, fmt.Errorf("message %d: ID %d, want %d", res.Msgs, r.Id, s.m.Id)
	}
	if s.peer.Key != nil {
		if err := s.verify(r, raw, first); err != nil {
			return false, err
		}
	}
	if r.Rcode != dns.RcodeSuccess {
		return false, xfrpeer.RcodeError(r)
	}
	if first && (len(r.Question) != 1 || !strings.EqualFold(r.Question[0].Name, s.origin) || r.Question[0].Qtype != s.qtype) {
		return false, errors.New("response does not repeat the question")
	}
	for _, rr := range r.Answer {
		if rr.Header().Class != dns.ClassINET {
			return false, fmt.Errorf("record of class %s: %s", dns.ClassToString[rr.Header().Class], xfrpeer.Short(rr))
		}
		if err := s.parser.add(rr); err != nil {
			return false, err
		}
	}
	// A single SOA not newer than ours: up to date.
	return s.upToDate(), nil
}

// readError is the outcome of a failed read: the end of an up-to-date
// answer whose primary closed the connection, else an error.
func (s *xfrStream) readError(err error) (end bool, _ error) {
	if s.ctx.Err() != nil {
		return false, fmt.Errorf("transfer took longer than %s", xfrMaxDuration)
	}
	if errors.Is(err, net.ErrClosed) || strings.Contains(err.Error(), "EOF") {
		if s.upToDate() {
			return true, nil
		}
		return false, fmt.Errorf("connection closed after %d messages: %v", s.parser.res.Msgs, err)
	}
	return false, err
}

// verify checks the TSIG of response message r (raw: as received) with the
// peer's key, over the request MAC (first) or the previous message's.
func (s *xfrStream) verify(r *dns.Msg, raw []byte, first bool) error {
	k, n := s.peer.Key, s.parser.res.Msgs
	t := r.IsTsig()
	if t == nil {
		if r.Rcode != dns.RcodeSuccess {
			return xfrpeer.RcodeError(r)
		}
		return fmt.Errorf("message %d is not signed (TSIG key %s)", n, k.Name)
	}
	if !strings.EqualFold(t.Hdr.Name, k.Name) || !strings.EqualFold(dns.Fqdn(t.Algorithm), k.Algorithm) {
		return fmt.Errorf("message %d signed with key %s/%s, want %s/%s", n, t.Hdr.Name, t.Algorithm, k.Name, k.Algorithm)
	}
	if t.Error != dns.RcodeSuccess {
		return fmt.Errorf("TSIG error %s from the primary (key %s)", dns.RcodeToString[int(t.Error)], k.Name)
	}
	if err := dns.TsigVerify(raw, k.Secret, s.mac, !first); err != nil {
		return fmt.Errorf("message %d: TSIG (key %s) does not verify: %v", n, k.Name, err)
	}
	s.mac = t.MAC
	return nil
}

// querySOA asks the peer for the zone's SOA over UDP (TCP when truncated or
// refused: Knot answers the SOA of a catalog zone it generates only over
// TCP), signed with the peer's key; a signed query needs a signed, valid
// answer.
func querySOA(ctx context.Context, p *xfrpeer.Peer, origin string) (*dns.SOA, error) {
	m := new(dns.Msg)
	m.SetQuestion(origin, dns.TypeSOA)
	m.RecursionDesired = false
	nets := xfrpeer.SOANetworks(p)
	r, err := xfrpeer.Exchange(ctx, p, m, nets[0])
	var re *xfrpeer.RcodeErr
	retry := (err == nil && (r.Truncated || r.Rcode == dns.RcodeRefused)) || (errors.As(err, &re) && re.Rcode == dns.RcodeRefused)
	if retry && len(nets) > 1 {
		// Truncated, or REFUSED over UDP (Knot answers the SOA of a catalog it
		// generates only over TCP): ask again over TCP.
		r, err = xfrpeer.Exchange(ctx, p, m, nets[1])
	}
	if err != nil {
		return nil, err
	}
	if r.Rcode != dns.RcodeSuccess {
		return nil, xfrpeer.RcodeError(r)
	}
	if !r.Authoritative {
		return nil, errors.New("SOA answer is not authoritative")
	}
	for _, rr := range r.Answer {
		if s, ok := rr.(*dns.SOA); ok && strings.EqualFold(s.Hdr.Name, origin) {
			return s, nil
		}
	}
	return nil, errors.New("no SOA in the answer")
}
