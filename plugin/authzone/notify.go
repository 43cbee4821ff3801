package authzone

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/miekg/dns"

	"github.com/dnspki/dnspki/plugin/pkg/sched"
	"github.com/dnspki/dnspki/plugin/pkg/xfrpeer"
	"github.com/dnspki/dnspki/plugin/pkg/zonemodel"
)

// NOTIFY retries: an unanswered or refused NOTIFY is sent again after 1 s,
// then 2, 4, ... up to 60 s between attempts, at most notifyAttempts times;
// the next change of the zone starts again.
var (
	notifyAttempts   = 8 // sends of one round
	notifyBackoff    = time.Second
	notifyBackoffMax = 60 * time.Second
)

// notifier announces the changes of one view to one secondary (RFC 1996),
// as a job of the zone's group in the NOTIFY scheduler (notifyScheduler):
// no goroutine of its own. There is at most one NOTIFY in flight per zone,
// view and target (one job per notifier, never two runs at once); changes
// that arrive meanwhile coalesce into one more NOTIFY, and every attempt
// carries the serial current when it is sent, so the latest serial is always
// announced. An unacknowledged NOTIFY is retried with exponential backoff;
// a new change during the backoff is announced at once.
type notifier struct {
	view *zonemodel.View
	peer *xfrpeer.Peer
	// onAck hears every acknowledged NOTIFY (the status of the zone's
	// secondaries); nil: nobody listens.
	onAck func(serial uint32)

	mu    sync.Mutex
	ctx   context.Context // the zone's, once started
	jobs  *sched.Group    // the zone's NOTIFY jobs, once started
	poked bool            // a change since the last send began: a new round

	// The send job's own (one run at a time).
	acked   uint32
	ok      bool // acked is set
	attempt int  // failed sends of this round
	backoff time.Duration
}

func newNotifier(v *zonemodel.View, p *xfrpeer.Peer) *notifier {
	return &notifier{view: v, peer: p}
}

// start lets the notifier send in g (the zone's group) until ctx ends, and
// announces the current serial.
func (n *notifier) start(ctx context.Context, g *sched.Group) {
	n.mu.Lock()
	n.ctx, n.jobs = ctx, g
	n.mu.Unlock()
	n.poke()
}

// poke asks for a NOTIFY with the current serial, now (a retry waiting
// for its backoff goes now too, counted as a new round).
func (n *notifier) poke() {
	n.mu.Lock()
	n.poked = true
	g := n.jobs
	n.mu.Unlock()
	if g != nil {
		g.Soon(n, g.Now(), n.send)
	}
}

// send is the notifier's job: one NOTIFY with the current serial unless
// the secondary acknowledged it already, then a retry after the backoff if
// it was not acknowledged (until notifyAttempts).
func (n *notifier) send() {
	n.mu.Lock()
	ctx, g := n.ctx, n.jobs
	if n.poked {
		n.poked, n.attempt, n.backoff = false, 0, notifyBackoff
	}
	n.mu.Unlock()
	origin := n.view.Zone().Origin
	snap := n.view.Snapshot()
	if ctx.Err() != nil || snap.SOA() == nil || (n.ok && n.acked == snap.Serial) {
		return
	}
	err := sendNotify(ctx, n.peer, origin, snap.SOA().RRs[0])
	if ctx.Err() != nil {
		return
	}
	if err == nil {
		n.acked, n.ok = snap.Serial, true
		if n.onAck != nil {
			n.onAck(snap.Serial)
		}
		notifyOut.WithLabelValues(origin, n.view.Name, n.peer.Addr, "ok").Inc()
		log.Debugf("zone %s view %s: NOTIFY serial %d acknowledged by %s", origin, n.view.Name, snap.Serial, n.peer.Addr)
		return
	}
	n.attempt++
	if n.attempt >= notifyAttempts {
		notifyOut.WithLabelValues(origin, n.view.Name, n.peer.Addr, "failed").Inc()
		log.Warningf("zone %s view %s: NOTIFY serial %d to %s: %v; giving up after %d attempts (the secondary still refreshes by its SOA timers)", origin, n.view.Name, snap.Serial, n.peer.Addr, err, n.attempt)
		return
	}
	notifyOut.WithLabelValues(origin, n.view.Name, n.peer.Addr, "retry").Inc()
	log.Infof("zone %s view %s: NOTIFY serial %d to %s: %v; retrying in %s", origin, n.view.Name, snap.Serial, n.peer.Addr, err, n.backoff)
	// Soon: a change meanwhile (poked) keeps its NOTIFY now.
	g.Soon(n, g.Now().Add(n.backoff), n.send)
	n.backoff = min(2*n.backoff, notifyBackoffMax)
}

// sendNotify sends one NOTIFY for origin with the SOA in the answer section
// (RFC 1996 §3.7), signed with the peer's key if it has one, and checks the
// acknowledgement.
func sendNotify(ctx context.Context, p *xfrpeer.Peer, origin string, soa dns.RR) error {
	m := new(dns.Msg)
	m.SetNotify(origin)
	m.Answer = []dns.RR{soa}
	r, err := xfrpeer.Exchange(ctx, p, m, "udp")
	if err == nil && r.Truncated {
		r, err = xfrpeer.Exchange(ctx, p, m, "tcp")
	}
	if err != nil {
		return err
	}
	if r.Rcode != dns.RcodeSuccess {
		return xfrpeer.RcodeError(r)
	}
	if r.Opcode != dns.OpcodeNotify {
		return fmt.Errorf("answer has opcode %s, not NOTIFY", dns.OpcodeToString[r.Opcode])
	}
	return nil
}
