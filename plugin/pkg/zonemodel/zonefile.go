package zonemodel

import (
	"bufio"
	"bytes"
	"cmp"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/miekg/dns"
)

// ZoneData is a parsed and checked zone file.
type ZoneData struct {
	Origin   string
	RRs      []dns.RR // grouped by name and type, in canonical order
	Warnings []string
	SOA      *dns.SOA
	// Digest is the SHA-256 of the file's bytes (nil when it includes other
	// files: its content is then more than its bytes).
	Digest []byte
	// Unchanged: the file was not read, because the zone's store holds the
	// records of a file with the same digest (Source.SetInitialFile).
	Unchanged bool
}

// fileDigest hashes a zone file the way ReadZoneFile does: nil when it has
// an $INCLUDE.
func fileDigest(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	d := newDigester()
	if _, err := io.Copy(d, f); err != nil {
		return nil, err
	}
	return d.sum(), nil
}

// digester hashes what is written to it and notices an $INCLUDE directive.
type digester struct {
	h       hash.Hash
	match   int // octets of "$include" matched so far
	include bool
}

func newDigester() *digester { return &digester{h: sha256.New()} }

const includeDirective = "$include"

func (d *digester) Write(p []byte) (int, error) {
	d.h.Write(p)
	for _, c := range p {
		if toLowerByte(c) == includeDirective[d.match] {
			d.match++
			if d.match == len(includeDirective) {
				d.include, d.match = true, 0
			}
		} else if c == '$' {
			d.match = 1
		} else {
			d.match = 0
		}
	}
	return len(p), nil
}

func (d *digester) sum() []byte {
	if d.include {
		return nil
	}
	return d.h.Sum(nil)
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
	return readZone(path, origin, false)
}

// ReadZoneFragment parses and checks a file of records that adds to a zone
// (a per-view file): the checks of a zone file, except that it has no SOA
// (the base file's applies) and needs no apex NS.
func ReadZoneFragment(path, origin string) (*ZoneData, error) {
	return readZone(path, origin, true)
}

func readZone(path, origin string, fragment bool) (*ZoneData, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	d := newDigester()
	d.Write(data)
	zd, err := parseZoneBytes(data, origin, path, fragment)
	if err != nil {
		return nil, err
	}
	zd.Digest = d.sum()
	return zd, nil
}

// ParseZone parses and checks a zone in RFC 1035 master file format. Errors
// name the file and line: a syntax error, a record outside the zone, a missing
// or misplaced SOA, no NS at the apex, a CNAME beside other data.
func ParseZone(r io.Reader, origin, file string) (*ZoneData, error) {
	return parseZone(r, origin, file, false)
}

func parseZone(r io.Reader, origin, file string, fragment bool) (*ZoneData, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return parseZoneBytes(data, origin, file, fragment)
}

// parseZoneBytes parses and checks a zone file's content.
func parseZoneBytes(data []byte, origin, file string, fragment bool) (*ZoneData, error) {
	origin = Fqdn(origin)
	zd := &ZoneData{Origin: origin}
	hint := bytes.Count(data, []byte{'\n'}) + 1 // records: at most one per line
	recs, fast := fastRecords(data, origin, file, hint)
	if fast {
		for _, x := range recs {
			if err := recordRules(zd, x.rr, int(x.line), origin, file, fragment); err != nil {
				return nil, err
			}
		}
	} else {
		var err error
		if recs, err = slowRecords(zd, data, origin, file, fragment, hint); err != nil {
			return nil, err
		}
	}
	if zd.SOA == nil && !fragment {
		return nil, fmt.Errorf("%s: no SOA record at the zone apex %s", file, origin)
	}
	warnings, err := checkZone(recs, origin, file, true)
	if err != nil {
		return nil, err
	}
	if !fragment && !slices.ContainsFunc(recs, func(x zrec) bool { return x.key == "" && x.t == dns.TypeNS && x.rr != nil }) {
		return nil, fmt.Errorf("%s: no NS records at the zone apex %s", file, origin)
	}
	zd.Warnings = warnings
	zd.RRs = make([]dns.RR, 0, len(recs))
	for _, x := range recs {
		if x.rr != nil {
			zd.RRs = append(zd.RRs, x.rr)
		}
	}
	return zd, nil
}

// recordRules checks one record where it stands in the file: in the zone,
// and an SOA only at the apex, once, and not in a per-view file.
func recordRules(zd *ZoneData, rr dns.RR, line int, origin, file string, fragment bool) error {
	h := rr.Header()
	if !InZone(h.Name, origin) {
		return fmt.Errorf("%s:%d: %s is outside zone %s", file, line, h.Name, origin)
	}
	if h.Rrtype == dns.TypeSOA {
		pos := fmt.Sprintf("%s:%d", file, line)
		if fragment {
			return fmt.Errorf("%s: an SOA record in a per-view file; the zone's SOA comes from its base file", pos)
		}
		if h.Name != origin {
			return fmt.Errorf("%s: SOA record at %s, not at the zone apex %s", pos, h.Name, origin)
		}
		if zd.SOA != nil {
			return fmt.Errorf("%s: second SOA record; a zone has one", pos)
		}
		zd.SOA = rr.(*dns.SOA)
	}
	return nil
}

// slowRecords reads the records with miekg/dns's ZoneParser: anything the
// fast reader gives up on, and every syntax error (with its line).
func slowRecords(zd *ZoneData, data []byte, origin, file string, fragment bool, hint int) ([]zrec, error) {
	lr := &lineReader{r: bufio.NewReaderSize(bytes.NewReader(data), 64<<10)}
	zp := dns.NewZoneParser(lr, origin, file)
	zp.SetIncludeAllowed(true)
	recs := make([]zrec, 0, hint)
	prevName, prevKey := "", ""
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		line := lr.line()
		rr = normalize(rr)
		if err := encodable(rr); err != nil {
			return nil, fmt.Errorf("%s:%d: %s cannot be encoded in wire format: %v", file, line, short(rr), err)
		}
		if err := recordRules(zd, rr, line, origin, file, fragment); err != nil {
			return nil, err
		}
		h := rr.Header()
		if len(recs) == 0 || h.Name != prevName {
			k := nameKey(h.Name, origin)
			if k == prevKey {
				k = prevKey
			}
			prevName, prevKey = h.Name, k
		}
		recs = append(recs, zrec{pfx: keyPrefix(prevKey), key: prevKey, t: h.Rrtype, line: int32(line), rr: rr})
	}
	if err := zp.Err(); err != nil {
		// A rule broken before the syntax error is what a reader of the
		// file meets first.
		if _, err := checkZone(recs, origin, file, false); err != nil {
			return nil, err
		}
		msg := err.Error()
		if !strings.Contains(msg, file) {
			msg = file + ": " + msg
		}
		return nil, fmt.Errorf("%s", msg)
	}
	return recs, nil
}

// zrec is one record of a zone file with its canonical key and line.
type zrec struct {
	pfx  uint64 // keyPrefix(key)
	key  string
	t    uint16
	line int32
	rr   dns.RR
}

func compareZrec(a, b zrec) int {
	if a.pfx != b.pfx {
		return cmp.Compare(a.pfx, b.pfx)
	}
	if c := strings.Compare(a.key, b.key); c != 0 {
		return c
	}
	if a.t != b.t {
		return cmp.Compare(a.t, b.t)
	}
	return cmp.Compare(a.line, b.line)
}

// zoneIssue is a broken rule or a warning, at the line where a reader of the
// file meets it.
type zoneIssue struct {
	line int32
	rank int // among issues at one line: the order the rules are checked in
	msg  string
}

// checkZone sorts the records into canonical order (by name, type, line)
// and checks the rules of a zone file: a duplicate record is dropped (its rr
// set to nil) with a warning, a record whose TTL differs from the first of
// its RRset takes that TTL with a warning (RFC 2181 §5.2), data occluded by
// a delegation is warned about; CNAME beside other data, more than one
// CNAME or DNAME at a name, and a CNAME at the apex are errors. With fix
// unset it only looks for errors. The error reported is the one met first
// reading the file; warnings come in file order.
func checkZone(recs []zrec, origin, file string, fix bool) ([]string, error) {
	if !slices.IsSortedFunc(recs, compareZrec) {
		slices.SortFunc(recs, compareZrec)
	}
	c := &zoneChecker{recs: recs, origin: origin, file: file, fix: fix}
	for i := 0; i < len(recs); {
		// One name: recs[i:j].
		j := i + 1
		for j < len(recs) && recs[j].key == recs[i].key {
			j++
		}
		c.checkName(i, j)
		i = j
	}
	return c.result()
}

// zoneChecker is the state of checkZone's pass over the sorted records.
type zoneChecker struct {
	recs         []zrec
	origin, file string
	fix          bool
	errs, warns  []zoneIssue
	cuts         []string // keys of the delegations above the current name
}

func (c *zoneChecker) at(line int32) string { return fmt.Sprintf("%s:%d", c.file, line) }

// typeEnd returns the end of the RRset starting at a among recs[:j].
func typeEnd(recs []zrec, a, j int) int {
	b := a + 1
	for b < j && recs[b].t == recs[a].t {
		b++
	}
	return b
}

// checkName checks the records of one name, recs[i:j].
func (c *zoneChecker) checkName(i, j int) {
	var cname, other, dname []int32 // lines of distinct CNAME, other, DNAME records
	for a := i; a < j; {
		b := typeEnd(c.recs, a, j)
		c.fixRRset(a, b)
		for x := a; x < b; x++ {
			if c.recs[x].rr == nil {
				continue
			}
			switch c.recs[x].t {
			case dns.TypeCNAME:
				cname = append(cname, c.recs[x].line)
			case dns.TypeDNAME:
				dname = append(dname, c.recs[x].line)
				other = append(other, c.recs[x].line)
			case dns.TypeRRSIG, dns.TypeNSEC:
			default:
				other = append(other, c.recs[x].line)
			}
		}
		a = b
	}
	c.nameRules(i, j, cname, other, dname)
	if c.fix {
		c.occlusion(i, j)
	}
}

// fixRRset drops the duplicates of one RRset, recs[a:b], and gives its
// records the TTL of the first (when fixing, with warnings).
func (c *zoneChecker) fixRRset(a, b int) {
	recs := c.recs
	first := a
	for x := a + 1; x < b; x++ {
		rr := recs[x].rr
		dup := false
		for y := a; y < x; y++ {
			if recs[y].rr != nil && dns.IsDuplicate(recs[y].rr, rr) {
				dup = true
				break
			}
		}
		if dup {
			if c.fix {
				c.warns = append(c.warns, zoneIssue{recs[x].line, 0, fmt.Sprintf("%s: duplicate record %s ignored", c.at(recs[x].line), short(rr))})
			}
			recs[x].rr = nil
			continue
		}
		if ttl := recs[first].rr.Header().Ttl; rr.Header().Ttl != ttl && c.fix {
			h := rr.Header()
			c.warns = append(c.warns, zoneIssue{recs[x].line, 0, fmt.Sprintf("%s: TTL %d differs from %d of the other %s records at %s; using %d (RFC 2181 §5.2)", c.at(recs[x].line), h.Ttl, ttl, dns.TypeToString[h.Rrtype], h.Name, ttl)})
			rr = dns.Copy(rr)
			rr.Header().Ttl = ttl
			recs[x].rr = rr
		}
	}
}

// nameRules checks the rules at one name, recs[i:j], each at the line where
// it is first broken.
func (c *zoneChecker) nameRules(i, j int, cname, other, dname []int32) {
	name := c.recs[i].rr.Header().Name
	if len(cname) > 0 {
		slices.Sort(cname)
		slices.Sort(other)
		if len(other) > 0 {
			line := max(cname[0], other[0])
			t := dns.TypeToString[typeAt(c.recs[i:j], other[0])]
			c.errs = append(c.errs, zoneIssue{line, 0, fmt.Sprintf("%s: CNAME and other data (%s) at %s (RFC 1034 §3.6.2)", c.at(line), t, name)})
		}
		if len(cname) > 1 {
			c.errs = append(c.errs, zoneIssue{cname[1], 1, fmt.Sprintf("%s: more than one CNAME record at %s", c.at(cname[1]), name)})
		}
		if name == c.origin {
			c.errs = append(c.errs, zoneIssue{cname[0], 2, fmt.Sprintf("%s: CNAME at the zone apex %s", c.at(cname[0]), name)})
		}
	}
	if len(dname) > 1 {
		slices.Sort(dname)
		c.errs = append(c.errs, zoneIssue{dname[1], 3, fmt.Sprintf("%s: more than one DNAME record at %s", c.at(dname[1]), name)})
	}
}

// occlusion warns about data below or at a delegation other than glue (RFC
// 2181 §6), for one name, recs[i:j].
func (c *zoneChecker) occlusion(i, j int) {
	recs := c.recs
	name := recs[i].rr.Header().Name
	k := recs[i].key
	for len(c.cuts) > 0 && !isBelowKey(k, c.cuts[len(c.cuts)-1]) {
		c.cuts = c.cuts[:len(c.cuts)-1]
	}
	below := ""
	if len(c.cuts) > 0 {
		below = c.cuts[len(c.cuts)-1]
	}
	isCut := k != "" && slices.ContainsFunc(recs[i:j], func(x zrec) bool { return x.t == dns.TypeNS })
	for a := i; a < j; {
		b := typeEnd(recs, a, j)
		line := recs[a].line
		for x := a; x < b; x++ {
			line = min(line, recs[x].line)
		}
		t := recs[a].t
		if below != "" && t != dns.TypeA && t != dns.TypeAAAA {
			c.warns = append(c.warns, zoneIssue{line, 1, fmt.Sprintf("%s: %s %s is below the delegation %s and is not served (occluded)", c.at(line), name, dns.TypeToString[t], cutName(name, k, below))})
		}
		if isCut && t != dns.TypeNS && t != dns.TypeDS && t != dns.TypeNSEC && t != dns.TypeRRSIG {
			c.warns = append(c.warns, zoneIssue{line, 1, fmt.Sprintf("%s: %s %s is at the delegation %s and is not served (occluded)", c.at(line), name, dns.TypeToString[t], name)})
		}
		a = b
	}
	if isCut {
		c.cuts = append(c.cuts, k)
	}
}

// result is the error met first reading the file, else the warnings:
// duplicates and TTL fixes first, in file order, then occlusion, in the
// order of the first record of each RRset.
func (c *zoneChecker) result() ([]string, error) {
	if len(c.errs) > 0 {
		e := slices.MinFunc(c.errs, func(a, b zoneIssue) int {
			if a.line != b.line {
				return cmp.Compare(a.line, b.line)
			}
			return cmp.Compare(a.rank, b.rank)
		})
		return nil, errors.New(e.msg)
	}
	slices.SortStableFunc(c.warns, func(a, b zoneIssue) int {
		if a.rank != b.rank {
			return cmp.Compare(a.rank, b.rank)
		}
		return cmp.Compare(a.line, b.line)
	})
	out := make([]string, len(c.warns))
	for i, w := range c.warns {
		out[i] = w.msg
	}
	return out, nil
}

// typeAt returns the type of the record at line among recs.
func typeAt(recs []zrec, line int32) uint16 {
	for _, x := range recs {
		if x.line == line {
			return x.t
		}
	}
	return 0
}

// cutName is the name of the delegation (key cut) above name (key k).
func cutName(name, k, cut string) string {
	for e := range keyLabelEnds(k) {
		if e > len(cut) {
			name = Parent(name)
		}
	}
	return name
}

func short(rr dns.RR) string {
	return strings.ReplaceAll(rr.String(), "\t", " ")
}

// SetInitialFile stages the content of a zone file as the source's initial
// content in the given views (nil: the source's views), like SetInitial with
// the file's records. When the zone's store already holds, in each of those
// views, the records of a file with the same digest (the file did not change
// since they were stored), the file is not parsed again: Open keeps the
// stored records, and the result says Unchanged. Errors are ReadZoneFile's.
func (s *Source) SetInitialFile(views []string, path string, fragment bool) (*ZoneData, error) {
	vs, err := s.views(views)
	if err != nil {
		return nil, err
	}
	if digest, err := fileDigest(path); err == nil && digest != nil && s.zone.storedDigests(s.Name, vs, digest) {
		if s.kept == nil {
			s.kept = map[string]bool{}
		}
		for _, v := range vs {
			s.kept[v.Name] = true
		}
		s.digest = digest
		return &ZoneData{Origin: s.zone.Origin, Digest: digest, Unchanged: true}, nil
	}
	zd, err := readZone(path, s.zone.Origin, fragment)
	if err != nil {
		return nil, err
	}
	for _, v := range vs {
		delete(s.kept, v.Name)
	}
	s.digest = zd.Digest
	return zd, s.SetInitial(views, zd.RRs)
}

// ReplaceZone is Replace with the records of a zone file read by
// ReadZoneFile: the store remembers the file's digest, so that the next
// start does not parse an unchanged file again.
func (s *Source) ReplaceZone(views []string, zd *ZoneData) error {
	return s.Update(views, func(tx *Tx) error {
		for _, v := range tx.views {
			tx.replaceView(v, s, zd.RRs)
		}
		tx.digests = map[srcID][]byte{s.id: zd.Digest}
		return nil
	})
}
