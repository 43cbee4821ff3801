package authzone

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/miekg/dns"
)

// aclEntry is one `transfer to ...` or `allow-notify ...` line: a request
// matches when it comes from one of the networks and, if keys are listed, is
// signed (and verified) with one of them.
type aclEntry struct {
	nets   []netip.Prefix
	keys   []string // lowercase fully qualified key names; empty: no key needed
	view   string   // transfer: the view this entry transfers ("" any)
	signed bool     // transfer: send the zone signed with a full denial chain
	tls    bool     // transfer: only over TLS (XoT, RFC 9103; xot.go)
	line   int
}

func (e *aclEntry) matchAddr(ip netip.Addr) bool {
	ip = ip.Unmap()
	for _, n := range e.nets {
		if n.Contains(ip) {
			return true
		}
	}
	return false
}

func (e *aclEntry) matchKey(key string) bool {
	if len(e.keys) == 0 {
		return true
	}
	return key != "" && slices.Contains(e.keys, key)
}

// allowNotify is the check of a secondary zone's allow-notify entries: a
// NOTIFY from ip signed with key ("" none) is accepted by one of them.
func allowNotify(entries []*aclEntry) func(ip netip.Addr, key string) bool {
	return func(ip netip.Addr, key string) bool {
		for _, e := range entries {
			if e.matchAddr(ip) && e.matchKey(key) {
				return true
			}
		}
		return false
	}
}

// parseNets parses addresses and prefixes; "*" is every address.
func parseNets(args []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, a := range args {
		if a == "*" || a == "any" {
			out = append(out, netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0"))
			continue
		}
		if strings.Contains(a, "/") {
			p, err := netip.ParsePrefix(a)
			if err != nil {
				return nil, fmt.Errorf("%q is not an address or prefix (such as 192.0.2.0/24): %v", a, err)
			}
			out = append(out, p.Masked())
			continue
		}
		ip, err := netip.ParseAddr(a)
		if err != nil {
			return nil, fmt.Errorf("%q is not an address or prefix (such as 192.0.2.0/24)", a)
		}
		ip = ip.Unmap()
		out = append(out, netip.PrefixFrom(ip, ip.BitLen()))
	}
	return out, nil
}

// parseHostPort parses "IP", "IP:PORT" or "[IPv6]:PORT" (port 53 by default).
func parseHostPort(s string) (string, netip.Addr, error) {
	if ip, err := netip.ParseAddr(s); err == nil {
		ip = ip.Unmap()
		return net.JoinHostPort(ip.String(), "53"), ip, nil
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return "", netip.Addr{}, fmt.Errorf("%q is not an address with an optional port (192.0.2.1, 192.0.2.1:5300, [2001:db8::1]:53)", s)
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return "", netip.Addr{}, fmt.Errorf("%q: %q is not an IP address (host names are not resolved)", s, host)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", netip.Addr{}, fmt.Errorf("%q: bad port %q", s, port)
	}
	ip = ip.Unmap()
	return net.JoinHostPort(ip.String(), port), ip, nil
}

// keyName normalizes a key name as written in the Corefile.
func keyName(s string) string { return strings.ToLower(dns.Fqdn(s)) }

// splitOptions splits args at the first of the option words: the values
// before it, then option → its arguments (options may repeat their word
// once). Unknown words after the first option are an error.
func splitOptions(args []string, options ...string) ([]string, map[string][]string, error) {
	var vals []string
	opts := map[string][]string{}
	cur := ""
	for _, a := range args {
		if slices.Contains(options, a) {
			if _, dup := opts[a]; dup {
				return nil, nil, fmt.Errorf("%q given twice", a)
			}
			opts[a] = []string{}
			cur = a
			continue
		}
		if cur == "" {
			vals = append(vals, a)
		} else {
			opts[cur] = append(opts[cur], a)
		}
	}
	return vals, opts, nil
}
