package authzone

import (
	"context"
	"fmt"
	"time"

	"github.com/miekg/dns"

	"github.com/dnspki/dnspki/plugin/pkg/xfrpeer"
	"github.com/dnspki/dnspki/plugin/pkg/zonemodel"
)

// NOTIFY retries: an unanswered or refused NOTIFY is sent again after 1 s,
// then 2, 4, ... up to 60 s between attempts, at most notifyAttempts times;
// the next change of the zone starts again.
var (
	notifyAttempts   = 8
	notifyBackoff    = time.Second
	notifyBackoffMax = 60 * time.Second
)

// notifier announces the changes of one view to one secondary (RFC 1996).
// There is at most one NOTIFY in flight per zone, view and target; changes
// that arrive meanwhile coalesce into one more NOTIFY, and every attempt
// carries the serial current when it is sent, so the latest serial is always
// announced. An unacknowledged NOTIFY is retried with exponential backoff;
// a new change during the backoff is announced at once.
type notifier struct {
	view  *zonemodel.View
	peer  *xfrpeer.Peer
	kick  chan struct{}
	acked uint32
	ok    bool // acked is set
	// onAck hears every acknowledged NOTIFY (the status of the zone's
	// secondaries); nil: nobody listens.
	onAck func(serial uint32)
}

func newNotifier(v *zonemodel.View, p *xfrpeer.Peer) *notifier {
	return &notifier{view: v, peer: p, kick: make(chan struct{}, 1)}
}

// poke asks for a NOTIFY with the current serial.
func (n *notifier) poke() {
	select {
	case n.kick <- struct{}{}:
	default:
	}
}

// run sends the NOTIFYs until ctx (the zone's) ends.
func (n *notifier) run(ctx context.Context) {
	done := ctx.Done()
	origin := n.view.Zone().Origin
	for {
		select {
		case <-done:
			return
		case <-n.kick:
		}
		backoff := notifyBackoff
		for attempt := 1; ; attempt++ {
			snap := n.view.Snapshot()
			if snap.SOA() == nil || (n.ok && n.acked == snap.Serial) {
				break
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
				break
			}
			if attempt >= notifyAttempts {
				notifyOut.WithLabelValues(origin, n.view.Name, n.peer.Addr, "failed").Inc()
				log.Warningf("zone %s view %s: NOTIFY serial %d to %s: %v; giving up after %d attempts (the secondary still refreshes by its SOA timers)", origin, n.view.Name, snap.Serial, n.peer.Addr, err, attempt)
				break
			}
			notifyOut.WithLabelValues(origin, n.view.Name, n.peer.Addr, "retry").Inc()
			log.Infof("zone %s view %s: NOTIFY serial %d to %s: %v; retrying in %s", origin, n.view.Name, snap.Serial, n.peer.Addr, err, backoff)
			select {
			case <-done:
				return
			case <-time.After(backoff):
				backoff = min(2*backoff, notifyBackoffMax)
			case <-n.kick:
				// A newer change: announce it now rather than after the
				// backoff (the secondary may be back), and count again.
				attempt, backoff = 0, notifyBackoff
			}
		}
	}
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
