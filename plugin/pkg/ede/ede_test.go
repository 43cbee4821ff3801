package ede

import (
	"testing"

	"github.com/miekg/dns"
)

func query(edns, do bool) *dns.Msg {
	m := new(dns.Msg)
	m.SetQuestion("www.example.test.", dns.TypeA)
	if edns {
		m.SetEdns0(1232, do)
	}
	return m
}

func edes(m *dns.Msg) []*dns.EDNS0_EDE {
	var out []*dns.EDNS0_EDE
	if o := m.IsEdns0(); o != nil {
		for _, e := range o.Option {
			if x, ok := e.(*dns.EDNS0_EDE); ok {
				out = append(out, x)
			}
		}
	}
	return out
}

func TestAddCreatesOPTWithDO(t *testing.T) {
	req := query(true, true)
	reply := new(dns.Msg)
	reply.SetRcode(req, dns.RcodeFormatError)
	Add(req, reply, dns.ExtendedErrorCodeOther, "malformed COOKIE option")
	got := edes(reply)
	if len(got) != 1 || got[0].InfoCode != dns.ExtendedErrorCodeOther || got[0].ExtraText != "malformed COOKIE option" {
		t.Fatalf("EDE options: %v", got)
	}
	if !reply.IsEdns0().Do() {
		t.Error("the new OPT lost the request's DO bit")
	}
	// It survives the wire.
	b, err := reply.Pack()
	if err != nil {
		t.Fatal(err)
	}
	back := new(dns.Msg)
	if err := back.Unpack(b); err != nil {
		t.Fatal(err)
	}
	if got := edes(back); len(got) != 1 || got[0].ExtraText != "malformed COOKIE option" {
		t.Fatalf("after the wire: %v", got)
	}
}

func TestAddKeepsExistingOPT(t *testing.T) {
	req := query(true, false)
	reply := new(dns.Msg)
	reply.SetReply(req)
	reply.SetEdns0(1232, false)
	Add(req, reply, dns.ExtendedErrorCodeProhibited, "")
	Add(req, reply, dns.ExtendedErrorCodeNotAuthoritative, "")
	n := 0
	for _, rr := range reply.Extra {
		if rr.Header().Rrtype == dns.TypeOPT {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d OPT records, want 1", n)
	}
	got := edes(reply)
	if len(got) != 2 || got[0].InfoCode != dns.ExtendedErrorCodeProhibited || got[1].InfoCode != dns.ExtendedErrorCodeNotAuthoritative {
		t.Fatalf("EDE options: %v", got)
	}
}

func TestAddWithoutEDNSAddsNothing(t *testing.T) {
	req := query(false, false)
	reply := new(dns.Msg)
	reply.SetRcode(req, dns.RcodeRefused)
	Add(req, reply, dns.ExtendedErrorCodeProhibited, "no")
	if reply.IsEdns0() != nil || len(reply.Extra) != 0 {
		t.Fatalf("an answer to a request without EDNS got %v", reply.Extra)
	}
}
