package onlinesign

import (
	"errors"
	"fmt"
	"strings"

	"github.com/dnspki/dnspki/plugin/pkg/zonemodel"
)

// Names for NSEC records made on demand. RFC 9824 §3.1 and RFC 4470 §3: the
// NSEC of a name says nothing about any other name: its next name is the
// name's immediate successor in canonical order (\000.NAME). A wildcard
// answer needs an NSEC covering the name that the wildcard was used for
// (RFC 4035 §3.1.3.3): its owner and next name are the immediate predecessor
// and successor of the "next closer" name at its own depth, so that the
// closest encloser a validator infers from them is the wildcard's parent, and
// the range holds no name that exists.

const (
	maxLabel = 63
	maxName  = 255 // octets in wire format
)

// wireLen is the wire length of a presentation-format name.
func wireLen(name string) int {
	if name == "." {
		return 1
	}
	n := 1
	for _, l := range zonemodel.Labels(name) {
		n += len(l) + 1
	}
	return n
}

// encodeLabel writes a raw label in presentation format.
func encodeLabel(l string) string {
	var b strings.Builder
	for i := 0; i < len(l); i++ {
		c := l[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_', c == '*':
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "\\%03d", c)
		}
	}
	return b.String()
}

// successor is the immediate successor of name in canonical order: its first
// possible child \000.NAME, or, when that would be too long, the next
// possible sibling of its first label.
func successor(name string) (string, error) {
	if wireLen(name)+2 <= maxName {
		return "\\000." + name, nil
	}
	labels := zonemodel.Labels(name)
	if len(labels) == 0 {
		return "", errors.New("the root has no successor sibling")
	}
	next, ok := nextLabel(labels[0], maxLabel)
	if !ok {
		return "", fmt.Errorf("no successor for %s", name)
	}
	return encodeLabel(next) + "." + zonemodel.Parent(name), nil
}

// lowerByte is the canonical (lowercase) value of an octet.
func lowerByte(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 32
	}
	return c
}

// nextLabel is the smallest label greater than l in canonical order among
// labels of at most max octets (l + \000, or l with its last octet
// incremented when l is already max long).
func nextLabel(l string, max int) (string, bool) {
	if len(l) < max {
		return l + "\x00", true
	}
	b := []byte(l)
	for len(b) > 0 {
		last := b[len(b)-1]
		if last == 0xff {
			b = b[:len(b)-1]
			continue
		}
		n := last + 1
		if n >= 'A' && n <= 'Z' {
			n = 'Z' + 1 // uppercase sorts as lowercase; skip it
		}
		b[len(b)-1] = n
		return string(b), true
	}
	return "", false
}

// prevLabel is the largest label smaller than l in canonical order among
// labels of at most max octets, or "" (with ok) when l is \000 and only the
// parent name precedes it.
func prevLabel(l string, max int) (string, bool) {
	b := []byte(l)
	if len(b) == 0 {
		return "", false
	}
	last := b[len(b)-1]
	if last == 0 {
		return string(b[:len(b)-1]), true
	}
	p := lowerByte(last) - 1
	if p >= 'A' && p <= 'Z' {
		p = 'A' - 1 // uppercase sorts as lowercase; '@' is the largest below
	}
	b[len(b)-1] = p
	for len(b) < max {
		b = append(b, 0xff)
	}
	return string(b), true
}

// cover returns the owner and next name of an NSEC that covers the next
// closer name of qname below its closest encloser ce and nothing else that
// exists in snap.
func cover(snap *zonemodel.Snapshot, qname, ce string) (string, string, error) {
	ql, cl := zonemodel.Labels(qname), zonemodel.Labels(ce)
	if len(ql) <= len(cl) {
		return "", "", fmt.Errorf("%s is not below its closest encloser %s", qname, ce)
	}
	l := ql[len(ql)-len(cl)-1]
	room := maxName - wireLen(ce) - 1 // octets left for the label
	lim := min(maxLabel, room)
	next, ok := nextLabel(l, lim)
	if !ok {
		return "", "", fmt.Errorf("no successor label for %q below %s", l, ce)
	}
	nextName := encodeLabel(next) + "." + ce
	if ce == "." {
		nextName = encodeLabel(next) + "."
	}
	prev, ok := prevLabel(l, lim)
	if !ok {
		return "", "", fmt.Errorf("no predecessor label for %q below %s", l, ce)
	}
	owner := ce
	if prev != "" {
		owner = encodeLabel(prev) + "." + ce
		if ce == "." {
			owner = encodeLabel(prev) + "."
		}
		owner = strings.ToLower(owner)
		if snap != nil && snap.Node(owner) != nil {
			// A name exists exactly at the epsilon predecessor: it cannot
			// be an NSEC owner with an invented type bitmap.
			return "", "", fmt.Errorf("cannot cover %s: %s exists", qname, owner)
		}
	}
	return owner, nextName, nil
}
