package zonemodel

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/miekg/dns"
)

// ZoneData is a parsed and checked zone file.
type ZoneData struct {
	Origin   string
	RRs      []dns.RR
	Warnings []string
	SOA      *dns.SOA
}

// lineReader hands bytes to the zone lexer one at a time (it implements
// io.ByteReader, so the lexer does not buffer ahead) and counts lines, so a
// record can be traced to the line where it ends.
type lineReader struct {
	r     *bufio.Reader
	lines int
	last  byte
}

func (l *lineReader) ReadByte() (byte, error) {
	b, err := l.r.ReadByte()
	if err == nil {
		if l.last == '\n' {
			l.lines++
		}
		l.last = b
	}
	return b, err
}

func (l *lineReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	b, err := l.ReadByte()
	if err != nil {
		return 0, err
	}
	p[0] = b
	return 1, nil
}

// line is the 1-based line of the last byte read.
func (l *lineReader) line() int { return l.lines + 1 }

// ReadZoneFile parses and checks the zone file at path for origin.
func ReadZoneFile(path, origin string) (*ZoneData, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ParseZone(f, origin, path)
}

// ReadZoneFragment parses and checks a file of records that adds to a zone
// (a per-view file): the checks of a zone file, except that it has no SOA
// (the base file's applies) and needs no apex NS.
func ReadZoneFragment(path, origin string) (*ZoneData, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return parseZone(f, origin, path, true)
}

// ParseZone parses and checks a zone in RFC 1035 master file format. Errors
// name the file and line: a syntax error, a record outside the zone, a missing
// or misplaced SOA, no NS at the apex, a CNAME beside other data.
func ParseZone(r io.Reader, origin, file string) (*ZoneData, error) {
	return parseZone(r, origin, file, false)
}

func parseZone(r io.Reader, origin, file string, fragment bool) (*ZoneData, error) {
	origin = Fqdn(origin)
	lr := &lineReader{r: bufio.NewReader(r)}
	zp := dns.NewZoneParser(lr, origin, file)
	zp.SetIncludeAllowed(true)
	zd := &ZoneData{Origin: origin}
	type at struct{ line int }
	lines := map[rrKey]int{}
	sets := map[rrKey][]dns.RR{}
	var order []rrKey
	types := map[string]map[uint16]bool{}
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		line := lr.line()
		rr = normalize(rr)
		h := rr.Header()
		pos := fmt.Sprintf("%s:%d", file, line)
		if err := encodable(rr); err != nil {
			return nil, fmt.Errorf("%s: %s cannot be encoded in wire format: %v", pos, short(rr), err)
		}
		if !InZone(h.Name, origin) {
			return nil, fmt.Errorf("%s: %s is outside zone %s", pos, h.Name, origin)
		}
		if h.Rrtype == dns.TypeSOA {
			if fragment {
				return nil, fmt.Errorf("%s: an SOA record in a per-view file; the zone's SOA comes from its base file", pos)
			}
			if h.Name != origin {
				return nil, fmt.Errorf("%s: SOA record at %s, not at the zone apex %s", pos, h.Name, origin)
			}
			if zd.SOA != nil {
				return nil, fmt.Errorf("%s: second SOA record; a zone has one", pos)
			}
			zd.SOA = rr.(*dns.SOA)
		}
		k := rrKey{h.Name, h.Rrtype}
		if _, seen := sets[k]; !seen {
			order = append(order, k)
			lines[k] = line
		}
		if existing := sets[k]; len(existing) > 0 {
			if containsRdata(existing, rr) {
				zd.Warnings = append(zd.Warnings, fmt.Sprintf("%s: duplicate record %s ignored", pos, short(rr)))
				continue
			}
			if ttl := existing[0].Header().Ttl; ttl != h.Ttl {
				zd.Warnings = append(zd.Warnings, fmt.Sprintf("%s: TTL %d differs from %d of the other %s records at %s; using %d (RFC 2181 §5.2)", pos, h.Ttl, ttl, dns.TypeToString[h.Rrtype], h.Name, ttl))
				rr = dns.Copy(rr)
				rr.Header().Ttl = ttl
			}
		}
		sets[k] = append(sets[k], rr)
		if types[h.Name] == nil {
			types[h.Name] = map[uint16]bool{}
		}
		tm := types[h.Name]
		tm[h.Rrtype] = true
		if tm[dns.TypeCNAME] {
			for t := range tm {
				if t != dns.TypeCNAME && t != dns.TypeRRSIG && t != dns.TypeNSEC {
					return nil, fmt.Errorf("%s: CNAME and other data (%s) at %s (RFC 1034 §3.6.2)", pos, dns.TypeToString[t], h.Name)
				}
			}
			if len(sets[rrKey{h.Name, dns.TypeCNAME}]) > 1 {
				return nil, fmt.Errorf("%s: more than one CNAME record at %s", pos, h.Name)
			}
			if h.Name == origin {
				return nil, fmt.Errorf("%s: CNAME at the zone apex %s", pos, h.Name)
			}
		}
		if h.Rrtype == dns.TypeDNAME && len(sets[k]) > 1 {
			return nil, fmt.Errorf("%s: more than one DNAME record at %s", pos, h.Name)
		}
	}
	if err := zp.Err(); err != nil {
		msg := err.Error()
		if !strings.Contains(msg, file) {
			msg = file + ": " + msg
		}
		return nil, fmt.Errorf("%s", msg)
	}
	if zd.SOA == nil && !fragment {
		return nil, fmt.Errorf("%s: no SOA record at the zone apex %s", file, origin)
	}
	if len(sets[rrKey{origin, dns.TypeNS}]) == 0 && !fragment {
		return nil, fmt.Errorf("%s: no NS records at the zone apex %s", file, origin)
	}
	// Data below a delegation other than glue is occluded (RFC 2181 §6): warn.
	cuts := map[string]bool{}
	for _, k := range order {
		if k.t == dns.TypeNS && k.name != origin {
			cuts[k.name] = true
		}
	}
	for _, k := range order {
		if len(cuts) == 0 {
			break
		}
		for a := Parent(k.name); k.name != origin && InZone(a, origin) && a != origin; a = Parent(a) {
			if cuts[a] {
				if k.t != dns.TypeA && k.t != dns.TypeAAAA {
					zd.Warnings = append(zd.Warnings, fmt.Sprintf("%s:%d: %s %s is below the delegation %s and is not served (occluded)", file, lines[k], k.name, dns.TypeToString[k.t], a))
				}
				break
			}
		}
		if cuts[k.name] && k.t != dns.TypeNS && k.t != dns.TypeDS && k.t != dns.TypeNSEC && k.t != dns.TypeRRSIG {
			zd.Warnings = append(zd.Warnings, fmt.Sprintf("%s:%d: %s %s is at the delegation %s and is not served (occluded)", file, lines[k], k.name, dns.TypeToString[k.t], k.name))
		}
	}
	for _, k := range order {
		zd.RRs = append(zd.RRs, sets[k]...)
	}
	return zd, nil
}

// encodable checks that rr packs: the parser takes some rdata that has no wire
// form (a DS digest of an odd number of hex digits), which the store could
// then not keep.
func encodable(rr dns.RR) error {
	buf := make([]byte, dns.Len(rr)+64)
	_, err := dns.PackRR(rr, buf, 0, nil, false)
	return err
}

func short(rr dns.RR) string {
	return strings.ReplaceAll(rr.String(), "\t", " ")
}
