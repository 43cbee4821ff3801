package zonemodel

import (
	"net"

	"github.com/miekg/dns"
)

// Every record enters the model in the form it has on the wire: this file is
// that rule.

// normalize returns rr with a lowercase owner in the form it reads back from
// wire format (a copy when it had to change).
func normalize(rr dns.RR) dns.RR {
	if !inWireForm(rr) {
		rr = viaWire(rr)
	}
	h := rr.Header()
	if l := canonicalName(h.Name); l != h.Name {
		rr = dns.Copy(rr)
		rr.Header().Name = l
	}
	if rr.Header().Class != dns.ClassINET {
		rr = dns.Copy(rr)
		rr.Header().Class = dns.ClassINET
	}
	return rr
}

// viaWire returns rr as it reads back from wire format (the form the store
// keeps, and the form of names in queries): the presentation form of some
// data differs from what unpacking gives (a DS, TLSA or SSHFP digest written
// in uppercase unpacks in lowercase; a name or TXT string with a special
// character written unescaped in a zone file, `'0` or `a"b` built in Go,
// unpacks escaped, `\'0`, `a\"b`; an escaped letter, `\065`, unpacks as the
// letter), and records must compare equal across restarts and match the
// names clients ask for.
func viaWire(rr dns.RR) dns.RR {
	buf := make([]byte, dns.Len(rr)+64)
	n, err := dns.PackRR(rr, buf, 0, nil, false)
	if err != nil {
		return rr
	}
	out, _, err := dns.UnpackRR(buf[:n], 0)
	if err != nil {
		return rr
	}
	return out
}

// inWireForm reports, without packing, that rr is already what viaWire would
// give: a record of a common type (most of a large zone) whose names and
// strings hold no octet that unpacking escapes, so a zone of a million such
// records is not packed and unpacked record by record. Anything else is
// left to viaWire.
func inWireForm(rr dns.RR) bool {
	switch r := rr.(type) {
	case *dns.A:
		return len(r.A) == net.IPv4len && plainName(r.Hdr.Name)
	case *dns.AAAA:
		return len(r.AAAA) == net.IPv6len && plainName(r.Hdr.Name)
	case *dns.MX:
		return plainName(r.Hdr.Name) && plainName(r.Mx)
	case *dns.CNAME:
		return plainName(r.Hdr.Name) && plainName(r.Target)
	case *dns.NS:
		return plainName(r.Hdr.Name) && plainName(r.Ns)
	case *dns.PTR:
		return plainName(r.Hdr.Name) && plainName(r.Ptr)
	case *dns.TXT:
		if len(r.Txt) == 0 || !plainName(r.Hdr.Name) {
			return false
		}
		for _, t := range r.Txt {
			if !plainText(t) {
				return false
			}
		}
		return true
	}
	return false
}

// plainName reports whether a domain name has only octets that unpacking
// writes as they are: printable ASCII other than the characters it escapes
// in a label (isDomainNameLabelSpecial in miekg/dns), the dot aside.
func plainName(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\'', '@', ';', '(', ')', '"', '\\':
			return false
		default:
			if c <= ' ' || c > '~' {
				return false
			}
		}
	}
	return true
}

// plainText reports whether a character string is at most 255 octets of
// printable ASCII other than the quote and the backslash (what unpacking
// escapes).
func plainText(s string) bool {
	if len(s) > 255 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' || c > '~' || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// encodable checks that rr packs: the parser takes some rdata that has no wire
// form (a DS digest of an odd number of hex digits), which the store could
// then not keep.
func encodable(rr dns.RR) error {
	buf := make([]byte, dns.Len(rr)+64)
	_, err := dns.PackRR(rr, buf, 0, nil, false)
	return err
}
