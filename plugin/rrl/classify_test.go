package rrl

import (
	"testing"

	"github.com/coredns/coredns/plugin/test"
	"github.com/miekg/dns"
)

func TestClassify(t *testing.T) {
	soa := test.SOA("example.test. 300 IN SOA ns.example.test. host.example.test. 1 7200 3600 1209600 300")
	reply := func(name string, qtype uint16, f func(m *dns.Msg)) (*dns.Msg, *dns.Msg) {
		r := new(dns.Msg)
		r.SetQuestion(name, qtype)
		m := new(dns.Msg)
		m.SetReply(r)
		m.Authoritative = true
		f(m)
		return r, m
	}
	for _, tc := range []struct {
		name  string
		qname string
		qtype uint16
		f     func(m *dns.Msg)
		cat   Category
		key   string
		ktype uint16
	}{
		{"answer", "www.example.test.", dns.TypeA, func(m *dns.Msg) {
			m.Answer = []dns.RR{test.A("www.example.test. 300 IN A 192.0.2.1")}
		}, Answer, "www.example.test.", dns.TypeA},
		{"signed wildcard answer", "r4nd0m.wild.example.test.", dns.TypeTXT, func(m *dns.Msg) {
			m.Answer = []dns.RR{test.TXT(`r4nd0m.wild.example.test. 300 IN TXT "w"`),
				&dns.RRSIG{Hdr: dns.RR_Header{Name: "r4nd0m.wild.example.test.", Rrtype: dns.TypeRRSIG, Class: dns.ClassINET}, TypeCovered: dns.TypeTXT, Labels: 3}}
		}, Answer, "*.wild.example.test.", dns.TypeTXT},
		{"signed plain answer", "www.example.test.", dns.TypeA, func(m *dns.Msg) {
			m.Answer = []dns.RR{test.A("www.example.test. 300 IN A 192.0.2.1"),
				&dns.RRSIG{Hdr: dns.RR_Header{Name: "www.example.test.", Rrtype: dns.TypeRRSIG, Class: dns.ClassINET}, TypeCovered: dns.TypeA, Labels: 3}}
		}, Answer, "www.example.test.", dns.TypeA},
		{"nodata", "www.example.test.", dns.TypeMX, func(m *dns.Msg) { m.Ns = []dns.RR{soa} }, NoData, "example.test.", 0},
		{"nxdomain", "nope.example.test.", dns.TypeA, func(m *dns.Msg) { m.Rcode = dns.RcodeNameError; m.Ns = []dns.RR{soa} }, NXDomain, "example.test.", 0},
		{"nxdomain without SOA", "nope.example.test.", dns.TypeA, func(m *dns.Msg) { m.Rcode = dns.RcodeNameError }, NXDomain, "nope.example.test.", 0},
		{"compact denial", "nope.example.test.", dns.TypeA, func(m *dns.Msg) {
			m.Ns = []dns.RR{soa, &dns.NSEC{Hdr: dns.RR_Header{Name: "nope.example.test.", Rrtype: dns.TypeNSEC, Class: dns.ClassINET}, NextDomain: "\\000.nope.example.test.", TypeBitMap: []uint16{dns.TypeRRSIG, dns.TypeNSEC, dns.TypeNXNAME}}}
		}, NXDomain, "example.test.", 0},
		{"compact NODATA", "www.example.test.", dns.TypeMX, func(m *dns.Msg) {
			m.Ns = []dns.RR{soa, &dns.NSEC{Hdr: dns.RR_Header{Name: "www.example.test.", Rrtype: dns.TypeNSEC, Class: dns.ClassINET}, NextDomain: "\\000.www.example.test.", TypeBitMap: []uint16{dns.TypeA, dns.TypeRRSIG, dns.TypeNSEC}}}
		}, NoData, "example.test.", 0},
		{"referral", "x.sub.example.test.", dns.TypeA, func(m *dns.Msg) {
			m.Authoritative = false
			m.Ns = []dns.RR{test.NS("sub.example.test. 300 IN NS ns.sub.example.test.")}
		}, Referral, "sub.example.test.", 0},
		{"refused", "www.example.test.", dns.TypeA, func(m *dns.Msg) { m.Rcode = dns.RcodeRefused }, Error, "", 0},
		{"servfail", "www.example.test.", dns.TypeA, func(m *dns.Msg) { m.Rcode = dns.RcodeServerFailure }, Error, "", 0},
	} {
		r, m := reply(tc.qname, tc.qtype, tc.f)
		cat, key, kt := classify(r, m)
		if cat != tc.cat || key != tc.key || kt != tc.ktype {
			t.Errorf("%s: %v %q %d, want %v %q %d", tc.name, cat, key, kt, tc.cat, tc.key, tc.ktype)
		}
	}
}
