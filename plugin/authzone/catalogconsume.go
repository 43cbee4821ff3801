package authzone

import (
	"fmt"
	"maps"
	"sync"

	"github.com/dnspki/dnspki/plugin/pkg/metric"

	"github.com/coredns/caddy"

	"github.com/dnspki/dnspki/plugin/pkg/loglimit"
	"github.com/dnspki/dnspki/plugin/pkg/zonemodel"
)

var (
	catalogMembers = metric.GaugeVec("catalog_members", "Member zones dnspki serves from a consumed catalog zone, per catalog.", "catalog")
	catalogRefused = metric.CounterVec("catalog_refused_total", "Refusals while reading a consumed catalog zone, per catalog and what was refused (catalog: the whole catalog, e.g. its version; member: one member or property).", "catalog", "what")
)

// consumer follows a catalog zone dnspki holds as a secondary (RFC 9432
// §5): after every change of the catalog it provisions the member zones it
// lists (secondaries configured from the 'member' template), removes those
// it no longer lists (and their stored state) and resets a member whose
// unique ID changed. One goroutine per catalog, whatever the number of
// members; the members' data are their own zones' stores, so a restart
// serves them at once from the stored catalog.
type consumer struct {
	a    *AuthZone
	reg  *zonemodel.Registry // the configuration's zones
	cat  *zoneState
	tmpl *zoneSpec // the member template (origin and cfg.Origin unset)
	// groupTmpl are the templates of members with a group property.
	groupTmpl map[string]*zoneSpec
	kick      chan struct{}
	done      chan struct{}
	wg        sync.WaitGroup

	// members is only used by the consumer's goroutine (and stop, after it).
	members map[string]*consumedMember
	// stored is the member list saved before this start (zone -> ID), until
	// the first catalog processed; nil after.
	stored map[string]string
}

type consumedMember struct {
	id    string
	group string // the group whose template configured it ("": the default)
	zs    *zoneState
}

// membersMu serializes the publication of AuthZone.members by the
// consumers of one configuration (several catalogs in one server block).
var membersMu sync.Mutex

// buildConsumer sets up a consumed catalog: the member template (the
// catalog's primaries and keys unless 'member primary' says otherwise), and
// the consumer started once the catalog zone is open.
func (a *AuthZone) buildConsumer(c *caddy.Controller, reg *zonemodel.Registry, zs *zoneState) error {
	sp := zs.spec
	cn := &consumer{a: a, reg: reg, cat: zs, tmpl: memberTemplate(sp, sp.cat.member), groupTmpl: map[string]*zoneSpec{},
		kick: make(chan struct{}, 1), done: make(chan struct{}), members: map[string]*consumedMember{}}
	for g, t := range sp.cat.groupTemplates {
		cn.groupTmpl[g] = memberTemplate(sp, t)
	}
	reg.Bind(zs.zone.Origin, zonemodel.Binding{Plugin: pluginName, Started: func(z *zonemodel.Zone) error {
		stored, err := loadMembers(cn.file())
		if err != nil {
			return fmt.Errorf("catalog %s: %v", z.Origin, err)
		}
		cn.stored = stored
		z.Subscribe(func(zonemodel.Change) { cn.poke() })
		cn.wg.Add(1)
		go func() { defer cn.wg.Done(); cn.run() }()
		cn.poke()
		return nil
	}})
	c.OnShutdown(func() error { cn.stop(); return nil })
	return nil
}

// memberTemplate completes the template t (nil: none) of a consumed
// catalog sp's members: the catalog's state directory, keys and, unless it
// names its own, primaries.
func memberTemplate(sp *zoneSpec, t *zoneSpec) *zoneSpec {
	if t == nil {
		t = &zoneSpec{cfg: sp.cfg, reload: sp.reload}
	}
	tmpl := *t
	tmpl.cfg.StateDir = sp.cfg.StateDir
	tmpl.cfg.Logf = sp.cfg.Logf
	if len(tmpl.primaries) == 0 {
		tmpl.primaries = sp.primaries
	}
	tmpl.keys = sp.keys
	tmpl.cat = nil
	tmpl.files = nil
	return &tmpl
}

// template returns the template of a member: that of its first group that
// has one, else the default, and the group ("" for the default).
func (cn *consumer) template(m catalogMember) (*zoneSpec, string) {
	for _, g := range m.Groups {
		if t := cn.groupTmpl[g]; t != nil {
			return t, g
		}
	}
	return cn.tmpl, ""
}

func (cn *consumer) poke() {
	select {
	case cn.kick <- struct{}{}:
	default:
	}
}

func (cn *consumer) run() {
	for {
		select {
		case <-cn.done:
			return
		case <-cn.kick:
		}
		cn.reconcile()
	}
}

// stop ends the consumer and stops its member zones (their state stays).
func (cn *consumer) stop() {
	select {
	case <-cn.done:
		return
	default:
	}
	close(cn.done)
	cn.wg.Wait()
	cn.publish(nil, mapsKeys(cn.members))
	for _, m := range cn.members {
		m.zs.stop()
	}
}

func mapsKeys(m map[string]*consumedMember) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// reconcile makes the served members what the catalog lists now.
func (cn *consumer) reconcile() {
	origin := cn.cat.zone.Origin
	snap := cn.cat.zone.Views()[0].Snapshot()
	if snap.SOA() == nil {
		return // not transferred yet
	}
	parsed, ok := cn.parse(snap)
	if !ok {
		return
	}
	want := make(map[string]catalogMember, len(parsed.Members))
	for _, m := range parsed.Members {
		want[m.Zone] = m
	}
	gone, regroup := cn.drop(want)
	added := cn.add(parsed.Members)
	cn.forgetDropped(want)
	if len(added) > 0 || len(gone) > 0 || len(regroup) > 0 {
		cn.save()
	}
	if len(added) > 0 || len(gone) > 0 {
		log.Infof("catalog %s serial %d: %d member zones (%d added, %d removed)", origin, snap.Serial, len(cn.members), len(added), len(gone))
	}
	catalogMembers.WithLabelValues(origin).Set(float64(len(cn.members)))
}

// parse reads the catalog's snapshot, counting and logging what it refuses;
// ok is false for a catalog that is not processed (its members are kept).
func (cn *consumer) parse(snap *zonemodel.Snapshot) (*parsedCatalog, bool) {
	origin := cn.cat.zone.Origin
	held := func(zone string) string {
		if m := cn.members[zone]; m != nil {
			return m.id
		}
		return cn.stored[zone]
	}
	parsed, err := parseCatalog(origin, snap.RRs(), held)
	if err != nil {
		catalogRefused.WithLabelValues(origin, "catalog").Inc()
		log.Errorf("catalog %s serial %d: %v; keeping its %d member zones", origin, snap.Serial, err, len(cn.members))
		return nil, false
	}
	for _, why := range parsed.Refused {
		catalogRefused.WithLabelValues(origin, "member").Inc()
		if loglimit.Refusals.Allow() {
			log.Warningf("catalog %s serial %d: %s%s", origin, snap.Serial, why, loglimit.Refusals.Suppressed())
		}
	}
	return parsed, true
}

// drop stops the members the catalog no longer lists as served (want, by
// zone): gone (removed, or with a new unique ID: their state removed too)
// and regroup (now configured by another group's template, their data
// kept, started again by add).
func (cn *consumer) drop(want map[string]catalogMember) (gone, regroup []*consumedMember) {
	origin := cn.cat.zone.Origin
	var goneNames []string
	for z, m := range cn.members {
		w, ok := want[z]
		if ok && w.ID == m.id {
			if _, g := cn.template(w); g != m.group {
				// Another group's template: configured again, its data kept.
				log.Infof("catalog %s: member %s now configured by the template of group %q (was %q)", origin, z, g, m.group)
				regroup = append(regroup, m)
				goneNames = append(goneNames, z)
				delete(cn.members, z)
			}
			continue
		}
		// Removed, or its unique ID changed (RFC 9432 §5.4: reset, the
		// member's data are dropped and transferred afresh).
		gone = append(gone, m)
		goneNames = append(goneNames, z)
		delete(cn.members, z)
		if ok {
			log.Infof("catalog %s: member %s has a new unique ID (%s -> %s): reset", origin, z, m.id, w.ID)
		} else {
			log.Infof("catalog %s: member %s removed", origin, z)
		}
	}
	cn.publish(nil, goneNames)
	for _, m := range regroup {
		m.zs.stop()
	}
	for _, m := range gone {
		m.zs.stop()
		if err := zonemodel.RemoveState(m.zs.spec.cfg.StateDir, m.zs.zone.Origin); err != nil {
			log.Warningf("catalog %s: member %s: %v", origin, m.zs.zone.Origin, err)
		} else {
			log.Infof("catalog %s: member %s: its stored state removed", origin, m.zs.zone.Origin)
		}
	}
	return gone, regroup
}

// add starts the listed members not served yet, unless they conflict with
// a zone served otherwise, and publishes them.
func (cn *consumer) add(members []catalogMember) map[string]*zoneState {
	origin := cn.cat.zone.Origin
	added := map[string]*zoneState{}
	for _, m := range members {
		if cn.members[m.Zone] != nil {
			continue
		}
		if why := cn.conflict(m.Zone); why != "" {
			catalogRefused.WithLabelValues(origin, "member").Inc()
			if loglimit.Refusals.Allow() {
				log.Warningf("catalog %s: member %s (ID %s) refused: %s%s", origin, m.Zone, m.ID, why, loglimit.Refusals.Suppressed())
			}
			continue
		}
		zs, err := cn.startMember(m)
		if err != nil {
			catalogRefused.WithLabelValues(origin, "member").Inc()
			log.Errorf("catalog %s: member %s (ID %s): %v", origin, m.Zone, m.ID, err)
			continue
		}
		_, group := cn.template(m)
		cn.members[m.Zone] = &consumedMember{id: m.ID, group: group, zs: zs}
		added[m.Zone] = zs
	}
	cn.publish(added, nil)
	return added
}

func (cn *consumer) file() string {
	return membersFile(cn.tmpl.cfg.StateDir, cn.cat.zone.Origin)
}

// forgetDropped removes, after the first catalog processed since the start,
// the stored state of members the catalog (want: the members it lists)
// dropped while dnspki was down.
func (cn *consumer) forgetDropped(want map[string]catalogMember) {
	if cn.stored == nil {
		return
	}
	changed := false
	for z := range cn.stored {
		if cn.members[z] != nil {
			continue
		}
		changed = true
		if _, listed := want[z]; listed {
			continue // listed but not served (refused, or failed to start)
		}
		if cn.conflict(z) != "" {
			continue // served otherwise now: not ours to remove
		}
		log.Infof("catalog %s: member %s was removed while dnspki was down: its state goes", cn.cat.zone.Origin, z)
		if err := zonemodel.RemoveState(cn.tmpl.cfg.StateDir, z); err != nil {
			log.Warningf("catalog %s: member %s: %v", cn.cat.zone.Origin, z, err)
		}
	}
	cn.stored = nil
	if changed {
		cn.save()
	}
}

// save writes the member list the consumer serves.
func (cn *consumer) save() {
	m := make(map[string]string, len(cn.members))
	for z, cm := range cn.members {
		m[z] = cm.id
	}
	if err := saveMembers(cn.file(), m); err != nil {
		log.Warningf("catalog %s: saving its member list: %v", cn.cat.zone.Origin, err)
	}
}

// conflict says why zone cannot be a member here ("" if it can): it is
// configured in the Corefile, or another catalog of the block has it.
func (cn *consumer) conflict(zone string) string {
	if cn.a.zones[zone] != nil || cn.reg.Zone(zone) != nil {
		return "the zone is configured in the Corefile"
	}
	if cur := cn.a.members.Load(); cur != nil && (*cur)[zone] != nil {
		return "another catalog of this server block lists it"
	}
	return ""
}

// startMember makes, opens and starts a member zone from the template.
func (cn *consumer) startMember(m catalogMember) (*zoneState, error) {
	t, _ := cn.template(m)
	sp := *t
	sp.origin = m.Zone
	sp.cfg.Origin = m.Zone
	zs, err := newZoneState(&sp)
	if err != nil {
		return nil, err
	}
	if err := cn.a.start(zonemodel.NewRegistry(), zs); err != nil {
		zs.stop()
		return nil, err
	}
	return zs, nil
}

// publish adds and removes members in the server block's map of served
// member zones (replaced whole: lookups never lock).
func (cn *consumer) publish(add map[string]*zoneState, remove []string) {
	if len(add) == 0 && len(remove) == 0 {
		return
	}
	membersMu.Lock()
	defer membersMu.Unlock()
	next := map[string]*zoneState{}
	if cur := cn.a.members.Load(); cur != nil {
		next = maps.Clone(*cur)
	}
	for _, z := range remove {
		delete(next, z)
	}
	maps.Copy(next, add)
	cn.a.members.Store(&next)
}
