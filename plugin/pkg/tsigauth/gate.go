package tsigauth

import (
	"context"
	"net"
	"strings"

	"github.com/coredns/coredns/plugin"
	clog "github.com/coredns/coredns/plugin/pkg/log"
	"github.com/miekg/dns"

	"github.com/dnspki/dnspki/plugin/pkg/loglimit"
)

var log = clog.NewWithPlugin("dnspki-tsig")

// gate is the first handler of a server block with dnspki plugins. It
// passes plain unsigned requests on at once; every other request is
// checked (Authenticate): refused with FORMERR, NOTAUTH or REFUSED and
// nothing else, or passed on with the decision in its context.
type gate struct {
	b    *Block
	next plugin.Handler
}

// Name implements plugin.Handler.
func (g *gate) Name() string { return "dnspki-tsig" }

// ServeDNS implements plugin.Handler.
func (g *gate) ServeDNS(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
	if plain(r) {
		return g.next.ServeDNS(ctx, w, r)
	}
	id, f := g.b.Authenticate(ctx, w, r)
	if f != nil {
		refuse(ctx, w, r, f)
		return dns.RcodeSuccess, nil
	}
	if id.Signed() {
		ctx = WithIdentity(ctx, id)
		if id.Key != nil {
			verified.WithLabelValues(id.Key.Name).Inc()
		}
	}
	return g.next.ServeDNS(ctx, w, r)
}

// refuse answers and reports a refused request (by the gate, or by
// Decided): the log says which key, which name and why (within the
// refusal log budget, package loglimit), the metric counts every one.
func refuse(ctx context.Context, w dns.ResponseWriter, r *dns.Msg, f *Failure) {
	refused.WithLabelValues(f.Reason).Inc()
	if loglimit.Refusals.Allow() {
		key := "-"
		if t := r.IsTsig(); t != nil {
			key = strings.ToLower(t.Hdr.Name)
		} else if f.tsig != nil {
			key = strings.ToLower(f.tsig.Hdr.Name)
		}
		kind, name := dns.OpcodeToString[r.Opcode], "-"
		if len(r.Question) > 0 {
			name = r.Question[0].Name
			if r.Opcode == dns.OpcodeQuery {
				kind = dns.TypeToString[r.Question[0].Qtype]
			}
		}
		rc := dns.RcodeToString[f.Rcode]
		if f.Rcode == dns.RcodeNotAuth {
			rc += "/" + dns.RcodeToString[int(f.Error)]
		}
		log.Warningf("%s %s from %s, key %s: refused (%s): %s%s", kind, name, addr(w.RemoteAddr()), key, rc, f.Msg, loglimit.Refusals.Suppressed())
	}
	if err := WriteFailure(ctx, w, r, f); err != nil {
		log.Errorf("writing the %s answer: %v", dns.RcodeToString[f.Rcode], err)
	}
}

func addr(a net.Addr) string {
	if a == nil {
		return "?"
	}
	return a.String()
}
