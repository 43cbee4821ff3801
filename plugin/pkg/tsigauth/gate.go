package tsigauth

import (
	"context"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coredns/coredns/plugin"
	clog "github.com/coredns/coredns/plugin/pkg/log"
	"github.com/miekg/dns"
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
// Decided): the log says which key, which name and why (at most logBurst
// lines a second; the rest are counted and summed up in the next line), the
// metric counts every one.
func refuse(ctx context.Context, w dns.ResponseWriter, r *dns.Msg, f *Failure) {
	refused.WithLabelValues(f.Reason).Inc()
	if logs.allow() {
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
		log.Warningf("%s %s from %s, key %s: refused (%s): %s%s", kind, name, addr(w.RemoteAddr()), key, rc, f.Msg, logs.suppressed())
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

// logLimit lets logBurst lines a second through and counts the rest.
type logLimit struct {
	mu      sync.Mutex
	second  int64
	n       int
	dropped int
}

const logBurst = 20

var logs logLimit

func (l *logLimit) allow() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if s := time.Now().Unix(); s != l.second {
		l.second, l.n = s, 0
	}
	l.n++
	if l.n > logBurst {
		l.dropped++
		return false
	}
	return true
}

// suppressed is the note about lines not logged since the last one.
func (l *logLimit) suppressed() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.dropped == 0 {
		return ""
	}
	s := " (" + strconv.Itoa(l.dropped) + " more refusals not logged)"
	l.dropped = 0
	return s
}
