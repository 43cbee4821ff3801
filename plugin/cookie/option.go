package cookie

import (
	"encoding/hex"
	"fmt"

	"github.com/miekg/dns"
)

// Lengths of RFC 7873 §4: a client cookie is 8 octets, a server cookie 8
// to 32; the server cookie of RFC 9018 is 16.
const (
	clientLen    = 8
	minServerLen = 8
	maxServerLen = 32
	serverLen    = 16
)

// Option is a request's COOKIE option: the client cookie and, when the
// client has one, the server cookie it holds (nil when absent).
type Option struct {
	Client [clientLen]byte
	Server []byte
}

// Parse reads the data of a COOKIE option. The lengths RFC 7873 §5.2.2
// answers with FORMERR are errors: fewer than 8 octets, 9 to 15 (a server
// cookie shorter than 8), more than 40 (a server cookie longer than 32).
func Parse(data []byte) (Option, error) {
	var o Option
	switch n := len(data); {
	case n < clientLen:
		return o, fmt.Errorf("COOKIE option of %d octets, shorter than a client cookie (8)", n)
	case n > clientLen+maxServerLen:
		return o, fmt.Errorf("COOKIE option of %d octets, longer than 40", n)
	case n > clientLen && n < clientLen+minServerLen:
		return o, fmt.Errorf("COOKIE option of %d octets: a server cookie of %d octets, shorter than 8", n, n-clientLen)
	}
	copy(o.Client[:], data)
	if len(data) > clientLen {
		o.Server = data[clientLen:]
	}
	return o, nil
}

// FromOPT finds the COOKIE option of a request's OPT record. Only the first
// COOKIE option counts (RFC 7873 §5.2: "In all cases of multiple COOKIE
// options in a request, only the first (the one closest to the DNS header)
// is considered. All others are ignored."). found is false without one; err
// is a malformed first COOKIE option.
func FromOPT(opt *dns.OPT) (o Option, found bool, err error) {
	for _, e := range opt.Option {
		c, ok := e.(*dns.EDNS0_COOKIE)
		if !ok {
			continue
		}
		// The DNS library keeps the option's octets as hex text; it
		// decodes whatever arrived, so this only fails for a message
		// built in memory with bad text.
		data, derr := hex.DecodeString(c.Cookie)
		if derr != nil {
			return o, true, fmt.Errorf("COOKIE option is not hex: %v", derr)
		}
		o, err = Parse(data)
		return o, true, err
	}
	return o, false, nil
}

// option is the COOKIE option of an answer: the client's cookie and the
// server cookie. It is an EDNS0_LOCAL with the COOKIE code, whose octets go
// out as they are (the same on the wire as an EDNS0_COOKIE, which the DNS
// library would decode from hex text, allocating, each time it measures
// and packs the answer: at the deepest point of the query's stack).
func option(client [clientLen]byte, server []byte) *dns.EDNS0_LOCAL {
	b := make([]byte, 0, clientLen+len(server))
	b = append(b, client[:]...)
	b = append(b, server...)
	return &dns.EDNS0_LOCAL{Code: dns.EDNS0COOKIE, Data: b}
}
