package grants

import (
	"errors"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

func rr(s string) dns.RR {
	r, err := dns.NewRR(s)
	if err != nil {
		panic(err)
	}
	return r
}

func onlyABC(r dns.RR) error {
	if t, ok := r.(*dns.TXT); ok && len(t.Txt) == 1 && t.Txt[0] == "abc" {
		return nil
	}
	return errors.New("want abc")
}

func policy(t *testing.T) *Policy {
	p := New()
	for _, g := range []Grant{
		{Identity: "acme-www.", Match: Name, Domain: "WWW.example.test", Label: "_acme-challenge", Types: []uint16{dns.TypeTXT}},
		{Identity: "acme-www.", Match: Subdomain, Domain: "intra.example.test.", Label: "_acme-challenge", Types: []uint16{dns.TypeTXT}},
		{Identity: "host.example.test.", Match: Self, Label: "_acme-challenge", Types: []uint16{dns.TypeTXT}},
		{Identity: "strict.", Match: Name, Domain: "s.example.test.", Label: "_acme-challenge", Types: []uint16{dns.TypeTXT}, Validate: onlyABC},
		{Identity: "plain.", Match: Subdomain, Domain: "dyn.example.test.", Types: []uint16{dns.TypeA, dns.TypeAAAA}},
	} {
		if err := p.Add(g); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

func TestFind(t *testing.T) {
	p := policy(t)
	cases := []struct {
		id, owner string
		t         uint16
		want      bool
	}{
		{"acme-www.", "_acme-challenge.www.example.test.", dns.TypeTXT, true},
		{"acme-www.", "_ACME-challenge.WWW.example.test", dns.TypeTXT, true},
		{"acme-www.", "_acme-challenge.www.example.test.", dns.TypeA, false},
		{"acme-www.", "www.example.test.", dns.TypeTXT, false},
		{"acme-www.", "_acme-challenge.x.www.example.test.", dns.TypeTXT, false}, // name: exact only
		{"acme-www.", "_acme-challenge.intra.example.test.", dns.TypeTXT, true},
		{"acme-www.", "_acme-challenge.a.b.intra.example.test.", dns.TypeTXT, true},
		{"acme-www.", "_acme-challenge.*.intra.example.test.", dns.TypeTXT, false},
		{"acme-www.", "_acme-challenge.xintra.example.test.", dns.TypeTXT, false},
		{"acme-www.", "_acme-challenge.example.test.", dns.TypeTXT, false},
		{"acme-www.", "example.test.", dns.TypeTXT, false},
		{"acme-www.", "_acme-challenge.", dns.TypeTXT, false},
		{"other.", "_acme-challenge.www.example.test.", dns.TypeTXT, false},
		{"host.example.test.", "_acme-challenge.host.example.test.", dns.TypeTXT, true},
		{"host.example.test.", "_acme-challenge.x.host.example.test.", dns.TypeTXT, false},
		{"host.example.test.", "host.example.test.", dns.TypeTXT, false},
		{"plain.", "dyn.example.test.", dns.TypeA, true},
		{"plain.", "a.dyn.example.test.", dns.TypeAAAA, true},
		{"plain.", "a.dyn.example.test.", dns.TypeTXT, false},
	}
	for _, c := range cases {
		if got := p.Find(c.id, c.owner, c.t) != nil; got != c.want {
			t.Errorf("Find(%s, %s, %s) = %v, want %v", c.id, c.owner, dns.TypeToString[c.t], got, c.want)
		}
	}
	if got := p.Types("plain.", "x.dyn.example.test."); len(got) != 2 || got[0] != dns.TypeA || got[1] != dns.TypeAAAA {
		t.Errorf("Types: %v", got)
	}
	if got := p.Types("acme-www.", "www.example.test."); len(got) != 0 {
		t.Errorf("Types without label: %v", got)
	}
}

func TestAuthorize(t *testing.T) {
	p := policy(t)
	ok := []Change{
		{Op: DeleteRRset, Name: "_acme-challenge.www.example.test.", Type: dns.TypeTXT},
		{Op: Add, RR: rr(`_acme-challenge.www.example.test. 60 IN TXT "v1"`)},
		{Op: Delete, RR: rr(`_acme-challenge.a.intra.example.test. 0 NONE TXT "v2"`)},
		{Op: DeleteName, Name: "_acme-challenge.intra.example.test."},
	}
	if err := p.Authorize("acme-www.", ok); err != nil {
		t.Fatal(err)
	}
	// One change outside the grant refuses the whole set.
	bad := append(ok, Change{Op: Add, RR: rr(`www.example.test. 60 IN TXT "x"`)})
	err := p.Authorize("acme-www.", bad)
	var d *Denied
	if !errors.As(err, &d) || d.Invalid || !strings.Contains(err.Error(), "www.example.test./TXT") {
		t.Fatalf("got %v", err)
	}
	if err := p.Authorize("acme-www.", []Change{{Op: DeleteName, Name: "www.example.test."}}); err == nil {
		t.Fatal("delete-name outside the grant allowed")
	}
	// Validator.
	if err := p.Authorize("strict.", []Change{{Op: Add, RR: rr(`_acme-challenge.s.example.test. 60 IN TXT "abc"`)}}); err != nil {
		t.Fatal(err)
	}
	err = p.Authorize("strict.", []Change{{Op: Add, RR: rr(`_acme-challenge.s.example.test. 60 IN TXT "xyz"`)}})
	if !errors.As(err, &d) || !d.Invalid || !strings.Contains(err.Error(), "want abc") {
		t.Fatalf("got %v", err)
	}
	// Deletes are not validated (a client must be able to remove anything it may add).
	if err := p.Authorize("strict.", []Change{{Op: Delete, RR: rr(`_acme-challenge.s.example.test. 0 NONE TXT "xyz"`)}}); err != nil {
		t.Fatal(err)
	}
}

func TestAddChecks(t *testing.T) {
	p := New()
	for _, g := range []Grant{
		{Identity: "k.", Match: Name, Domain: "www.example.test."},                                   // no types
		{Match: Name, Domain: "www.example.test.", Types: []uint16{dns.TypeTXT}},                     // no identity
		{Identity: "k.", Match: Name, Domain: "*.example.test.", Types: []uint16{dns.TypeTXT}},       // wildcard
		{Identity: "k.", Match: Name, Domain: "", Types: []uint16{dns.TypeTXT}},                      // no domain
		{Identity: "k.", Match: Name, Domain: "x.", Label: "a.b", Types: []uint16{dns.TypeTXT}},      // two labels
		{Identity: "k.", Match: Match(9), Domain: "www.example.test.", Types: []uint16{dns.TypeTXT}}, // kind
		{Identity: "bad name..", Match: Self, Types: []uint16{dns.TypeTXT}},                          // self of a non-name
	} {
		if err := p.Add(g); err == nil {
			t.Errorf("accepted %+v", g)
		}
	}
	if m, err := ParseMatch("SubDomain"); err != nil || m != Subdomain {
		t.Fatal(m, err)
	}
	if _, err := ParseMatch("wildcard"); err == nil {
		t.Fatal("accepted wildcard")
	}
}
