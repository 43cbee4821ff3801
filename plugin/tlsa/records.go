package tlsa

import (
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"github.com/miekg/dns"
)

// Form is a TLSA record form: certificate usage, selector and matching type
// (RFC 6698 §2.1, mnemonics of RFC 7218).
type Form struct {
	Usage, Selector, MatchingType uint8
}

// DefaultForm is 3 1 1: DANE-EE, SubjectPublicKeyInfo, SHA2-256, the form
// RFC 7671 §5.1 and RFC 7672 §3.1.1 recommend.
var DefaultForm = Form{3, 1, 1}

func (f Form) String() string { return fmt.Sprintf("%d %d %d", f.Usage, f.Selector, f.MatchingType) }

var (
	usageNames    = map[string]uint8{"DANE-TA": 2, "DANE-EE": 3}
	selectorNames = map[string]uint8{"CERT": 0, "SPKI": 1}
	mtypeNames    = map[string]uint8{"SHA2-256": 1, "SHA2-512": 2}
)

// ParseForm reads a form from three fields, numbers or RFC 7218 mnemonics
// ("3 1 1", "DANE-EE SPKI SHA2-256"). Usages 0 and 1 (PKIX-TA, PKIX-EE) are
// refused: SMTP clients ignore them (RFC 7672 §3.1.3) and they need a public
// CA anyway; matching type 0 (the full data) is refused (RFC 7671 §10.1.2:
// use a digest).
func ParseForm(fields []string) (Form, error) {
	if len(fields) != 3 {
		return Form{}, fmt.Errorf("a form is USAGE SELECTOR MATCHING-TYPE, e.g. 3 1 1; got %q", strings.Join(fields, " "))
	}
	num := func(s string, names map[string]uint8, max uint8, what string) (uint8, error) {
		if v, ok := names[strings.ToUpper(s)]; ok {
			return v, nil
		}
		n, err := strconv.ParseUint(s, 10, 8)
		if err != nil || uint8(n) > max {
			return 0, fmt.Errorf("%s %q", what, s)
		}
		return uint8(n), nil
	}
	u, err := num(fields[0], usageNames, 3, "certificate usage")
	if err != nil {
		return Form{}, err
	}
	s, err := num(fields[1], selectorNames, 1, "selector")
	if err != nil {
		return Form{}, err
	}
	m, err := num(fields[2], mtypeNames, 2, "matching type")
	if err != nil {
		return Form{}, err
	}
	if u < 2 {
		return Form{}, fmt.Errorf("certificate usage %d (PKIX-%s) is not supported: use 3 (DANE-EE) or 2 (DANE-TA); SMTP clients ignore usages 0 and 1 (RFC 7672 §3.1.3)", u, map[uint8]string{0: "TA", 1: "EE"}[u])
	}
	if m == 0 {
		return Form{}, fmt.Errorf("matching type 0 (full data) is not supported: use 1 (SHA2-256) or 2 (SHA2-512)")
	}
	return Form{u, s, m}, nil
}

// rdata is the data of one TLSA record (without owner and TTL).
type rdata struct {
	U, S, M uint8
	Data    string // lowercase hex
}

func (r rdata) String() string { return fmt.Sprintf("%d %d %d %s", r.U, r.S, r.M, r.Data) }

// RR returns the record at owner with the TTL.
func (r rdata) RR(owner string, ttl uint32) *dns.TLSA {
	return &dns.TLSA{
		Hdr:   dns.RR_Header{Name: owner, Rrtype: dns.TypeTLSA, Class: dns.ClassINET, Ttl: ttl},
		Usage: r.U, Selector: r.S, MatchingType: r.M, Certificate: r.Data,
	}
}

func digest(m uint8, data []byte) string {
	switch m {
	case 1:
		s := sha256.Sum256(data)
		return hex.EncodeToString(s[:])
	case 2:
		s := sha512.Sum512(data)
		return hex.EncodeToString(s[:])
	}
	return hex.EncodeToString(data)
}

// currentRecords are the records of the forms for a certificate chain. A
// DANE-TA form needs the leaf's issuer in the chain; when it is missing,
// noIssuer is true and that form gives no record.
func currentRecords(m Material, forms []Form) (out []rdata, noIssuer bool) {
	leaf := m.Leaf()
	if leaf == nil {
		return nextRecords(m, forms), false
	}
	issuer := issuerOf(m.Chain)
	for _, f := range forms {
		c := leaf
		if f.Usage == 2 {
			if issuer == nil {
				noIssuer = true
				continue
			}
			c = issuer
		}
		data := c.Raw
		if f.Selector == 1 {
			data = c.RawSubjectPublicKeyInfo
		}
		out = appendUnique(out, rdata{f.Usage, f.Selector, f.MatchingType, digest(f.MatchingType, data)})
	}
	return out, noIssuer
}

// nextRecords are the records that announce material before it is used
// (RFC 7671 §8.1): a staged chain gets every form; a bare key gets 3 1 m for
// every matching type m of the DANE-EE forms (the other forms cannot be made
// from a key, and the DANE-TA ones do not change with the key).
func nextRecords(m Material, forms []Form) []rdata {
	if !m.IsKey() {
		out, _ := currentRecords(m, forms)
		return out
	}
	var out []rdata
	for _, f := range forms {
		if f.Usage == 3 {
			out = appendUnique(out, rdata{3, 1, f.MatchingType, digest(f.MatchingType, m.SPKI)})
		}
	}
	return out
}

func appendUnique(l []rdata, r rdata) []rdata {
	for _, x := range l {
		if x == r {
			return l
		}
	}
	return append(l, r)
}

// matches reports whether a TLSA record matches the material: a DANE-EE
// record its leaf (or bare key), a DANE-TA record a CA certificate of its
// chain.
func matches(m Material, r rdata) bool {
	if r.U == 3 {
		if r.S == 1 {
			return digest(r.M, m.SPKI) == r.Data
		}
		if leaf := m.Leaf(); leaf != nil {
			return digest(r.M, leaf.Raw) == r.Data
		}
		return false
	}
	if r.U == 2 && len(m.Chain) > 1 {
		for _, c := range m.Chain[1:] {
			data := c.Raw
			if r.S == 1 {
				data = c.RawSubjectPublicKeyInfo
			}
			if digest(r.M, data) == r.Data {
				return true
			}
		}
	}
	return false
}

// Matches reports whether rr is a record of the material (see matches): a
// DANE-EE record of its leaf or key, a DANE-TA record of a CA certificate of
// its chain. The certs plugin recognises its next key's records with it.
func Matches(m Material, rr *dns.TLSA) bool {
	return matches(m, rdata{rr.Usage, rr.Selector, rr.MatchingType, strings.ToLower(rr.Certificate)})
}

// KeyRecord is the data of the material's 3 1 1 record ("3 1 1 <hex>"), by
// which a key is named in logs and in stored state.
func (m Material) KeyRecord() string {
	return rdata{3, 1, 1, digest(1, m.SPKI)}.String()
}
