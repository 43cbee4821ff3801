package zonemodel

import (
	"bytes"
	"net"
	"strconv"
	"strings"

	"github.com/miekg/dns"
)

// fastRecords reads a zone file's records the way miekg/dns's ZoneParser
// does, several times faster, for the syntax most zone files use: one record
// per line (A, AAAA, MX, TXT, CNAME, NS, PTR; optional TTL and class IN;
// owners omitted, relative or "@"; comments; $TTL and $ORIGIN). A record it
// does not read itself (another type, parentheses, another form of rdata) is
// handed to a ZoneParser alone; for what it cannot hand over safely (escapes,
// $INCLUDE, $GENERATE, carriage returns, anything unusual) it gives up
// (ok false) and the caller parses the whole file with ZoneParser, which
// also reports any error with its line. What it returns is what ZoneParser
// returns (FuzzFastZone checks), records normalized (normalize: in wire
// form), each with the line it ends on; a record without a wire form sends
// the file to ZoneParser's path, which refuses it.
func fastRecords(data []byte, origin, file string, hint int) (recs []zrec, ok bool) {
	if bytes.IndexByte(data, '\\') >= 0 || bytes.IndexByte(data, '\r') >= 0 || bytes.IndexByte(data, 0) >= 0 {
		return nil, false
	}
	p := &fastParser{data: data, zone: origin, origin: origin, file: file, recs: make([]zrec, 0, hint)}
	if !p.run() {
		return nil, false
	}
	return p.recs, true
}

type fastParser struct {
	data   []byte
	zone   string // the zone's origin (keys are relative to it)
	origin string // current $ORIGIN
	file   string
	recs   []zrec
	keyOf  string // the owner the last key was made for, and the key
	key    string

	defTTL      uint32
	hasDef      bool
	byDirective bool

	owner     string // the last owner (absolute, lowercase)
	ownerTok  []byte // its token (a slice of data; nil: none)
	scratch   []byte
	delegated int
	names     [256]string // recent names: a target naming an owner shares its string
	line      int
	nl        bool // the current line ends with a newline
	toks      [][]byte
}

const (
	fastSentinel   = "sentinel.zonemodel.invalid. 0 IN A 192.0.2.0"
	fastSentinelRR = "sentinel.zonemodel.invalid.\t0\tIN\tA\t192.0.2.0"
)

func (p *fastParser) run() bool {
	data := p.data
	for off := 0; off < len(data); {
		p.line++
		end := bytes.IndexByte(data[off:], '\n')
		if end < 0 {
			end = len(data)
		} else {
			end += off
		}
		line := data[off:end]
		next := end + 1
		p.nl = end < len(data)
		content, hasParen, ok := stripComment(line)
		if !ok {
			return false
		}
		if !hasParen {
			if !p.record(line, content) {
				return false
			}
			off = next
			continue
		}
		// A record over several lines: up to the line that closes it.
		depth := parenDepth(content)
		for depth > 0 {
			if next >= len(data) {
				return false
			}
			p.line++
			e := bytes.IndexByte(data[next:], '\n')
			if e < 0 {
				e = len(data)
			} else {
				e += next
			}
			c, _, ok := stripComment(data[next:e])
			if !ok {
				return false
			}
			depth += parenDepth(c)
			end, next = e, e+1
			p.nl = e < len(data)
		}
		if depth < 0 || !p.delegate(line, data[off:end]) {
			return false
		}
		off = next
	}
	return true
}

// stripComment returns the line without its comment, whether it has a
// parenthesis outside quotes, and false for a quote left open or a long
// comment.
func stripComment(line []byte) ([]byte, bool, bool) {
	quote, paren := false, false
	for i, c := range line {
		switch c {
		case '"':
			quote = !quote
		case ';':
			if !quote {
				// ZoneParser fails on some long comments (its buffer);
				// leave those to it.
				return line[:i], paren, len(line)-i < 256
			}
		case '(', ')':
			if !quote {
				paren = true
			}
		}
	}
	return line, paren, !quote
}

// parenDepth is the change of parenthesis depth over a line (no comment).
func parenDepth(line []byte) int {
	d, quote := 0, false
	for _, c := range line {
		switch c {
		case '"':
			quote = !quote
		case '(':
			if !quote {
				d++
			}
		case ')':
			if !quote {
				d--
			}
		}
	}
	return d
}

// tokens splits a line (no comment) at blanks; a token starting with a
// quote runs to the next quote (included). ok is false for a quote that is
// not a whole token.
func (p *fastParser) tokens(line []byte) ([][]byte, bool) {
	toks := p.toks[:0]
	for i := 0; i < len(line); {
		c := line[i]
		if c == ' ' || c == '\t' {
			i++
			continue
		}
		j := i
		if c == '"' {
			k := bytes.IndexByte(line[i+1:], '"')
			if k < 0 {
				return nil, false
			}
			j = i + 1 + k + 1
			if j < len(line) && line[j] != ' ' && line[j] != '\t' {
				return nil, false
			}
		} else {
			for j < len(line) && line[j] != ' ' && line[j] != '\t' {
				if line[j] == '"' {
					return nil, false
				}
				j++
			}
		}
		toks = append(toks, line[i:j])
		i = j
	}
	p.toks = toks
	return toks, true
}

func isDigits(b []byte) bool {
	if len(b) == 0 || len(b) > 10 {
		return false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func parseTTL(b []byte) (uint32, bool) {
	if !isDigits(b) {
		return 0, false
	}
	v, err := strconv.ParseUint(string(b), 10, 32)
	return uint32(v), err == nil
}

// absolute is ZoneParser's toAbsoluteName.
func (p *fastParser) absolute(tok []byte) (string, bool) {
	return p.absoluteName(tok, false)
}

// absoluteLower is absolute, lowercased (an owner name, as normalize makes
// it).
func (p *fastParser) absoluteLower(tok []byte) (string, bool) {
	return p.absoluteName(tok, true)
}

func (p *fastParser) absoluteName(tok []byte, low bool) (string, bool) {
	if len(tok) == 1 && tok[0] == '@' {
		if low {
			return p.intern(canonicalName(p.origin)), true
		}
		return p.origin, true
	}
	if bytes.IndexByte(tok, '"') >= 0 {
		return "", false // a quoted string: ZoneParser reads no name there
	}
	if _, ok := dns.IsDomainName(unsafeString(tok)); !ok {
		return "", false
	}
	b := append(p.scratch[:0], tok...)
	if tok[len(tok)-1] != '.' {
		if p.origin != "." {
			b = append(b, '.')
		}
		b = append(b, p.origin...)
	}
	if low {
		for i, c := range b {
			b[i] = toLowerByte(c)
		}
	}
	p.scratch = b
	return p.internBytes(b), true
}

// intern returns a recent equal name's string instead of name: the targets
// of MX, CNAME and NS records are often the names of nearby records, and a
// zone of a million records keeps them all.
func (p *fastParser) intern(name string) string {
	slot := &p.names[nameHash(name)&255]
	if *slot == name {
		return *slot
	}
	*slot = name
	return name
}

// internBytes is intern of a name being built (copied only when new).
func (p *fastParser) internBytes(b []byte) string {
	slot := &p.names[nameHash(unsafeString(b))&255]
	if *slot == string(b) {
		return *slot
	}
	*slot = string(b)
	return *slot
}

func nameHash(s string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h = (h ^ uint32(s[i])) * 16777619
	}
	return h
}

// header reads the owner, TTL and class of a record line: the rest of the
// tokens start with the type. ok false: give up on the file.
func (p *fastParser) header(line []byte, toks [][]byte) (h dns.RR_Header, rest [][]byte, explicitTTL bool, ok bool) {
	if line[0] != ' ' && line[0] != '\t' {
		if len(toks[0]) > 0 && toks[0][0] == '"' {
			return h, nil, false, false
		}
		if p.ownerTok == nil || !bytes.Equal(toks[0], p.ownerTok) {
			name, ok := p.absoluteLower(toks[0])
			if !ok {
				return h, nil, false, false
			}
			p.ownerTok, p.owner = toks[0], name
		}
		toks = toks[1:]
	} else if p.owner == "" {
		return h, nil, false, false
	}
	h = dns.RR_Header{Name: p.owner, Class: dns.ClassINET, Ttl: p.defTTL}
	class := false
	for len(toks) > 0 {
		t := toks[0]
		if ttl, ok := parseTTL(t); ok && !explicitTTL {
			h.Ttl, explicitTTL = ttl, true
		} else if len(t) == 2 && (t[0] == 'I' || t[0] == 'i') && (t[1] == 'N' || t[1] == 'n') && !class {
			class = true
		} else {
			break
		}
		toks = toks[1:]
	}
	if len(toks) == 0 || (!explicitTTL && !p.hasDef) {
		return h, nil, false, false
	}
	if explicitTTL && !p.byDirective {
		p.defTTL, p.hasDef = h.Ttl, true
	}
	return h, toks, explicitTTL, true
}

// record reads one line.
func (p *fastParser) record(line, content []byte) bool {
	toks, ok := p.tokens(content)
	if !ok {
		return false
	}
	if len(toks) == 0 {
		return true
	}
	if toks[0][0] == '$' && line[0] == '$' {
		return p.directive(toks)
	}
	saved := p.state()
	h, rest, _, ok := p.header(line, toks)
	if !ok {
		return false
	}
	typ := fastType(rest[0])
	rdata := rest[1:]
	var rr dns.RR
	switch typ {
	case "A":
		if len(rdata) == 1 {
			if ip := parseIPv4(rdata[0]); ip != nil {
				h.Rrtype = dns.TypeA
				rr = &dns.A{Hdr: h, A: ip}
			}
		}
	case "AAAA":
		if len(rdata) == 1 && bytes.IndexByte(rdata[0], ':') >= 0 {
			if ip := net.ParseIP(string(rdata[0])); ip != nil {
				h.Rrtype = dns.TypeAAAA
				rr = &dns.AAAA{Hdr: h, AAAA: ip}
			}
		}
	case "MX":
		if len(rdata) == 2 && isDigits(rdata[0]) {
			if pref, err := strconv.ParseUint(string(rdata[0]), 10, 16); err == nil {
				if name, ok := p.absolute(rdata[1]); ok {
					h.Rrtype = dns.TypeMX
					rr = &dns.MX{Hdr: h, Preference: uint16(pref), Mx: name}
				}
			}
		}
	case "CNAME", "NS", "PTR":
		if len(rdata) == 1 {
			if name, ok := p.absolute(rdata[0]); ok {
				switch typ {
				case "CNAME":
					h.Rrtype = dns.TypeCNAME
					rr = &dns.CNAME{Hdr: h, Target: name}
				case "NS":
					h.Rrtype = dns.TypeNS
					rr = &dns.NS{Hdr: h, Ns: name}
				default:
					h.Rrtype = dns.TypePTR
					rr = &dns.PTR{Hdr: h, Ptr: name}
				}
			}
		}
	case "TXT":
		if txt, ok := txtStrings(rdata); ok {
			h.Rrtype = dns.TypeTXT
			rr = &dns.TXT{Hdr: h, Txt: txt}
		}
	}
	if rr == nil {
		// Not read here: the record alone through ZoneParser.
		p.restore(saved)
		return p.delegate(line, line)
	}
	p.add(normalize(rr))
	return true
}

// txtStrings reads TXT rdata: quoted strings (no longer than 255 octets;
// longer ones are split by ZoneParser) and unquoted words.
func txtStrings(toks [][]byte) ([]string, bool) {
	if len(toks) == 0 {
		return nil, false
	}
	out := make([]string, len(toks))
	size := 0
	for i, t := range toks {
		if size += 1 + len(t); size > 65000 {
			return nil, false // no wire form: ZoneParser's path says so with the line
		}
		if t[0] == '"' {
			t = t[1 : len(t)-1]
		}
		if len(t) > 255 || bytes.ContainsAny(t, "()") {
			return nil, false
		}
		out[i] = string(t)
	}
	return out, true
}

// parseIPv4 reads a dotted quad as net.ParseIP accepts it (no leading zeros),
// as a 4-octet address.
func parseIPv4(b []byte) net.IP {
	var ip [4]byte
	n := 0
	for part := 0; part < 4; part++ {
		if part > 0 {
			if n >= len(b) || b[n] != '.' {
				return nil
			}
			n++
		}
		v, digits := 0, 0
		for n < len(b) && b[n] >= '0' && b[n] <= '9' {
			if digits > 0 && v == 0 {
				return nil // leading zero
			}
			v = v*10 + int(b[n]-'0')
			digits++
			n++
			if v > 255 {
				return nil
			}
		}
		if digits == 0 {
			return nil
		}
		ip[part] = byte(v)
	}
	if n != len(b) {
		return nil
	}
	return net.IP{ip[0], ip[1], ip[2], ip[3]}
}

func (p *fastParser) directive(toks [][]byte) bool {
	if len(toks) != 2 {
		return false
	}
	switch strings.ToUpper(string(toks[0])) {
	case "$TTL":
		ttl, ok := parseTTL(toks[1])
		if !ok {
			return false
		}
		p.defTTL, p.hasDef, p.byDirective = ttl, true, true
		return true
	case "$ORIGIN":
		if typeOrClass(toks[1]) {
			return false // ZoneParser's lexer reads it as a type or class: an error
		}
		name, ok := p.absolute(toks[1])
		if !ok {
			return false
		}
		p.origin = name
		p.ownerTok = nil // relative owners now mean other names
		return true
	}
	return false // $INCLUDE, $GENERATE: ZoneParser's
}

type fastState struct {
	defTTL   uint32
	hasDef   bool
	owner    string
	ownerTok []byte
}

func (p *fastParser) state() fastState {
	return fastState{p.defTTL, p.hasDef, p.owner, p.ownerTok}
}

func (p *fastParser) restore(s fastState) {
	p.defTTL, p.hasDef, p.owner, p.ownerTok = s.defTTL, s.hasDef, s.owner, s.ownerTok
}

// delegate parses one record (first line, whole text) with ZoneParser in
// the parser's current state: origin, default TTL, previous owner.
func (p *fastParser) delegate(first, text []byte) bool {
	p.delegated++
	if p.delegated > 1000 && p.delegated*8 > len(p.recs) {
		return false // mostly records this parser does not read: ZoneParser's job
	}
	// Owner, TTL and class come before the rdata on the first line.
	head := first
	if i := bytes.IndexByte(head, '('); i >= 0 {
		head = head[:i]
	}
	head, _, _ = stripComment(head)
	toks, ok := p.tokens(head)
	if !ok || len(toks) == 0 {
		return false
	}
	omitted := first[0] == ' ' || first[0] == '\t'
	if omitted && p.owner == "" {
		return false
	}
	rr, ok := p.parseAlone(text, omitted)
	if !ok {
		return false
	}
	if emptyRdata(rr) {
		// No rdata (an UPDATE's form): ZoneParser reads what follows it in
		// ways a record alone does not show.
		return false
	}
	// The owner and the default TTL move on as in ZoneParser.
	if !omitted {
		if toks[0][0] == '"' {
			return false
		}
		p.ownerTok, p.owner = toks[0], p.intern(canonicalName(rr.Header().Name))
		toks = toks[1:]
	}
	explicit := explicitTTL(toks)
	if explicit && !p.byDirective {
		p.defTTL, p.hasDef = rr.Header().Ttl, true
	} else if !explicit && !p.hasDef {
		return false
	}
	rr = normalize(rr)
	if encodable(rr) != nil {
		return false // ZoneParser's path refuses it with its line
	}
	p.add(rr)
	return true
}

// parseAlone parses one record's text with ZoneParser, alone (after the
// default TTL, and the owner when omitted); ok only when it reads exactly
// that record.
func (p *fastParser) parseAlone(text []byte, omitted bool) (dns.RR, bool) {
	var b strings.Builder
	if p.hasDef {
		b.WriteString("$TTL " + strconv.FormatUint(uint64(p.defTTL), 10) + "\n")
	}
	if omitted {
		b.WriteString(p.owner)
	}
	b.Write(text)
	if p.nl {
		// The record's newline (the last line of a file may have none,
		// which ZoneParser reads otherwise), and a line after it: a record
		// whose parsing reads past its line (an incomplete one) does not
		// give it back unchanged, and the file goes to ZoneParser whole.
		b.WriteString("\n" + fastSentinel + "\n")
	}
	zp := dns.NewZoneParser(strings.NewReader(b.String()), p.origin, p.file)
	rr, ok := zp.Next()
	if !ok || zp.Err() != nil {
		return nil, false
	}
	if p.nl {
		s, ok := zp.Next()
		if !ok || zp.Err() != nil || s.String() != fastSentinelRR {
			return nil, false
		}
	}
	if _, more := zp.Next(); more || zp.Err() != nil {
		return nil, false
	}
	return rr, true
}

// explicitTTL reports whether the tokens before the type hold a TTL: before
// the type come the class and the TTL, and a token that is neither a type
// nor a class is the TTL.
func explicitTTL(toks [][]byte) bool {
	explicit := false
	for _, t := range toks {
		u := strings.ToUpper(string(t))
		if _, ok := dns.StringToType[u]; ok || strings.HasPrefix(u, "TYPE") {
			break
		}
		if _, ok := dns.StringToClass[u]; !ok && !strings.HasPrefix(u, "CLASS") {
			explicit = true
		}
	}
	return explicit
}

func (p *fastParser) add(rr dns.RR) {
	name := rr.Header().Name
	if name != p.keyOf || p.keyOf == "" {
		p.keyOf, p.key = name, ""
		if InZone(name, p.zone) {
			p.key = nameKey(name, p.zone)
		}
	}
	p.recs = append(p.recs, zrec{pfx: keyPrefix(p.key), key: p.key, t: rr.Header().Rrtype, line: int32(p.line), rr: rr})
}

// emptyRdata reports whether rr is its type's zero value but for the header.
func emptyRdata(rr dns.RR) bool {
	var z dns.RR = &dns.RFC3597{}
	if fn, ok := dns.TypeToRR[rr.Header().Rrtype]; ok {
		z = fn()
	}
	*z.Header() = *rr.Header()
	return z.String() == rr.String()
}

// typeOrClass reports whether ZoneParser's lexer reads a token as an RR type
// or a class.
func typeOrClass(t []byte) bool {
	u := strings.ToUpper(string(t))
	_, typ := dns.StringToType[u]
	_, class := dns.StringToClass[u]
	return typ || class || strings.HasPrefix(u, "TYPE") || strings.HasPrefix(u, "CLASS")
}

// fastType returns the type a token names among those read here (any case),
// or "".
func fastType(t []byte) string {
	for _, name := range [...]string{"A", "AAAA", "MX", "TXT", "CNAME", "NS", "PTR"} {
		if bytes.EqualFold(t, []byte(name)) {
			return name
		}
	}
	return ""
}
