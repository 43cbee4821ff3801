// Package grants is dnspki's authorization engine for record changes made by
// clients: which identity (a TSIG key, an HTTP credential) may add or delete
// which records. It is the update-policy of BIND, cut down to what the Web PKI
// needs and shared by every plugin that takes changes from outside:
// acmechallenge (`_acme-challenge` TXT) and dnspersist
// (`_validation-persist` TXT) use the same engine with their own label,
// types and validator.
//
// A Grant gives one identity the right to change records of some types at
// some owner names:
//
//	owner = Label "." subject     (or just subject when Label is "")
//
// where the subject is matched against the grant's Domain by its Match kind:
// exactly the domain (Name), the domain and every name below it (Subdomain),
// or the identity's own name (Self: a TSIG key named after its host). An added
// record must also pass the grant's Validator, if any. Nothing else is ever
// granted: an owner without the label (the zone apex, say), another type, a
// subject outside the domain, a subject with a wildcard label.
//
// A grant with Accounts also covers the ACME dns-account-01 owners
//
//	owner = <account label> "." Label "." subject
//
// for one or more account labels, or for any label of the account label's
// form (an underscore and 16 lowercase base32 characters: package
// dnsaccount); never for another first label. Without Accounts (the
// default) only Label.subject is granted.
//
// Authorize checks a whole set of changes at once and fails on the first one
// outside every grant of the identity: callers refuse the request whole.
package grants

import (
	"fmt"
	"sort"
	"strings"

	"github.com/miekg/dns"

	"github.com/dnspki/dnspki/plugin/pkg/dnsaccount"
)

// Match is how a grant's subject is matched.
type Match uint8

// Match kinds.
const (
	// Name: the subject is exactly the grant's Domain.
	Name Match = iota + 1
	// Subdomain: the subject is the grant's Domain or any name below it.
	Subdomain
	// Self: the subject is the identity's own name (the TSIG key's name).
	Self
)

func (m Match) String() string {
	switch m {
	case Name:
		return "name"
	case Subdomain:
		return "subdomain"
	case Self:
		return "self"
	}
	return fmt.Sprintf("Match(%d)", uint8(m))
}

// ParseMatch parses "name", "subdomain" or "self".
func ParseMatch(s string) (Match, error) {
	switch strings.ToLower(s) {
	case "name":
		return Name, nil
	case "subdomain":
		return Subdomain, nil
	case "self":
		return Self, nil
	}
	return 0, fmt.Errorf("unknown grant kind %q (want name, subdomain or self)", s)
}

// Validator checks the data of a record a client adds. Its error is the reason
// the change is refused.
type Validator func(rr dns.RR) error

// Grant is one right of one identity.
type Grant struct {
	// Identity the grant is for: a TSIG key name (lower case, fully
	// qualified) or any other credential name the caller uses consistently.
	Identity string
	Match    Match
	// Domain the subject is matched against (Name, Subdomain); unused for
	// Self, where it is the identity itself.
	Domain string
	// Label the owner name starts with, e.g. "_acme-challenge"; "" when the
	// owner is the subject itself.
	Label string
	// Types the grant covers (at least one).
	Types []uint16
	// Validate, if set, checks every record added under the grant.
	Validate Validator
	// Accounts, if set, extends the grant to the dns-account-01 owners
	// <account label>.Label.subject of these accounts (Label required).
	Accounts *Accounts
}

// Accounts are the ACME accounts whose dns-account-01 challenge records a
// grant covers.
type Accounts struct {
	// Any: every account label (any first label of the form
	// dnsaccount.IsLabel).
	Any bool
	// Labels: these account labels ("_" and 16 base32 characters).
	Labels []string
}

func (a *Accounts) allows(label string) bool {
	if a == nil || !dnsaccount.IsLabel(label) {
		return false
	}
	if a.Any {
		return true
	}
	for _, l := range a.Labels {
		if l == label {
			return true
		}
	}
	return false
}

func (a *Accounts) String() string {
	if a.Any {
		return "<any account>"
	}
	return "<account " + strings.Join(a.Labels, "|") + ">"
}

func (g Grant) String() string {
	var types []string
	for _, t := range g.Types {
		types = append(types, dns.TypeToString[t])
	}
	target := g.Domain
	if g.Match == Self {
		target = g.Identity
	}
	where := fmt.Sprintf("<%s %s>", g.Match, target)
	if g.Label != "" {
		if g.Accounts != nil {
			where = "[" + g.Accounts.String() + ".]" + g.Label + "." + where
		} else {
			where = g.Label + "." + where
		}
	}
	return fmt.Sprintf("%s may change %s at %s", g.Identity, strings.Join(types, ","), where)
}

// covers reports whether the grant covers owner (lower case, fully qualified)
// and type t, ignoring the validator.
func (g *Grant) covers(owner string, t uint16) bool {
	if !g.hasType(t) {
		return false
	}
	subject, ok := g.subject(owner)
	if !ok {
		return false
	}
	return g.matches(subject)
}

func (g *Grant) hasType(t uint16) bool {
	for _, x := range g.Types {
		if x == t {
			return true
		}
	}
	return false
}

// subject strips the grant's label (and, with Accounts, an account label
// before it) from owner.
func (g *Grant) subject(owner string) (string, bool) {
	if g.Label == "" {
		return owner, true
	}
	prefix := g.Label + "."
	if rest, ok := strings.CutPrefix(owner, prefix); ok {
		return rest, rest != ""
	}
	if g.Accounts == nil {
		return "", false
	}
	first, rest, _ := strings.Cut(owner, ".")
	if !g.Accounts.allows(first) {
		return "", false
	}
	if rest, ok := strings.CutPrefix(rest, prefix); ok {
		return rest, rest != ""
	}
	return "", false
}

func (g *Grant) matches(subject string) bool {
	if subject == "." {
		return false
	}
	for _, l := range dns.SplitDomainName(subject) {
		if l == "*" {
			return false
		}
	}
	switch g.Match {
	case Name:
		return subject == g.Domain
	case Subdomain:
		return dns.IsSubDomain(g.Domain, subject)
	case Self:
		return subject == g.Identity
	}
	return false
}

// Policy is a set of grants. It is built at setup and read concurrently
// afterwards (Add must not be called while requests are checked).
type Policy struct {
	byID map[string][]*Grant
}

// New returns an empty policy: nothing is granted.
func New() *Policy { return &Policy{byID: map[string][]*Grant{}} }

// Canonical is the form names take in grants: lower case, fully qualified.
func Canonical(name string) string { return strings.ToLower(dns.Fqdn(name)) }

// Add adds a grant after checking it.
func (p *Policy) Add(g Grant) error {
	if g.Identity == "" {
		return fmt.Errorf("grant without identity")
	}
	if len(g.Types) == 0 {
		return fmt.Errorf("grant for %s without record types", g.Identity)
	}
	switch g.Match {
	case Name, Subdomain:
		if _, ok := dns.IsDomainName(g.Domain); !ok || g.Domain == "" {
			return fmt.Errorf("grant for %s: %q is not a domain name", g.Identity, g.Domain)
		}
		g.Domain = Canonical(g.Domain)
		if strings.Contains(g.Domain, "*") {
			return fmt.Errorf("grant for %s: %q: wildcards are not allowed in grants", g.Identity, g.Domain)
		}
	case Self:
		if _, ok := dns.IsDomainName(g.Identity); !ok {
			return fmt.Errorf("self grant for %s: the identity is not a domain name", g.Identity)
		}
		g.Domain = ""
	default:
		return fmt.Errorf("grant for %s: unknown match kind %d", g.Identity, g.Match)
	}
	if g.Label != "" {
		g.Label = strings.ToLower(strings.TrimSuffix(g.Label, "."))
		if strings.Contains(g.Label, ".") {
			return fmt.Errorf("grant for %s: label %q must be one label", g.Identity, g.Label)
		}
	}
	if g.Accounts != nil {
		if g.Label == "" {
			return fmt.Errorf("grant for %s: account labels need the grant's label (the challenge label they precede)", g.Identity)
		}
		a := &Accounts{Any: g.Accounts.Any}
		for _, l := range g.Accounts.Labels {
			l = strings.ToLower(l)
			if !dnsaccount.IsLabel(l) {
				return fmt.Errorf("grant for %s: %q is not an ACME account label (an underscore and 16 base32 characters)", g.Identity, l)
			}
			a.Labels = append(a.Labels, l)
		}
		if !a.Any && len(a.Labels) == 0 {
			return fmt.Errorf("grant for %s: account labels: which accounts?", g.Identity)
		}
		g.Accounts = a
	}
	g.Types = append([]uint16(nil), g.Types...)
	p.byID[g.Identity] = append(p.byID[g.Identity], &g)
	return nil
}

// Grants returns the grants of an identity.
func (p *Policy) Grants(identity string) []Grant {
	out := make([]Grant, 0, len(p.byID[identity]))
	for _, g := range p.byID[identity] {
		out = append(out, *g)
	}
	return out
}

// Identities lists the identities that have grants, sorted.
func (p *Policy) Identities() []string {
	out := make([]string, 0, len(p.byID))
	for id := range p.byID {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

// Find returns the first grant of identity that covers owner and type t, or
// nil. The validator is not run.
func (p *Policy) Find(identity, owner string, t uint16) *Grant {
	owner = Canonical(owner)
	for _, g := range p.byID[identity] {
		if g.covers(owner, t) {
			return g
		}
	}
	return nil
}

// Types returns the types identity may change at owner, sorted (empty: none).
func (p *Policy) Types(identity, owner string) []uint16 {
	owner = Canonical(owner)
	seen := map[uint16]bool{}
	var out []uint16
	for _, g := range p.byID[identity] {
		subject, ok := g.subject(owner)
		if !ok || !g.matches(subject) {
			continue
		}
		for _, t := range g.Types {
			if !seen[t] {
				seen[t] = true
				out = append(out, t)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// Op is the kind of a change.
type Op uint8

// Changes, after RFC 2136 §2.5.
const (
	// Add one record (Change.RR).
	Add Op = iota + 1
	// Delete one record (Change.RR; its TTL and class do not matter).
	Delete
	// DeleteRRset deletes the records of one type (Change.Type) at Change.Name.
	DeleteRRset
	// DeleteName deletes every record at Change.Name: allowed when the
	// identity has a grant at that name; the caller deletes only the types
	// Types returns.
	DeleteName
)

func (o Op) String() string {
	switch o {
	case Add:
		return "add"
	case Delete:
		return "delete"
	case DeleteRRset:
		return "delete-rrset"
	case DeleteName:
		return "delete-name"
	}
	return fmt.Sprintf("Op(%d)", uint8(o))
}

// Change is one change a client asks for.
type Change struct {
	Op   Op
	Name string // owner (from RR when RR is set)
	Type uint16 // from RR when RR is set
	RR   dns.RR // Add, Delete
}

func (c Change) owner() (string, uint16) {
	if c.RR != nil {
		return Canonical(c.RR.Header().Name), c.RR.Header().Rrtype
	}
	return Canonical(c.Name), c.Type
}

func (c Change) String() string {
	name, t := c.owner()
	if c.Op == DeleteName {
		return fmt.Sprintf("%s %s", c.Op, name)
	}
	return fmt.Sprintf("%s %s/%s", c.Op, name, dns.TypeToString[t])
}

// Denied is why a change is not allowed.
type Denied struct {
	Identity string
	Change   Change
	// Invalid is true when a grant covers the owner and type but its
	// validator rejected the record; false when no grant covers it.
	Invalid bool
	Reason  string
}

func (d *Denied) Error() string {
	if d.Invalid {
		return fmt.Sprintf("%s: %s: invalid record: %s", d.Identity, d.Change, d.Reason)
	}
	return fmt.Sprintf("%s: %s: not granted", d.Identity, d.Change)
}

// Authorize checks every change of a request against identity's grants and
// returns a *Denied for the first change no grant allows (the request must
// then be refused whole), or nil.
func (p *Policy) Authorize(identity string, changes []Change) error {
	for _, c := range changes {
		if err := p.authorize(identity, c); err != nil {
			return err
		}
	}
	return nil
}

func (p *Policy) authorize(identity string, c Change) error {
	owner, t := c.owner()
	if c.Op == DeleteName {
		if len(p.Types(identity, owner)) == 0 {
			return &Denied{Identity: identity, Change: c}
		}
		return nil
	}
	var invalid error
	for _, g := range p.byID[identity] {
		if !g.covers(owner, t) {
			continue
		}
		if c.Op != Add || g.Validate == nil {
			return nil
		}
		err := g.Validate(c.RR)
		if err == nil {
			return nil
		}
		if invalid == nil {
			invalid = err
		}
	}
	if invalid != nil {
		return &Denied{Identity: identity, Change: c, Invalid: true, Reason: invalid.Error()}
	}
	return &Denied{Identity: identity, Change: c}
}
