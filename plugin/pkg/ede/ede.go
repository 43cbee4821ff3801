// Package ede adds RFC 8914 Extended DNS Errors to replies: one function,
// so that every plugin explains its refusals the same way.
package ede

import (
	"github.com/dnspki/dnspki/plugin/pkg/metric"
	"github.com/miekg/dns"
)

var added = metric.CounterVec("ede_total", "Extended DNS Errors (RFC 8914) put in answers, by code name.", "code")

// Add puts an Extended DNS Error option (RFC 8914) with code and, when text
// is not empty, its EXTRA-TEXT into reply, the answer to req. EDE travels in
// the OPT record, so nothing is added when req has none (RFC 6891 §7: no
// OPT in an answer to a request without one); when reply has no OPT yet it
// gets one with the request's DO bit. Several calls add several options
// (RFC 8914 §3 allows more than one).
//
// Text is for people (logs, dig): keep it short, and never put in it what
// the refusal must not reveal.
func Add(req, reply *dns.Msg, code uint16, text string) {
	ro := req.IsEdns0()
	if ro == nil {
		return
	}
	o := reply.IsEdns0()
	if o == nil {
		o = &dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT}}
		o.SetUDPSize(dns.DefaultMsgSize)
		if ro.Do() {
			o.SetDo()
		}
		reply.Extra = append(reply.Extra, o)
	}
	o.Option = append(o.Option, &dns.EDNS0_EDE{InfoCode: code, ExtraText: text})
	name, ok := dns.ExtendedErrorCodeToString[code]
	if !ok {
		name = "unknown"
	}
	added.WithLabelValues(name).Inc()
}
