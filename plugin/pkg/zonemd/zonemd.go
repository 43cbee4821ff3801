// Package zonemd computes and verifies RFC 8976 zone digests (ZONEMD) with
// the SIMPLE scheme: a hash over every RRset of a zone in canonical form and
// canonical order, the apex ZONEMD RRset and its signatures excluded.
//
// It knows nothing of dnspki's zone model: the model feeds it its RRsets in
// canonical order (Digester), a transfer or a zone file feeds it an
// unordered list of records (Compute, Verify).
package zonemd

import (
	"bytes"
	"crypto/sha512"
	"errors"
	"fmt"
	"hash"
	"slices"
	"sort"
	"strings"

	"github.com/miekg/dns"
)

// Scheme and hash algorithms of RFC 8976 §5.2, §5.3.
const (
	SchemeSimple uint8 = 1
	HashSHA384   uint8 = 1
	HashSHA512   uint8 = 2
)

// MinDigestLen is the shortest digest a ZONEMD record may carry (RFC 8976
// §2.2.4); a shorter one makes the record invalid.
const MinDigestLen = 12

// HashName is the presentation name of a supported hash algorithm.
func HashName(alg uint8) string {
	switch alg {
	case HashSHA384:
		return "SHA384"
	case HashSHA512:
		return "SHA512"
	}
	return fmt.Sprintf("hash %d", alg)
}

// ParseHash reads a hash algorithm name (sha384, sha512, or its number).
func ParseHash(s string) (uint8, error) {
	switch strings.ToLower(s) {
	case "sha384", "1":
		return HashSHA384, nil
	case "sha512", "2":
		return HashSHA512, nil
	}
	return 0, fmt.Errorf("ZONEMD hash algorithm %q: want sha384 or sha512", s)
}

func newHash(alg uint8) (hash.Hash, error) {
	switch alg {
	case HashSHA384:
		return sha512.New384(), nil
	case HashSHA512:
		return sha512.New(), nil
	}
	return nil, fmt.Errorf("unsupported ZONEMD hash algorithm %d", alg)
}

// Digester computes a SIMPLE digest from RRsets given in canonical order
// (RFC 4034 §6.1 by owner, then by type).
type Digester struct {
	origin string
	h      hash.Hash
	buf    []byte
	wires  [][]byte
}

// NewDigester starts a digest of the zone origin with hash algorithm alg.
func NewDigester(origin string, alg uint8) (*Digester, error) {
	h, err := newHash(alg)
	if err != nil {
		return nil, err
	}
	return &Digester{origin: dns.CanonicalName(origin), h: h}, nil
}

// Excluded reports whether an RRset at owner of type t (covering covered,
// for RRSIG) is left out of the digest: the apex ZONEMD RRset and the
// signatures covering it (RFC 8976 §3.3.1).
func Excluded(origin, owner string, t, covered uint16) bool {
	if t != dns.TypeZONEMD && !(t == dns.TypeRRSIG && covered == dns.TypeZONEMD) {
		return false
	}
	return strings.EqualFold(dns.Fqdn(owner), dns.Fqdn(origin))
}

// AddRRset adds one RRset (one owner, type and class). An RRSIG set may
// cover several types: the signatures over the apex ZONEMD are skipped, as
// is the apex ZONEMD set.
func (d *Digester) AddRRset(rrs []dns.RR) error {
	if len(rrs) == 0 {
		return nil
	}
	h := rrs[0].Header()
	if Excluded(d.origin, h.Name, h.Rrtype, 0) {
		return nil
	}
	var err error
	d.buf, err = appendSet(d.buf[:0], &d.wires, rrs, d.origin)
	if err != nil {
		return err
	}
	d.h.Write(d.buf)
	return nil
}

// Write adds the output of AppendRRset for one RRset (computed earlier,
// e.g. cached with the set). The caller leaves out what Excluded names.
func (d *Digester) Write(canonical []byte) { d.h.Write(canonical) }

// AppendRRset appends an RRset in the form the digest hashes: each record
// in canonical form, in canonical order, duplicates once.
func AppendRRset(buf []byte, rrs []dns.RR) ([]byte, error) {
	var wires [][]byte
	return appendSet(buf, &wires, rrs, "")
}

// appendSet appends the canonical records of one RRset, sorted and without
// duplicates; with origin set, signatures covering the apex ZONEMD are left
// out. wires is scratch space.
func appendSet(buf []byte, wires *[][]byte, rrs []dns.RR, origin string) ([]byte, error) {
	h := rrs[0].Header()
	var scratch []byte
	*wires = (*wires)[:0]
	for _, rr := range rrs {
		if sig, ok := rr.(*dns.RRSIG); ok && origin != "" && Excluded(origin, h.Name, dns.TypeRRSIG, sig.TypeCovered) {
			continue
		}
		start := len(scratch)
		var err error
		scratch, err = appendCanonical(scratch, rr)
		if err != nil {
			return buf, fmt.Errorf("%s/%s: %w", h.Name, dns.TypeToString[h.Rrtype], err)
		}
		*wires = append(*wires, scratch[start:len(scratch):len(scratch)])
	}
	ws := *wires
	// RFC 4034 §6.3: by RDATA (after the fixed header of owner, type,
	// class, TTL, RDLENGTH, which all members share but the TTL).
	// Equal RDATA (duplicates) with different TTLs, which an RRset should
	// not have (RFC 2181 §5.2): the whole record decides which is kept, so
	// that the digest does not depend on the order records came in.
	sort.Slice(ws, func(i, j int) bool {
		if c := bytes.Compare(rdata(ws[i]), rdata(ws[j])); c != 0 {
			return c < 0
		}
		return bytes.Compare(ws[i], ws[j]) < 0
	})
	for i, w := range ws {
		if i > 0 && bytes.Equal(rdata(w), rdata(ws[i-1])) {
			continue // duplicates are digested once
		}
		buf = append(buf, w...)
	}
	return buf, nil
}

// rdata is the RDATA of one canonical wire record: after the owner name
// and the 10 octets of type, class, TTL and RDLENGTH.
func rdata(w []byte) []byte {
	off := 0
	for off < len(w) && w[off] != 0 {
		off += int(w[off]) + 1
	}
	off += 1 + 10
	if off > len(w) {
		return nil
	}
	return w[off:]
}

// Sum returns the digest.
func (d *Digester) Sum() []byte { return d.h.Sum(nil) }

// appendCanonical appends rr in RFC 4034 §6.2 canonical wire form: owner
// and the domain names in the RDATA of the types that list them in
// lowercase (RFC 6840 §5.1: not HINFO), no compression.
func appendCanonical(buf []byte, rr dns.RR) ([]byte, error) {
	rr = dns.Copy(rr)
	h := rr.Header()
	h.Name = dns.CanonicalName(h.Name)
	switch x := rr.(type) {
	case *dns.NS:
		x.Ns = dns.CanonicalName(x.Ns)
	case *dns.MD:
		x.Md = dns.CanonicalName(x.Md)
	case *dns.MF:
		x.Mf = dns.CanonicalName(x.Mf)
	case *dns.CNAME:
		x.Target = dns.CanonicalName(x.Target)
	case *dns.SOA:
		x.Ns = dns.CanonicalName(x.Ns)
		x.Mbox = dns.CanonicalName(x.Mbox)
	case *dns.MB:
		x.Mb = dns.CanonicalName(x.Mb)
	case *dns.MG:
		x.Mg = dns.CanonicalName(x.Mg)
	case *dns.MR:
		x.Mr = dns.CanonicalName(x.Mr)
	case *dns.PTR:
		x.Ptr = dns.CanonicalName(x.Ptr)
	case *dns.MINFO:
		x.Rmail = dns.CanonicalName(x.Rmail)
		x.Email = dns.CanonicalName(x.Email)
	case *dns.MX:
		x.Mx = dns.CanonicalName(x.Mx)
	case *dns.RP:
		x.Mbox = dns.CanonicalName(x.Mbox)
		x.Txt = dns.CanonicalName(x.Txt)
	case *dns.AFSDB:
		x.Hostname = dns.CanonicalName(x.Hostname)
	case *dns.RT:
		x.Host = dns.CanonicalName(x.Host)
	case *dns.SIG:
		x.SignerName = dns.CanonicalName(x.SignerName)
	case *dns.PX:
		x.Map822 = dns.CanonicalName(x.Map822)
		x.Mapx400 = dns.CanonicalName(x.Mapx400)
	case *dns.NAPTR:
		x.Replacement = dns.CanonicalName(x.Replacement)
	case *dns.KX:
		x.Exchanger = dns.CanonicalName(x.Exchanger)
	case *dns.SRV:
		x.Target = dns.CanonicalName(x.Target)
	case *dns.DNAME:
		x.Target = dns.CanonicalName(x.Target)
	case *dns.RRSIG:
		x.SignerName = dns.CanonicalName(x.SignerName)
	}
	start := len(buf)
	buf = slices.Grow(buf, dns.Len(rr)+16)
	buf = buf[:cap(buf)]
	off, err := dns.PackRR(rr, buf, start, nil, false)
	if err != nil {
		return buf[:start], err
	}
	return buf[:off], nil
}

// Record builds the apex ZONEMD record of a digest.
func Record(origin string, ttl, serial uint32, alg uint8, digest []byte) *dns.ZONEMD {
	return &dns.ZONEMD{
		Hdr:    dns.RR_Header{Name: dns.CanonicalName(origin), Rrtype: dns.TypeZONEMD, Class: dns.ClassINET, Ttl: ttl},
		Serial: serial, Scheme: SchemeSimple, Hash: alg,
		Digest: fmt.Sprintf("%x", digest),
	}
}

// Compute digests an unordered list of records (a zone file, a transfer):
// records outside the zone are left out (RFC 8976 §3.3.1), the rest grouped
// into RRsets and put in canonical order.
func Compute(origin string, rrs []dns.RR, alg uint8) ([]byte, error) {
	d, err := NewDigester(origin, alg)
	if err != nil {
		return nil, err
	}
	for _, set := range canonicalSets(origin, rrs) {
		if err := d.AddRRset(set); err != nil {
			return nil, err
		}
	}
	return d.Sum(), nil
}

type setKey struct {
	owner string // canonical (lowercase) owner
	t     uint16
}

// canonicalSets groups the in-zone records into RRsets in canonical order.
func canonicalSets(origin string, rrs []dns.RR) [][]dns.RR {
	origin = dns.CanonicalName(origin)
	sets := map[setKey][]dns.RR{}
	labels := map[string][][]byte{}
	for _, rr := range rrs {
		h := rr.Header()
		owner := dns.CanonicalName(h.Name)
		if !dns.IsSubDomain(origin, owner) || h.Class != dns.ClassINET {
			continue
		}
		k := setKey{owner, h.Rrtype}
		sets[k] = append(sets[k], rr)
		if labels[owner] == nil {
			labels[owner] = wireLabels(owner)
		}
	}
	keys := make([]setKey, 0, len(sets))
	for k := range sets {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if c := CompareNames(labels[keys[i].owner], labels[keys[j].owner]); c != 0 {
			return c < 0
		}
		return keys[i].t < keys[j].t
	})
	out := make([][]dns.RR, len(keys))
	for i, k := range keys {
		out[i] = sets[k]
	}
	return out
}

// wireLabels returns a name's labels as octets, lowercase, leftmost first.
func wireLabels(name string) [][]byte {
	buf := make([]byte, 256)
	n, err := dns.PackDomainName(name, buf, 0, nil, false)
	if err != nil {
		return [][]byte{[]byte(name)}
	}
	var out [][]byte
	for off := 0; off < n && buf[off] != 0; off += int(buf[off]) + 1 {
		out = append(out, bytes.ToLower(buf[off+1:off+1+int(buf[off])]))
	}
	return out
}

// CompareNames orders two names given as lowercase labels (leftmost first)
// in RFC 4034 §6.1 canonical order.
func CompareNames(a, b [][]byte) int {
	for i, j := len(a)-1, len(b)-1; i >= 0 && j >= 0; i, j = i-1, j-1 {
		if c := bytes.Compare(a[i], b[j]); c != 0 {
			return c
		}
	}
	return len(a) - len(b)
}

// Verification outcomes.
var (
	// ErrNoZONEMD: the zone has no ZONEMD at its apex (nothing to verify).
	ErrNoZONEMD = errors.New("no ZONEMD record at the apex")
	// ErrUnsupported: none of the apex ZONEMD records has a scheme and hash
	// this verifier supports; RFC 8976 §4 treats the zone as unverifiable,
	// not as failed.
	ErrUnsupported = errors.New("no apex ZONEMD record with a supported scheme and hash algorithm")
)

// Mismatch is a failed verification: the zone must not be used.
type Mismatch struct{ Reason string }

func (m *Mismatch) Error() string { return "ZONEMD verification failed: " + m.Reason }

// Verify checks the apex ZONEMD records of a complete zone (RFC 8976 §4):
// nil when one supported record's serial equals the SOA serial and its
// digest matches; ErrNoZONEMD or ErrUnsupported when there is nothing this
// verifier can check (the zone is usable); a *Mismatch otherwise.
func Verify(origin string, rrs []dns.RR) error {
	origin = dns.CanonicalName(origin)
	var soa *dns.SOA
	var mds []*dns.ZONEMD
	for _, rr := range rrs {
		if !strings.EqualFold(rr.Header().Name, origin) {
			continue
		}
		switch x := rr.(type) {
		case *dns.SOA:
			soa = x
		case *dns.ZONEMD:
			mds = append(mds, x)
		}
	}
	if len(mds) == 0 {
		return ErrNoZONEMD
	}
	if soa == nil {
		return &Mismatch{Reason: "the zone has no SOA record"}
	}
	seen := map[[2]uint8]bool{}
	var supported []*dns.ZONEMD
	for _, md := range mds {
		k := [2]uint8{md.Scheme, md.Hash}
		if seen[k] {
			return &Mismatch{Reason: fmt.Sprintf("two apex ZONEMD records with scheme %d and hash %d (RFC 8976 §2.4)", md.Scheme, md.Hash)}
		}
		seen[k] = true
		if md.Scheme == SchemeSimple && (md.Hash == HashSHA384 || md.Hash == HashSHA512) {
			supported = append(supported, md)
		}
	}
	if len(supported) == 0 {
		return ErrUnsupported
	}
	var reasons []string
	for _, md := range supported {
		if md.Serial != soa.Serial {
			reasons = append(reasons, fmt.Sprintf("ZONEMD %s has serial %d, the SOA %d", HashName(md.Hash), md.Serial, soa.Serial))
			continue
		}
		got, err := Compute(origin, rrs, md.Hash)
		if err != nil {
			return &Mismatch{Reason: err.Error()}
		}
		if strings.EqualFold(fmt.Sprintf("%x", got), md.Digest) {
			return nil
		}
		reasons = append(reasons, fmt.Sprintf("%s digest %s, computed %x", HashName(md.Hash), abbrev(md.Digest), got[:8]))
	}
	return &Mismatch{Reason: strings.Join(reasons, "; ")}
}

func abbrev(hexDigest string) string {
	if len(hexDigest) > 16 {
		return strings.ToLower(hexDigest[:16]) + "..."
	}
	return strings.ToLower(hexDigest)
}
