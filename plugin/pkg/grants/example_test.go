package grants_test

import (
	"errors"
	"fmt"
	"strings"

	"github.com/miekg/dns"

	"github.com/dnspki/dnspki/plugin/pkg/grants"
)

// A dns-persist-01 plugin grants `_validation-persist` TXT records with a
// syntax validator, through the same engine acmechallenge uses for
// `_acme-challenge`.
func Example() {
	p := grants.New()
	persistSyntax := func(rr dns.RR) error {
		t, ok := rr.(*dns.TXT)
		if !ok || !strings.HasPrefix(strings.Join(t.Txt, ""), "letsencrypt.org;") {
			return errors.New("want an issuer-domain-name; parameters")
		}
		return nil
	}
	p.Add(grants.Grant{
		Identity: "host.example.test.", // a TSIG key named after its host
		Match:    grants.Self,
		Label:    "_validation-persist",
		Types:    []uint16{dns.TypeTXT},
		Validate: persistSyntax,
	})
	p.Add(grants.Grant{
		Identity: "acme-www.",
		Match:    grants.Subdomain,
		Domain:   "intra.example.test.",
		Label:    "_acme-challenge",
		Types:    []uint16{dns.TypeTXT},
	})

	add := func(s string) grants.Change {
		rr, _ := dns.NewRR(s)
		return grants.Change{Op: grants.Add, RR: rr}
	}
	fmt.Println(p.Authorize("host.example.test.", []grants.Change{
		add(`_validation-persist.host.example.test. 300 IN TXT "letsencrypt.org; accounturi=https://acme.example/acct/1"`),
	}))
	fmt.Println(p.Authorize("host.example.test.", []grants.Change{
		add(`_validation-persist.host.example.test. 300 IN TXT "hello"`),
	}))
	fmt.Println(p.Authorize("acme-www.", []grants.Change{
		add(`_acme-challenge.a.intra.example.test. 60 IN TXT "x"`),
		{Op: grants.DeleteRRset, Name: "_acme-challenge.example.test.", Type: dns.TypeTXT},
	}))
	// Output:
	// <nil>
	// host.example.test.: add _validation-persist.host.example.test./TXT: invalid record: want an issuer-domain-name; parameters
	// acme-www.: delete-rrset _acme-challenge.example.test./TXT: not granted
}
