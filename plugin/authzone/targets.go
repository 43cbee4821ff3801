package authzone

import (
	"sync"

	"github.com/dnspki/dnspki/plugin/pkg/zonemodel"
)

// NotifyTarget is a server authzone sends NOTIFY to after every change of a
// zone (a `notify` line): a secondary that copies the zone from dnspki.
type NotifyTarget struct {
	Addr string // host:port
	View string // the view whose changes it is told about (and transfers)
	Key  string // TSIG key name of its NOTIFY, "" if unsigned
}

// targets maps a zone (one configuration generation) to its NOTIFY targets.
var targets sync.Map // *zonemodel.Zone -> []NotifyTarget

// NotifyTargets returns the secondaries authzone notifies for z: the
// authoritative servers besides dnspki itself that serve the zone's changes.
// A plugin that must know a change is served everywhere before something
// else looks (an ACME client before it asks the CA to validate) checks them.
func NotifyTargets(z *zonemodel.Zone) []NotifyTarget {
	if v, ok := targets.Load(z); ok {
		return append([]NotifyTarget(nil), v.([]NotifyTarget)...)
	}
	return nil
}

func (zs *zoneState) registerTargets() {
	var out []NotifyTarget
	for _, n := range zs.notifiers {
		out = append(out, NotifyTarget{Addr: n.peer.Addr, View: n.view.Name, Key: n.peer.KeyName()})
	}
	targets.Store(zs.zone, out)
}
