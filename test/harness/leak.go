package harness

import (
	"fmt"
	"net/netip"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/dnspki/dnspki/plugin/pkg/zonemodel"
)

// Secrets is what of a split-horizon zone must never reach an external
// client: the words (labels, TXT words) of the internal records that no
// public record uses, the internal names (owners and their ancestors) and the
// internal addresses. By the test zones' convention every internal address
// is in 10.0.0.0/8 or fd00::/8 and no public one is.
type Secrets struct {
	Tokens map[string]bool // internal-only labels and TXT words
	Names  []string        // internal names, lowercase FQDN, canonical order
	Addrs  []string        // internal addresses, presentation form
}

// SecretSpec describes a split-horizon zone for NewSecrets.
type SecretSpec struct {
	Zone        string   // origin, FQDN
	Public      []dns.RR // what the external view may serve
	PublicWords []string // more public text (validation record names and values)
	Internal    []dns.RR // the internal view's own records
	// InternalNames are more internal names (records made by plugins):
	// they and their ancestors are secret names.
	InternalNames []string
}

var (
	tokenSplit    = regexp.MustCompile(`[^a-z0-9_-]+`)
	internalV4    = regexp.MustCompile(`(^|[^0-9.])10\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}`)
	internalV6    = regexp.MustCompile(`(^|[^0-9a-f:])fd[0-9a-f]{2}:`)
	internalPref4 = netip.MustParsePrefix("10.0.0.0/8")
	internalPref6 = netip.MustParsePrefix("fd00::/8")
)

// Tokens are the lowercase words of s (labels, TXT words).
func Tokens(s string) []string {
	var out []string
	for _, tk := range tokenSplit.Split(strings.ToLower(s), -1) {
		if tk != "" {
			out = append(out, tk)
		}
	}
	return out
}

// rrTokens are the words of the names and texts of a record.
func rrTokens(rr dns.RR) []string {
	out := Tokens(rr.Header().Name)
	switch v := rr.(type) {
	case *dns.CNAME:
		out = append(out, Tokens(v.Target)...)
	case *dns.NS:
		out = append(out, Tokens(v.Ns)...)
	case *dns.MX:
		out = append(out, Tokens(v.Mx)...)
	case *dns.SRV:
		out = append(out, Tokens(v.Target)...)
	case *dns.TXT:
		out = append(out, Tokens(strings.Join(v.Txt, " "))...)
	case *dns.SOA:
		out = append(out, Tokens(v.Ns+" "+v.Mbox)...)
	case *dns.HTTPS:
		out = append(out, Tokens(v.Target)...)
	case *dns.CAA:
		out = append(out, Tokens(v.Value)...)
	}
	return out
}

// ParseZone parses zone file text with origin zone.
func ParseZone(t testing.TB, zone, text string) []dns.RR {
	t.Helper()
	zp := dns.NewZoneParser(strings.NewReader(text), zone, "")
	var out []dns.RR
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		out = append(out, rr)
	}
	if err := zp.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// Ancestors returns name and its ancestors down to (excluding) the apex of
// zone.
func Ancestors(zone, name string) []string {
	var out []string
	for n := zonemodel.Fqdn(name); n != zone && zonemodel.InZone(n, zone); n = zonemodel.Parent(n) {
		out = append(out, n)
	}
	return out
}

// NewSecrets computes the secrets of a zone: every word of the internal
// records that no public record (nor a public word, nor a type or class
// mnemonic) uses, the internal names and the internal addresses.
func NewSecrets(t testing.TB, spec SecretSpec) *Secrets {
	t.Helper()
	public := map[string]bool{}
	for _, rr := range spec.Public {
		for _, tk := range rrTokens(rr) {
			public[tk] = true
		}
	}
	// Type and class mnemonics are in every record's text.
	for _, m := range dns.TypeToString {
		public[strings.ToLower(m)] = true
	}
	for _, m := range dns.ClassToString {
		public[strings.ToLower(m)] = true
	}
	for _, w := range spec.PublicWords {
		for _, tk := range Tokens(w) {
			public[tk] = true
		}
	}
	s := &Secrets{Tokens: map[string]bool{}}
	names := map[string]bool{}
	for _, rr := range spec.Internal {
		for _, tk := range rrTokens(rr) {
			if !public[tk] && strings.Trim(tk, "0123456789") != "" {
				s.Tokens[tk] = true
			}
		}
		for _, n := range Ancestors(spec.Zone, rr.Header().Name) {
			names[n] = true
		}
		switch v := rr.(type) {
		case *dns.A:
			s.Addrs = append(s.Addrs, v.A.String())
		case *dns.AAAA:
			s.Addrs = append(s.Addrs, v.AAAA.String())
		}
	}
	for _, in := range spec.InternalNames {
		for _, n := range Ancestors(spec.Zone, in) {
			names[n] = true
		}
	}
	for n := range names {
		s.Names = append(s.Names, n)
	}
	sort.Slice(s.Names, func(i, j int) bool { return zonemodel.CanonicalCompare(s.Names[i], s.Names[j]) < 0 })
	return s
}

// scrub returns the record's text without key material and signatures (so
// that random base64 is not taken for words), lowercased.
func scrub(rr dns.RR) string {
	switch v := rr.(type) {
	case *dns.RRSIG:
		c := *v
		c.Signature = ""
		rr = &c
	case *dns.DNSKEY:
		c := *v
		c.PublicKey = ""
		rr = &c
	case *dns.CDNSKEY:
		c := *v
		c.PublicKey = ""
		rr = &c
	case *dns.DS:
		c := *v
		c.Digest = ""
		rr = &c
	case *dns.CDS:
		c := *v
		c.Digest = ""
		rr = &c
	}
	return strings.ToLower(rr.String())
}

// Leaks lists what in the records reveals internal data to a client that
// asked for qname (nil: nothing): internal addresses anywhere, secret words
// other than the question's own labels. OPT and TSIG records are not data.
func (s *Secrets) Leaks(qname string, rrs []dns.RR) []string {
	asked := map[string]bool{}
	for _, tk := range Tokens(qname) {
		asked[tk] = true
	}
	var out []string
	for _, rr := range rrs {
		switch v := rr.(type) {
		case *dns.OPT, *dns.TSIG:
			continue
		case *dns.A:
			if a, ok := netip.AddrFromSlice(v.A.To4()); ok && internalPref4.Contains(a) {
				out = append(out, "internal address: "+rr.String())
				continue
			}
		case *dns.AAAA:
			if a, ok := netip.AddrFromSlice(v.AAAA); ok && internalPref6.Contains(a) {
				out = append(out, "internal address: "+rr.String())
				continue
			}
		}
		text := scrub(rr)
		if internalV4.MatchString(text) || internalV6.MatchString(text) {
			out = append(out, "internal address in: "+rr.String())
			continue
		}
		for _, tk := range Tokens(text) {
			if s.Tokens[tk] && !asked[tk] {
				out = append(out, fmt.Sprintf("internal label/word %q in: %s", tk, rr.String()))
				break
			}
		}
	}
	return out
}

// MsgRRs returns every record of a message (answer, authority, additional).
func MsgRRs(m *dns.Msg) []dns.RR {
	out := append([]dns.RR{}, m.Answer...)
	out = append(out, m.Ns...)
	return append(out, m.Extra...)
}

// ProbeTypes is every type an external prober asks for (an unknown one
// included).
var ProbeTypes = []uint16{
	dns.TypeA, dns.TypeAAAA, dns.TypeTXT, dns.TypeCNAME, dns.TypeNS, dns.TypeMX,
	dns.TypeSOA, dns.TypeANY, dns.TypeDS, dns.TypeDNSKEY, dns.TypeNSEC, dns.TypeNSEC3,
	dns.TypeNSEC3PARAM, dns.TypeRRSIG, dns.TypeCAA, dns.TypeSRV, dns.TypePTR,
	dns.TypeHTTPS, dns.TypeSVCB, dns.TypeTLSA, dns.TypeDNAME, 65400,
}

// MixCase upper-cases every other letter of s (DNS 0x20).
func MixCase(s string) string {
	b := []byte(s)
	up := false
	for i, c := range b {
		if c >= 'a' && c <= 'z' {
			if up {
				b[i] = c - 32
			}
			up = !up
		}
	}
	return string(b)
}
