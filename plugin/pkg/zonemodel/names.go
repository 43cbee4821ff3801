package zonemodel

import (
	"bytes"
	"strings"
	"unsafe"

	"github.com/miekg/dns"
)

// Fqdn returns name lowercased and fully qualified: the form every map key in
// the model uses.
func Fqdn(name string) string {
	return lower(dns.Fqdn(name))
}

// canonicalName returns name lowercase, fully qualified and with escapes as
// they read back from wire format ("\\053" is "5"): the form of owner names
// in the model and in its store, so that records compare equal across
// restarts.
func canonicalName(name string) string {
	if strings.IndexByte(name, '\\') < 0 {
		if l := lower(name); dns.IsFqdn(l) {
			return l
		}
		return Fqdn(name)
	}
	buf := make([]byte, 256)
	n, err := dns.PackDomainName(dns.Fqdn(name), buf, 0, nil, false)
	if err != nil {
		return Fqdn(name)
	}
	out, _, err := dns.UnpackDomainName(buf[:n], 0)
	if err != nil {
		return Fqdn(name)
	}
	return Fqdn(out)
}

// lower lowercases the ASCII letters of a domain name (RFC 4343: other
// octets are not letters; strings.ToLower would also rewrite invalid UTF-8),
// without allocating when there are none.
func lower(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				b[j] = toLowerByte(b[j])
			}
			return string(b)
		}
	}
	return s
}

// InZone reports whether name (lowercase, fully qualified) is origin or below it.
func InZone(name, origin string) bool {
	if len(name) < len(origin) {
		return false
	}
	if len(name) == len(origin) {
		return name == origin
	}
	if origin == "." {
		return true
	}
	return name[len(name)-len(origin)-1] == '.' && name[len(name)-len(origin):] == origin && !escapedDot(name, len(name)-len(origin)-1)
}

// escapedDot reports whether the dot at index i of s is escaped by an odd number
// of backslashes.
func escapedDot(s string, i int) bool {
	n := 0
	for j := i - 1; j >= 0 && s[j] == '\\'; j-- {
		n++
	}
	return n%2 == 1
}

// Parent returns the name one label up ("." for a top-level name).
func Parent(name string) string {
	off, end := dns.NextLabel(name, 0)
	if end {
		return "."
	}
	return name[off:]
}

// CanonicalLess orders names as RFC 4034 §6.1 does: label by label from the
// right, each label compared as lowercase octets, a shorter name first.
func CanonicalLess(a, b string) bool {
	return CanonicalCompare(a, b) < 0
}

// CanonicalCompare returns -1, 0 or 1 comparing a and b in RFC 4034 canonical
// order. It does not allocate: both names are encoded into stack buffers as
// canonical keys (see appendKey), which compare as plain octet strings.
func CanonicalCompare(a, b string) int {
	var ba, bb [keyBuf]byte
	ka, kb := appendKey(ba[:0], a, "."), appendKey(bb[:0], b, ".")
	return bytes.Compare(ka, kb)
}

// Labels splits a presentation-format name into its labels decoded to raw
// octets (escapes resolved), leftmost first, root excluded.
func Labels(name string) []string {
	if name == "." || name == "" {
		return nil
	}
	var out []string
	var cur []byte
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c == '\\' && i+1 < len(name):
			if i+3 < len(name) && isDigit(name[i+1]) && isDigit(name[i+2]) && isDigit(name[i+3]) {
				cur = append(cur, (name[i+1]-'0')*100+(name[i+2]-'0')*10+(name[i+3]-'0'))
				i += 3
			} else {
				cur = append(cur, name[i+1])
				i++
			}
		case c == '.':
			out = append(out, string(cur))
			cur = cur[:0]
		default:
			cur = append(cur, c)
		}
	}
	if len(cur) > 0 {
		out = append(out, string(cur))
	}
	return out
}

// keyBuf is large enough for the key of any name: a name has at most 255
// octets in wire form, and a key at most two octets per name octet.
const keyBuf = 512

// appendKey appends the canonical key of name relative to origin to dst:
// the labels of name below origin, rightmost first, each as its lowercase
// raw octets (escapes resolved) followed by a 0 octet; the octets 0 and 1
// inside a label are written as 1,0 and 1,1. Keys compare as octet strings
// exactly as their names compare in RFC 4034 canonical order, a name sorts
// right before its descendants, and the keys of the descendants of a name
// are the keys that start with its key. The origin's key is empty. name
// must be origin or below it (the caller checks; see InZone).
func appendKey(dst []byte, name, origin string) []byte {
	var rel int // length of the part of name below origin, without its last dot
	switch {
	case origin != ".":
		rel = len(name) - len(origin) - 1
	case strings.HasSuffix(name, ".") && !escapedDot(name, len(name)-1):
		rel = len(name) - 1
	default:
		rel = len(name)
	}
	if rel <= 0 {
		return dst
	}
	// Label boundaries of name[:rel], left to right.
	var starts [128]uint16
	n := 1
	escaped := false
	for i := 0; i < rel; i++ {
		c := name[i]
		switch {
		case c == '\\':
			if i+3 < rel && isDigit(name[i+1]) && isDigit(name[i+2]) && isDigit(name[i+3]) {
				i += 3
			} else {
				i++
			}
			escaped = true
		case c == '.' && n < len(starts):
			starts[n] = uint16(i + 1)
			n++
		}
	}
	for l := n - 1; l >= 0; l-- {
		end := rel
		if l+1 < n {
			end = int(starts[l+1]) - 1
		}
		label := name[starts[l]:end]
		if !escaped {
			for i := 0; i < len(label); i++ {
				dst = appendKeyOctet(dst, toLowerByte(label[i]))
			}
		} else {
			for i := 0; i < len(label); i++ {
				c := label[i]
				if c == '\\' && i+1 < len(label) {
					if i+3 < len(label) && isDigit(label[i+1]) && isDigit(label[i+2]) && isDigit(label[i+3]) {
						c = (label[i+1]-'0')*100 + (label[i+2]-'0')*10 + (label[i+3] - '0')
						i += 3
					} else {
						c = label[i+1]
						i++
					}
				}
				dst = appendKeyOctet(dst, toLowerByte(c))
			}
		}
		dst = append(dst, 0)
	}
	return dst
}

func appendKeyOctet(dst []byte, c byte) []byte {
	if c <= 1 {
		return append(dst, 1, c)
	}
	return append(dst, c)
}

// nameKey returns the canonical key of name (lowercase, fully qualified, in
// the zone of origin) as a new string.
func nameKey(name, origin string) string {
	var buf [keyBuf]byte
	return string(appendKey(buf[:0], name, origin))
}

// isBelowKey reports whether key k is a strict descendant of the name whose
// key is parent.
func isBelowKey(k, parent string) bool {
	return len(k) > len(parent) && k[:len(parent)] == parent
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func toLowerByte(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 32
	}
	return c
}

// unsafeString views b as a string without copying; b must not change while
// the string is in use.
func unsafeString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// rrKey names an RRset: its owner name and type.
type rrKey struct {
	name string
	t    uint16
}
