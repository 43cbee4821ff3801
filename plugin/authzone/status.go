package authzone

import (
	"net/netip"
	"sort"
	"sync"
	"time"

	"github.com/dnspki/dnspki/plugin/pkg/metric"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dnspki/dnspki/plugin/pkg/secondary"
	"github.com/dnspki/dnspki/plugin/pkg/xfrpeer"
	"github.com/dnspki/dnspki/plugin/pkg/zonemodel"
)

// ZoneStatus is what the status page shows of one zone authzone serves: its
// views, the primary it copies from (a secondary zone), and the secondaries
// that copy it from dnspki with the serial each acknowledged.
type ZoneStatus struct {
	Zone       string             `json:"zone"`
	Signed     bool               `json:"signed"`
	Views      []ViewStatus       `json:"views"`
	Secondary  *SecondaryStatus   `json:"secondary,omitempty"`
	Downstream []DownstreamStatus `json:"downstream,omitempty"`
}

// ViewStatus is one view's serial and last change.
type ViewStatus struct {
	Name    string `json:"name"`
	Serial  uint32 `json:"serial"`
	Loaded  bool   `json:"loaded"`
	Records int    `json:"records"`
	// LastChange is the time of the view's last journaled change (zero when
	// the journal holds none).
	LastChange time.Time `json:"last_change,omitzero"`
}

// SecondaryStatus is a zone dnspki copies from a primary (its secondary
// reports it: plugin/pkg/secondary).
type SecondaryStatus = secondary.Status

// DownstreamStatus is a secondary that copies a view of the zone from
// dnspki: a `notify` target, or a client that transferred the zone.
type DownstreamStatus struct {
	// Peer is the notify target's address, else the client's TSIG key name
	// or address.
	Peer string `json:"peer"`
	View string `json:"view"`
	Key  string `json:"key,omitempty"`
	// Notified is the serial of the last NOTIFY it acknowledged.
	Notified   uint32    `json:"notify_acked_serial,omitempty"`
	NotifiedAt time.Time `json:"notify_acked_at,omitzero"`
	// Serial is the serial it acknowledged holding: the one its last IXFR
	// request named, or the one of the last transfer it took whole.
	Serial      uint32    `json:"serial"`
	SerialKnown bool      `json:"serial_known"`
	SerialFrom  string    `json:"serial_from,omitempty"` // ixfr-request, axfr, ixfr, uptodate
	SeenAt      time.Time `json:"seen_at,omitzero"`      // its last transfer or signed SOA query
	// Lag is how many serials it is behind the view (0 when it holds the
	// current one; only with SerialKnown).
	Lag uint32 `json:"lag"`
}

// downstream remembers what the secondaries of one zone acknowledged
// (in memory: after a restart a secondary is known again at its next
// transfer).
type downstream struct {
	mu    sync.Mutex
	peers map[string]*DownstreamStatus // by view + "|" + label
}

// label is how a secondary is recognised in its requests: its TSIG key,
// else its address.
func label(key string, ip netip.Addr) string { return peerLabel(key, ip) }

// maxDownstream bounds the secondaries remembered per zone: a transfer ACL
// open to many addresses must not let clients grow the table without end
// (the notify targets are entered first, so they always have their place).
const maxDownstream = 256

// entry returns the secondary's entry, made if there is room (nil if not).
func (d *downstream) entry(view, lbl string) *DownstreamStatus {
	k := view + "|" + lbl
	e := d.peers[k]
	if e == nil {
		if len(d.peers) >= maxDownstream {
			return nil
		}
		e = &DownstreamStatus{Peer: lbl, View: view}
		d.peers[k] = e
	}
	return e
}

// transferred records a transfer to a secondary: an IXFR request names the
// serial it holds; a completed transfer leaves it at the serial sent.
func (d *downstream) transferred(view, key string, ip netip.Addr, held uint32, ixfr bool, kind string, sent uint32) {
	d.mu.Lock()
	defer d.mu.Unlock()
	e := d.entry(view, label(key, ip))
	if e == nil {
		return
	}
	e.SeenAt = time.Now().UTC()
	if key != "" {
		e.Key = key
	}
	switch {
	case kind == "axfr" || kind == "ixfr":
		e.Serial, e.SerialKnown, e.SerialFrom = sent, true, kind
	case kind == "uptodate":
		e.Serial, e.SerialKnown, e.SerialFrom = held, true, kind
	case ixfr:
		e.Serial, e.SerialKnown, e.SerialFrom = held, true, "ixfr-request"
	}
}

// askedSOA records a signed SOA query at the apex (a secondary checking
// for a new serial).
func (d *downstream) askedSOA(key string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, e := range d.peers {
		if e.Key == key || e.Peer == key {
			e.SeenAt = time.Now().UTC()
		}
	}
}

// notifyAcked records a NOTIFY the target acknowledged.
func (d *downstream) notifyAcked(n *notifier, serial uint32) {
	d.mu.Lock()
	defer d.mu.Unlock()
	e := d.entry(n.view.Name, targetLabel(n.peer))
	if e == nil {
		return
	}
	e.Notified, e.NotifiedAt = serial, time.Now().UTC()
}

// targetLabel is the label a notify target's transfers carry: its key, else
// its address.
func targetLabel(p *xfrpeer.Peer) string { return label(p.KeyName(), p.IP) }

// downstreams are the tables of the serving zones, by zone state.
var downstreams sync.Map // *zoneState -> *downstream

// down returns the zone's table, with an entry per notify target.
func (zs *zoneState) down() *downstream {
	if d, ok := downstreams.Load(zs); ok {
		return d.(*downstream)
	}
	d := &downstream{peers: map[string]*DownstreamStatus{}}
	for _, n := range zs.notifiers {
		if e := d.entry(n.view.Name, targetLabel(n.peer)); e != nil {
			e.Peer, e.Key = n.peer.Addr, n.peer.KeyName()
		}
	}
	v, _ := downstreams.LoadOrStore(zs, d)
	return v.(*downstream)
}

// serving is the zone state that serves each origin now (the newest
// configuration's).
var serving = struct {
	sync.Mutex
	m map[string]*zoneState
}{m: map[string]*zoneState{}}

func (zs *zoneState) publishStatus() {
	zs.down()
	serving.Lock()
	serving.m[zs.zone.Origin] = zs
	serving.Unlock()
}

func (zs *zoneState) forgetStatus() {
	serving.Lock()
	if serving.m[zs.zone.Origin] == zs {
		delete(serving.m, zs.zone.Origin)
	}
	serving.Unlock()
	downstreams.Delete(zs)
}

// Status reports every zone authzone serves, by origin.
func Status() []ZoneStatus {
	serving.Lock()
	zss := make([]*zoneState, 0, len(serving.m))
	for _, zs := range serving.m {
		zss = append(zss, zs)
	}
	serving.Unlock()
	sort.Slice(zss, func(i, j int) bool { return zss[i].zone.Origin < zss[j].zone.Origin })
	out := make([]ZoneStatus, 0, len(zss))
	for _, zs := range zss {
		out = append(out, zs.status())
	}
	return out
}

func (zs *zoneState) status() ZoneStatus {
	z := zs.zone
	st := ZoneStatus{Zone: z.Origin, Signed: z.Signer() != nil}
	serials := map[string]uint32{}
	for _, v := range z.Views() {
		snap := v.Snapshot()
		vs := ViewStatus{Name: v.Name, Serial: snap.Serial, Loaded: snap.SOA() != nil, Records: snap.Records()}
		if t, ok := v.LastChange(); ok {
			vs.LastChange = t.UTC()
		}
		serials[v.Name] = snap.Serial
		st.Views = append(st.Views, vs)
	}
	if zs.sec != nil {
		s := zs.sec.Status()
		st.Secondary = &s
	}
	d := zs.down()
	d.mu.Lock()
	for _, e := range d.peers {
		c := *e
		if c.SerialKnown {
			if cur, ok := serials[c.View]; ok && zonemodel.SerialGreater(cur, c.Serial) {
				c.Lag = cur - c.Serial
			}
		}
		st.Downstream = append(st.Downstream, c)
	}
	d.mu.Unlock()
	sort.Slice(st.Downstream, func(i, j int) bool {
		a, b := st.Downstream[i], st.Downstream[j]
		if a.View != b.View {
			return a.View < b.View
		}
		return a.Peer < b.Peer
	})
	return st
}

// The secondaries' acknowledged serials and lag, for the alert on a
// secondary that falls behind.
var (
	downstreamSerialDesc = metric.Desc("xfr_downstream_serial", "The serial a secondary of the zone acknowledged holding (its last IXFR request, or the last transfer it took), per zone, view and secondary.", "zone", "view", "peer")
	downstreamLagDesc    = metric.Desc("xfr_downstream_lag_serials", "How many serials a secondary is behind the view it copies, per zone, view and secondary.", "zone", "view", "peer")
)

type downstreamCollector struct{}

func (downstreamCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- downstreamSerialDesc
	ch <- downstreamLagDesc
}

func (downstreamCollector) Collect(ch chan<- prometheus.Metric) {
	for _, z := range Status() {
		for _, d := range z.Downstream {
			if !d.SerialKnown {
				continue
			}
			ch <- prometheus.MustNewConstMetric(downstreamSerialDesc, prometheus.GaugeValue, float64(d.Serial), z.Zone, d.View, d.Peer)
			ch <- prometheus.MustNewConstMetric(downstreamLagDesc, prometheus.GaugeValue, float64(d.Lag), z.Zone, d.View, d.Peer)
		}
	}
}

func init() { prometheus.MustRegister(downstreamCollector{}) }
