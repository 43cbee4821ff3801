package tsigauth

import (
	"fmt"

	"github.com/miekg/dns"
)

// checkStructure refuses a message whose pseudo-records are where no
// RFC allows them, before anything else looks at it. It returns nil or a
// FORMERR failure:
//   - not exactly one question (RFC 1035; RFC 2136's zone section is one);
//   - a TSIG record anywhere but last in the additional section, or more
//     than one (RFC 8945 §5.1: FORMERR);
//   - an OPT record outside the additional section, more than one, or with an
//     owner other than the root (RFC 6891 §6.1.1: FORMERR).
//
// It also returns the TSIG record (nil: unsigned).
func checkStructure(r *dns.Msg) (*dns.TSIG, *Failure) {
	if len(r.Question) != 1 {
		return nil, formErr("formerr_question", "%d questions (want one)", len(r.Question))
	}
	for _, sec := range [2][]dns.RR{r.Answer, r.Ns} {
		for _, rr := range sec {
			switch rr.Header().Rrtype {
			case dns.TypeTSIG:
				return nil, formErr("formerr_tsig", "TSIG record outside the additional section")
			case dns.TypeOPT:
				return nil, formErr("formerr_opt", "OPT record outside the additional section")
			}
		}
	}
	var tsig *dns.TSIG
	opts := 0
	for i, rr := range r.Extra {
		switch rr.Header().Rrtype {
		case dns.TypeTSIG:
			if tsig != nil {
				return nil, formErr("formerr_tsig", "more than one TSIG record")
			}
			t, ok := rr.(*dns.TSIG)
			if !ok {
				return nil, formErr("formerr_tsig", "malformed TSIG record")
			}
			if i != len(r.Extra)-1 {
				// Keep looking: two TSIGs are reported as such.
				for _, later := range r.Extra[i+1:] {
					if later.Header().Rrtype == dns.TypeTSIG {
						return nil, formErr("formerr_tsig", "more than one TSIG record")
					}
				}
				return nil, formErr("formerr_tsig", "TSIG record is not the last record of the message")
			}
			tsig = t
		case dns.TypeOPT:
			opts++
			if opts > 1 {
				return nil, formErr("formerr_opt", "more than one OPT record")
			}
			if rr.Header().Name != "." {
				return nil, formErr("formerr_opt", "OPT record owned by %q, not the root", rr.Header().Name)
			}
		}
	}
	if tsig != nil {
		if tsig.Hdr.Class != dns.ClassANY || tsig.Hdr.Ttl != 0 {
			return nil, formErr("formerr_tsig", "TSIG record of class %s and TTL %d (must be ANY and 0)", dns.ClassToString[tsig.Hdr.Class], tsig.Hdr.Ttl)
		}
	}
	return tsig, nil
}

// plain reports, cheaply, whether r needs no structural check beyond what
// the DNS server did: no TSIG or OPT record outside the last position of
// the additional section, at most one OPT record and one question. The
// gate lets such unsigned requests through without a decision.
func plain(r *dns.Msg) bool {
	if len(r.Question) != 1 || len(r.Answer) > 0 || len(r.Ns) > 0 {
		return false
	}
	switch len(r.Extra) {
	case 0:
		return true
	case 1:
		o, ok := r.Extra[0].(*dns.OPT)
		return ok && o.Hdr.Name == "."
	}
	return false
}

func formErr(reason, format string, a ...any) *Failure {
	return &Failure{Rcode: dns.RcodeFormatError, Reason: reason, Msg: fmt.Sprintf(format, a...)}
}
