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

// Account labels (dns-account-01): a grant covers
// _<account label>._acme-challenge.<subject> only for the accounts it names
// (or for any label of the account label's form), never another first label,
// and without Accounts none at all (the default: only _acme-challenge).
func TestAccounts(t *testing.T) {
	const one = "_ujmmovf2vn55tgye" // https://example.com/acme/acct/ExampleAccount
	const other = "_aaaaaaaaaaaaaaaa"
	p := New()
	for _, g := range []Grant{
		{Identity: "any.", Match: Name, Domain: "www.example.test.", Label: "_acme-challenge", Types: []uint16{dns.TypeTXT}, Accounts: &Accounts{Any: true}},
		{Identity: "one.", Match: Subdomain, Domain: "intra.example.test.", Label: "_acme-challenge", Types: []uint16{dns.TypeTXT}, Accounts: &Accounts{Labels: []string{strings.ToUpper(one)}}},
		{Identity: "plain.", Match: Name, Domain: "www.example.test.", Label: "_acme-challenge", Types: []uint16{dns.TypeTXT}},
		{Identity: "host.example.test.", Match: Self, Label: "_acme-challenge", Types: []uint16{dns.TypeTXT}, Accounts: &Accounts{Any: true}},
	} {
		if err := p.Add(g); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		id, owner string
		want      bool
	}{
		{"any.", "_acme-challenge.www.example.test.", true}, // dns-01 stays
		{"any.", one + "._acme-challenge.www.example.test.", true},
		{"any.", other + "._acme-challenge.WWW.example.test.", true},
		{"any.", "_x._acme-challenge.www.example.test.", false},                // not an account label
		{"any.", "_ujmmovf2vn55tgy1._acme-challenge.www.example.test.", false}, // 1 is not base32
		{"any.", "*._acme-challenge.www.example.test.", false},
		{"any.", one + ".www.example.test.", false},                             // no challenge label
		{"any.", one + "._acme-challenge.x.www.example.test.", false},           // name: exact
		{"any.", one + "." + one + "._acme-challenge.www.example.test.", false}, // two account labels
		{"any.", "_acme-challenge." + one + "._acme-challenge.www.example.test.", false},
		{"any.", one + "._acme-challenge.", false},
		{"one.", one + "._acme-challenge.a.intra.example.test.", true},
		{"one.", other + "._acme-challenge.a.intra.example.test.", false}, // another account
		{"one.", "_acme-challenge.a.intra.example.test.", true},
		{"plain.", one + "._acme-challenge.www.example.test.", false}, // the default: none
		{"plain.", "_acme-challenge.www.example.test.", true},
		{"host.example.test.", other + "._acme-challenge.host.example.test.", true},
		{"host.example.test.", other + "._acme-challenge.x.host.example.test.", false},
	}
	for _, c := range cases {
		if got := p.Find(c.id, c.owner, dns.TypeTXT) != nil; got != c.want {
			t.Errorf("Find(%s, %s) = %v, want %v", c.id, c.owner, got, c.want)
		}
	}
	// Prerequisites: a key may ask about the account owners it may change, and
	// only those.
	if got := p.Types("one.", one+"._acme-challenge.a.intra.example.test."); len(got) != 1 {
		t.Errorf("Types at its account owner: %v", got)
	}
	if got := p.Types("one.", other+"._acme-challenge.a.intra.example.test."); len(got) != 0 {
		t.Errorf("Types at another account's owner: %v", got)
	}
	if err := p.Authorize("plain.", []Change{{Op: DeleteName, Name: one + "._acme-challenge.www.example.test."}}); err == nil {
		t.Fatal("delete-name of an account owner allowed without Accounts")
	}
	for _, g := range []Grant{
		{Identity: "k.", Match: Name, Domain: "x.example.test.", Types: []uint16{dns.TypeA}, Accounts: &Accounts{Any: true}},                                          // no label
		{Identity: "k.", Match: Name, Domain: "x.example.test.", Label: "_acme-challenge", Types: []uint16{dns.TypeTXT}, Accounts: &Accounts{}},                       // no account
		{Identity: "k.", Match: Name, Domain: "x.example.test.", Label: "_acme-challenge", Types: []uint16{dns.TypeTXT}, Accounts: &Accounts{Labels: []string{"_x"}}}, // not a label
	} {
		if err := p.Add(g); err == nil {
			t.Errorf("accepted %+v", g)
		}
	}
	if s := p.Grants("any.")[0].String(); !strings.Contains(s, "any account") {
		t.Errorf("String: %s", s)
	}
}
