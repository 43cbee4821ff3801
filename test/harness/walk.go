package harness

import (
	"strings"

	"github.com/miekg/dns"
)

// WalkNSEC walks a zone as an NSEC zone walker would: from the start names,
// breadth first, it calls visit for each name once (visit asks the server
// what it wants and returns every record it got back) and follows the owner
// and next names of the NSEC records visit returns, below zone, for at most
// limit names. It returns the names visited.
func WalkNSEC(zone string, start []string, limit int, visit func(name string) []dns.RR) map[string]bool {
	seen := map[string]bool{}
	queue := start
	for steps := 0; len(queue) > 0 && steps < limit; steps++ {
		n := queue[0]
		queue = queue[1:]
		if seen[n] {
			continue
		}
		seen[n] = true
		for _, rr := range visit(n) {
			ns, ok := rr.(*dns.NSEC)
			if !ok {
				continue
			}
			for _, x := range []string{ns.NextDomain, ns.Hdr.Name} {
				x = strings.ToLower(x)
				if !seen[x] && len(x) < 200 && dns.IsSubDomain(zone, x) {
					queue = append(queue, x)
				}
			}
		}
	}
	return seen
}
