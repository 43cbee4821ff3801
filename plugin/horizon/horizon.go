// Package horizon assigns each query a view (split horizon) by the client's
// source network, the address it was sent to, or the TSIG key that signed it;
// authzone then answers from that view's model of the zone.
package horizon

import (
	"context"
	"net"
	"net/netip"

	"github.com/dnspki/dnspki/plugin/pkg/metric"

	"github.com/coredns/coredns/plugin"
	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/dnspki/dnspki/plugin/pkg/ede"
	"github.com/dnspki/dnspki/plugin/pkg/tsigauth"
	"github.com/dnspki/dnspki/plugin/pkg/zonemodel"
)

var queries = metric.CounterVec("horizon_queries_total", "Queries assigned to each view.", "view")

// View is one view and what selects it. A view with no selector matches
// every query (the default view; it must be last).
type View struct {
	Name         string
	Sources      []netip.Prefix
	Destinations []netip.Prefix
	Keys         []string // lowercase FQDN TSIG key names
	counter      prometheus.Counter
}

// Horizon selects views.
type Horizon struct {
	Next  plugin.Handler
	Views []*View
	// traced: the server block has the trace plugin, whose per-plugin spans
	// need plugin.NextOrFailure; without it the next plugin is called
	// directly (NextOrFailure's writer wrapper costs an allocation and a
	// frame per query, and the responses' plugin label is set by the plugin
	// after prometheus anyway).
	traced bool
	// needSrc, needDst: some view selects by source or destination address.
	needSrc, needDst bool
}

// Name implements plugin.Handler.
func (h *Horizon) Name() string { return pluginName }

// ServeDNS assigns the view and passes the query on.
func (h *Horizon) ServeDNS(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
	v := h.Select(ctx, w, r)
	if v == nil {
		// No view matches and there is no default: nothing to answer from.
		m := new(dns.Msg)
		m.SetRcode(r, dns.RcodeRefused)
		ede.Add(r, m, dns.ExtendedErrorCodeProhibited, "")
		w.WriteMsg(m)
		return dns.RcodeSuccess, nil
	}
	v.counter.Inc()
	ctx = zonemodel.WithView(ctx, v.Name)
	if h.traced || h.Next == nil {
		return plugin.NextOrFailure(h.Name(), h.Next, ctx, w, r)
	}
	return h.Next.ServeDNS(ctx, w, r)
}

// Select returns the first view that matches the query, or nil. A key
// selector matches the key the server block's gate verified (tsigauth);
// nothing else about the request's TSIG is looked at here.
func (h *Horizon) Select(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) *View {
	var src, dst netip.Addr
	if h.needSrc {
		src = addrOf(w.RemoteAddr())
	}
	if h.needDst {
		dst = addrOf(w.LocalAddr())
	}
	key := ""
	if r.IsTsig() != nil {
		key = tsigauth.KeyName(ctx)
	}
	for _, v := range h.Views {
		if v.matches(src, dst, key) {
			return v
		}
	}
	return nil
}

// matches: a view matches when every kind of selector it has matches (any
// of the listed values); a view without selectors matches everything. A key
// selector matches a request signed by that key with a valid signature; such
// a request matches the view whatever its addresses, like BIND's
// match-clients { key ...; }.
func (v *View) matches(src, dst netip.Addr, key string) bool {
	if len(v.Keys) > 0 && key != "" {
		for _, k := range v.Keys {
			if k == key {
				return true
			}
		}
	}
	if len(v.Sources) == 0 && len(v.Destinations) == 0 {
		return len(v.Keys) == 0
	}
	return inAny(src, v.Sources) && inAny(dst, v.Destinations)
}

func inAny(a netip.Addr, ps []netip.Prefix) bool {
	if len(ps) == 0 {
		return true
	}
	if !a.IsValid() {
		return false
	}
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func addrOf(a net.Addr) netip.Addr {
	var ip net.IP
	switch v := a.(type) {
	case *net.UDPAddr:
		ip = v.IP
	case *net.TCPAddr:
		ip = v.IP
	default:
		if a == nil {
			return netip.Addr{}
		}
		host, _, err := net.SplitHostPort(a.String())
		if err != nil {
			return netip.Addr{}
		}
		ip = net.ParseIP(host)
	}
	addr, ok := netip.AddrFromSlice(ip)
	if !ok {
		return netip.Addr{}
	}
	return addr.Unmap()
}
