package zonemodel

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/miekg/dns"
)

// The encodings of stored records and journal entries (the same for every
// storage, storage.go).

// packRRs encodes records as a sequence of (uint16 length, wire RR).
func packRRs(rrs []dns.RR) ([]byte, error) {
	var p packer
	return p.pack(nil, rrs)
}

// packer encodes record lists for the store, reusing its buffers.
//
// Records are packed through a message (Msg.PackBuffer), never with
// dns.PackRR: that writes Rdlength into the record, which is shared with live
// snapshots that answers are packing concurrently. All records of a list go
// through one message (uncompressed), which is then cut into records.
type packer struct {
	m   dns.Msg
	buf []byte
}

// pack appends the encoding of rrs to dst.
func (p *packer) pack(dst []byte, rrs []dns.RR) ([]byte, error) {
	for len(rrs) > 0 {
		n := min(len(rrs), 1024)
		p.m.Answer = rrs[:n]
		b, err := p.m.PackBuffer(p.buf)
		if err != nil {
			return nil, err
		}
		p.buf = b[:0]
		off := 12 // after the header; no question
		for i := range n {
			start := off
			if off, err = skipRR(b, off); err != nil {
				return nil, fmt.Errorf("%s: %w", rrs[i].Header().Name, err)
			}
			dst = binary.BigEndian.AppendUint16(dst, uint16(off-start))
			dst = append(dst, b[start:off]...)
		}
		rrs = rrs[n:]
	}
	p.m.Answer = nil
	return dst, nil
}

// packEach packs rrs and appends each one's wire form to dst (slices of
// the packer's buffer, valid until its next use).
func (p *packer) packEach(dst [][]byte, rrs []dns.RR) ([][]byte, error) {
	n := min(len(rrs), 4096)
	if n == 0 {
		return dst, nil
	}
	p.m.Answer = rrs[:n]
	b, err := p.m.PackBuffer(p.buf)
	p.m.Answer = nil
	if err != nil {
		return nil, err
	}
	p.buf = b[:0]
	off := 12
	for range n {
		start := off
		if off, err = skipRR(b, off); err != nil {
			return nil, err
		}
		dst = append(dst, b[start:off:off])
	}
	if n < len(rrs) {
		// The first ones stay valid: the rest go through another buffer.
		var q packer
		return q.packEach(dst, rrs[n:])
	}
	return dst, nil
}

// skipRR returns the offset after the uncompressed record at off in msg.
func skipRR(msg []byte, off int) (int, error) {
	for {
		if off >= len(msg) {
			return 0, errors.New("truncated record")
		}
		l := int(msg[off])
		if l == 0 {
			off++
			break
		}
		if l&0xC0 != 0 {
			return 0, errors.New("compressed name in a record packed for the store")
		}
		off += 1 + l
	}
	if off+10 > len(msg) {
		return 0, errors.New("truncated record")
	}
	off += 10 + int(binary.BigEndian.Uint16(msg[off+8:]))
	if off > len(msg) {
		return 0, errors.New("truncated record")
	}
	return off, nil
}

func unpackRRs(b []byte) ([]dns.RR, error) {
	var out []dns.RR
	for len(b) > 0 {
		if len(b) < 2 {
			return nil, errors.New("truncated record list")
		}
		n := int(binary.BigEndian.Uint16(b))
		if len(b) < 2+n {
			return nil, errors.New("truncated record")
		}
		rr, _, err := dns.UnpackRR(b[2:2+n], 0)
		if err != nil {
			return nil, err
		}
		out = append(out, rr)
		b = b[2+n:]
	}
	return out, nil
}

// unpackInto appends the records of a packed list to dst. Their owner name
// is name when given (the records of one key), else the first record's,
// decoded once and lowercased; it is returned.
func unpackInto(dst []dns.RR, b []byte, name string) ([]dns.RR, string, error) {
	for len(b) > 0 {
		if len(b) < 2 {
			return nil, "", errors.New("truncated record list")
		}
		n := int(binary.BigEndian.Uint16(b))
		if len(b) < 2+n {
			return nil, "", errors.New("truncated record")
		}
		msg := b[2 : 2+n]
		off, err := skipName(msg, 0)
		if err != nil || off+10 > len(msg) {
			return nil, "", errors.New("truncated record")
		}
		if name == "" {
			nm, _, err := dns.UnpackDomainName(msg, 0)
			if err != nil {
				return nil, "", err
			}
			name = lower(nm)
		}
		h := dns.RR_Header{
			Name:     name,
			Rrtype:   binary.BigEndian.Uint16(msg[off:]),
			Class:    binary.BigEndian.Uint16(msg[off+2:]),
			Ttl:      binary.BigEndian.Uint32(msg[off+4:]),
			Rdlength: binary.BigEndian.Uint16(msg[off+8:]),
		}
		rr, _, err := dns.UnpackRRWithHeader(h, msg, off+10)
		if err != nil {
			return nil, "", err
		}
		dst = append(dst, rr)
		b = b[2+n:]
	}
	return dst, name, nil
}

// skipName returns the offset after the uncompressed name at off.
func skipName(msg []byte, off int) (int, error) {
	for {
		if off >= len(msg) {
			return 0, errors.New("truncated name")
		}
		l := int(msg[off])
		if l == 0 {
			return off + 1, nil
		}
		if l&0xC0 != 0 {
			return 0, errors.New("compressed name in a stored record")
		}
		off += 1 + l
	}
}

// JournalEntry is one change of a view: the records removed and added between
// two serials, in the form of an RFC 1995 difference sequence.
type JournalEntry struct {
	From, To uint32
	OldSOA   dns.RR
	NewSOA   dns.RR
	Del, Add []dns.RR
	Time     time.Time
	Source   string
}

func (e *JournalEntry) encode() ([]byte, error) {
	var out []byte
	out = binary.BigEndian.AppendUint64(out, uint64(e.Time.Unix()))
	out = binary.BigEndian.AppendUint16(out, uint16(len(e.Source)))
	out = append(out, e.Source...)
	for _, part := range [][]dns.RR{{e.OldSOA}, {e.NewSOA}, e.Del, e.Add} {
		b, err := packRRs(part)
		if err != nil {
			return nil, err
		}
		out = binary.BigEndian.AppendUint32(out, uint32(len(b)))
		out = append(out, b...)
	}
	return out, nil
}

// entryFrom returns the serial a journal entry starts from, decoding only
// its old SOA.
func entryFrom(b []byte) (uint32, error) {
	if len(b) < 10 {
		return 0, errors.New("short journal entry")
	}
	sl := int(binary.BigEndian.Uint16(b[8:]))
	b = b[10:]
	if len(b) < sl+4 {
		return 0, errors.New("short journal entry")
	}
	b = b[sl:]
	n := int(binary.BigEndian.Uint32(b))
	if len(b) < 4+n {
		return 0, errors.New("short journal entry")
	}
	rrs, err := unpackRRs(b[4 : 4+n])
	if err != nil {
		return 0, err
	}
	if len(rrs) != 1 {
		return 0, errors.New("journal entry without SOA")
	}
	soa, ok := rrs[0].(*dns.SOA)
	if !ok {
		return 0, errors.New("journal entry without SOA")
	}
	return soa.Serial, nil
}

// encodedEntry is a journal entry in its stored encoding.
type encodedEntry []byte

func (r encodedEntry) from() (uint32, error)         { return entryFrom(r) }
func (r encodedEntry) entry() (*JournalEntry, error) { return decodeEntry(r) }

func decodeEntry(b []byte) (*JournalEntry, error) {
	if len(b) < 10 {
		return nil, errors.New("short journal entry")
	}
	e := &JournalEntry{Time: time.Unix(int64(binary.BigEndian.Uint64(b)), 0)}
	sl := int(binary.BigEndian.Uint16(b[8:]))
	b = b[10:]
	if len(b) < sl {
		return nil, errors.New("short journal entry")
	}
	e.Source = string(b[:sl])
	b = b[sl:]
	var parts [4][]dns.RR
	for i := range parts {
		if len(b) < 4 {
			return nil, errors.New("short journal entry")
		}
		n := int(binary.BigEndian.Uint32(b))
		if len(b) < 4+n {
			return nil, errors.New("short journal entry")
		}
		rrs, err := unpackRRs(b[4 : 4+n])
		if err != nil {
			return nil, err
		}
		parts[i] = rrs
		b = b[4+n:]
	}
	if len(parts[0]) != 1 || len(parts[1]) != 1 {
		return nil, errors.New("journal entry without SOA")
	}
	e.OldSOA, e.NewSOA, e.Del, e.Add = parts[0][0], parts[1][0], parts[2], parts[3]
	e.From, e.To = e.OldSOA.(*dns.SOA).Serial, e.NewSOA.(*dns.SOA).Serial
	return e, nil
}

func u64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }
func u32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }
