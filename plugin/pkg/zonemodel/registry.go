package zonemodel

import (
	"context"
	"fmt"
	"sort"
	"sync"

	"github.com/miekg/dns"
)

// Signer renders signed answers for a zone. The online signer sets one on the
// zones it signs; answers to queries with the DO bit then go through it.
type Signer interface {
	// Render writes resp into m (a reply to req) with signatures and the
	// denial-of-existence records its Denials call for. An error means the
	// answer cannot be signed: the caller answers SERVFAIL, never unsigned.
	Render(ctx context.Context, view *View, req *dns.Msg, resp *Response, m *dns.Msg) error
}

// ChainSigner is implemented by a Signer that can also sign a whole view for
// secondaries that are not dnspki (BIND, Knot, NSD): a transfer configured
// "signed" sends the zone with RRSIGs and a complete NSEC or NSEC3 chain,
// because those servers can neither sign answers online nor synthesize compact
// denial. For them the chain replaces online compact denial (RFC 9824); dnspki's
// own answers keep using Signer.Render.
//
// authzone consults it only for transfers configured "signed"; a zone with
// such a transfer and no ChainSigner fails to start.
type ChainSigner interface {
	Signer
	// SignedZone returns every record of snap in transfer order, signed for a
	// static copy: the DNSKEY RRset (and CDS/CDNSKEY as served), RRSIGs over
	// every authoritative RRset, and a complete NSEC chain (or NSEC3 records
	// and NSEC3PARAM) with their RRSIGs. The first record is the apex SOA
	// carrying snap.Serial; the caller repeats it at the end of an AXFR.
	// Called once per transfer; the same snapshot should give the same
	// records (cache signatures on RRset.Aux), so repeated transfers are cheap.
	// Signed transfers are always full zones (AXFR, or AXFR-form answers to
	// IXFR) until the signer can also produce signed differences.
	SignedZone(ctx context.Context, view *View, snap *Snapshot) ([]dns.RR, error)
}

type signerBox struct{ s Signer }

// SetSigner attaches the zone's signer (nil detaches it).
func (z *Zone) SetSigner(s Signer) {
	if s == nil {
		z.signer.Store(nil)
		return
	}
	z.signer.Store(&signerBox{s})
}

// Signer returns the zone's signer, or nil when the zone is not signed.
func (z *Zone) Signer() Signer {
	if b := z.signer.Load(); b != nil {
		return b.s
	}
	return nil
}

// Binding is how a plugin other than the zone's owner takes part in a zone:
// Attach runs before the zone opens (add sources, stage initial content, set a
// signer); Started runs once the zone is open and serving (start watchers,
// timers). Either may be nil.
type Binding struct {
	Plugin  string
	Attach  func(z *Zone) error
	Started func(z *Zone) error
}

// Registry holds the zones of one configuration generation (one Corefile
// load) and the bindings other plugins asked for.
type Registry struct {
	mu       sync.Mutex
	zones    map[string]*Zone
	bindings map[string][]Binding
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{zones: map[string]*Zone{}, bindings: map[string][]Binding{}}
}

// Add registers a zone; an origin can be served once per configuration.
func (r *Registry) Add(z *Zone) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.zones[z.Origin] != nil {
		return fmt.Errorf("zone %s is configured twice", z.Origin)
	}
	r.zones[z.Origin] = z
	return nil
}

// Zone returns the zone for origin, or nil.
func (r *Registry) Zone(origin string) *Zone {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.zones[Fqdn(origin)]
}

// Zones returns every zone, by origin.
func (r *Registry) Zones() []*Zone {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*Zone, 0, len(r.zones))
	for _, z := range r.zones {
		out = append(out, z)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Origin < out[j].Origin })
	return out
}

// Match returns the zone that is the closest enclosing zone of name, or nil.
func (r *Registry) Match(name string) *Zone {
	name = Fqdn(name)
	r.mu.Lock()
	defer r.mu.Unlock()
	for n := name; ; n = Parent(n) {
		if z := r.zones[n]; z != nil {
			return z
		}
		if n == "." {
			return nil
		}
	}
}

// Bind asks for a binding to the zone origin; it runs when the zone opens.
func (r *Registry) Bind(origin string, b Binding) {
	r.mu.Lock()
	defer r.mu.Unlock()
	origin = Fqdn(origin)
	r.bindings[origin] = append(r.bindings[origin], b)
}

// Bindings returns the bindings asked for origin.
func (r *Registry) Bindings(origin string) []Binding {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Binding(nil), r.bindings[Fqdn(origin)]...)
}

// Unbound lists the origins that bindings were asked for but that no zone
// serves, with the plugins that asked.
func (r *Registry) Unbound() map[string][]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string][]string{}
	for origin, bs := range r.bindings {
		if r.zones[origin] == nil {
			for _, b := range bs {
				out[origin] = append(out[origin], b.Plugin)
			}
		}
	}
	return out
}

type viewKey struct{}

// WithView returns ctx carrying the name of the view a query was assigned to.
func WithView(ctx context.Context, view string) context.Context {
	return context.WithValue(ctx, viewKey{}, view)
}

// ViewFromContext returns the view a query was assigned to, or "".
func ViewFromContext(ctx context.Context) string {
	if v, ok := ctx.Value(viewKey{}).(string); ok {
		return v
	}
	return ""
}
