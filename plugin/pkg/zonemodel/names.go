package zonemodel

import (
	"strings"

	"github.com/miekg/dns"
)

// Fqdn returns name lowercased and fully qualified: the form every map key in
// the model uses.
func Fqdn(name string) string {
	return strings.ToLower(dns.Fqdn(name))
}

// lower lowercases an ASCII domain name without allocating when it already is.
func lower(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			return strings.ToLower(s)
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
// order.
func CanonicalCompare(a, b string) int {
	return compareLabels(Labels(a), Labels(b))
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

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func compareLabel(a, b string) int {
	n := min(len(a), len(b))
	for i := 0; i < n; i++ {
		ca, cb := toLowerByte(a[i]), toLowerByte(b[i])
		if ca != cb {
			if ca < cb {
				return -1
			}
			return 1
		}
	}
	switch {
	case len(a) < len(b):
		return -1
	case len(a) > len(b):
		return 1
	}
	return 0
}

func toLowerByte(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 32
	}
	return c
}
