// Package acmechallenge is dnspki's ACME dns-01 plugin: ACME clients set and
// remove `_acme-challenge` TXT records with RFC 2136 UPDATE signed by TSIG keys
// scoped to their own names, or through an HTTP API compatible with lego's
// httpreq provider and with acme-dns. The records go into the zone model as
// the dynamic source "acme": they get a serial, a journal entry, NOTIFY, and
// are answered by authzone like any other record; every accepted change is
// fsynced before it is acknowledged; stale challenges expire. Keys granted
// `persist` publish dns-persist-01 `_validation-persist` TXT records the same
// way, validated with the CA's rules, into the source "persist-update", where
// they stay until deleted (persist.go).
package acmechallenge

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/coredns/coredns/plugin"
	clog "github.com/coredns/coredns/plugin/pkg/log"
	"github.com/miekg/dns"

	"github.com/dnspki/dnspki/plugin/pkg/ede"
	"github.com/dnspki/dnspki/plugin/pkg/grants"
	"github.com/dnspki/dnspki/plugin/pkg/loglimit"
	"github.com/dnspki/dnspki/plugin/pkg/persist"
	"github.com/dnspki/dnspki/plugin/pkg/tsigauth"
	"github.com/dnspki/dnspki/plugin/pkg/tsigkey"
	"github.com/dnspki/dnspki/plugin/pkg/zonemodel"
)

const pluginName = "acmechallenge"

var log = clog.NewWithPlugin(pluginName)

// Label is the owner label of ACME dns-01 challenges (RFC 8555 §8.4).
const Label = "_acme-challenge"

// config is what the Corefile sets.
type config struct {
	views        []string
	ttl          uint32        // TTL of HTTP-added records; the highest an UPDATE may set
	persistTTL   uint32        // the highest TTL an UPDATE may set on a validation record
	persistViews []string      // views of the validation records (nil: every view)
	expire       time.Duration // stale-challenge age (0: never)
	anyValue     bool          // accept any TXT value, not only ACME digests
	maxValues    int           // values per owner name
	maxRecords   int           // records per identity and zone
	maxSize      int           // bytes of an UPDATE message
	http         *httpConfig
}

func defaultConfig() config {
	return config{ttl: 60, persistTTL: 3600, expire: time.Hour, maxValues: 10, maxRecords: 100, maxSize: 4096}
}

// AcmeChallenge is the plugin of one acmechallenge directive.
type AcmeChallenge struct {
	Next    plugin.Handler
	cfg     config
	zones   map[string]*zone // by origin
	origins []string
	ring    *tsigkey.Ring
	users   map[string]string // HTTP user → password
	policy  *grants.Policy
	api     *httpAPI
	file    string // where the directive is, for errors found after parsing
	line    int
}

// Name implements plugin.Handler.
func (a *AcmeChallenge) Name() string { return pluginName }

// userIdentity is the grants identity of an HTTP user.
func userIdentity(user string) string { return "http:" + user }

// zoneOf returns the zone whose origin is name exactly, and whether name is
// at or below one of the plugin's zones.
func (a *AcmeChallenge) zoneOf(name string) (*zone, bool) {
	if z := a.zones[name]; z != nil {
		return z, true
	}
	for _, o := range a.origins {
		if zonemodel.InZone(name, o) {
			return nil, true
		}
	}
	return nil, false
}

// enclosing returns the plugin's zone that contains name (the closest).
func (a *AcmeChallenge) enclosing(name string) *zone {
	var best *zone
	for _, o := range a.origins {
		if zonemodel.InZone(name, o) && (best == nil || len(o) > len(best.origin)) {
			best = a.zones[o]
		}
	}
	return best
}

// ServeDNS implements plugin.Handler: it takes UPDATE messages for its zones
// and passes everything else on.
func (a *AcmeChallenge) ServeDNS(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
	if r.Opcode != dns.OpcodeUpdate || len(r.Question) != 1 {
		return plugin.NextOrFailure(a.Name(), a.Next, ctx, w, r)
	}
	zname := zonemodel.Fqdn(r.Question[0].Name)
	z, ours := a.zoneOf(zname)
	if !ours {
		return plugin.NextOrFailure(a.Name(), a.Next, ctx, w, r)
	}
	start := time.Now()
	via := "dns"
	metricZone := zname
	if z == nil {
		if e := a.enclosing(zname); e != nil {
			metricZone = e.origin
		}
	}

	// Who signed the request was decided once, by the server block's gate
	// (package tsigauth: RFC 8945 structure, key bound to its algorithm,
	// MAC, time, replay); a request it refused never gets here.
	// Decided answers and logs a request it cannot take as signed by one
	// of the block's keys.
	id, ok := tsigauth.Decided(ctx, w, r)
	if !ok {
		refused(metricZone, "unknown", "tsig_badkey", via)
		return dns.RcodeSuccess, nil
	}
	key := id.Key
	if key == nil {
		refused(metricZone, "none", "unsigned", via)
		if loglimit.Refusals.Allow() {
			log.Infof("UPDATE %s from %s refused: not signed (a TSIG key is required)%s", zname, w.RemoteAddr(), loglimit.Refusals.Suppressed())
		}
		return a.reply(ctx, w, r, id, &Refusal{Rcode: dns.RcodeRefused, Reason: "unsigned"})
	}
	identity := key.Name

	res := a.update(ctx, z, zname, identity, r)
	if res != nil {
		refused(metricZone, identity, res.Reason, via)
		if loglimit.Refusals.Allow() {
			log.Infof("UPDATE %s by %s from %s refused (%s): %s%s", zname, identity, w.RemoteAddr(), dns.RcodeToString[res.Rcode], res.Msg, loglimit.Refusals.Suppressed())
		}
		return a.reply(ctx, w, r, id, res)
	}
	accepted(metricZone, identity, via, time.Since(start))
	return a.reply(ctx, w, r, id, nil)
}

// update checks and applies an UPDATE signed by identity. nil means done.
func (a *AcmeChallenge) update(ctx context.Context, z *zone, zname, identity string, r *dns.Msg) *Refusal {
	// Zone section (RFC 2136 §3.1).
	q := r.Question[0]
	if q.Qtype != dns.TypeSOA {
		return formErr("zone section has type %s, not SOA", dns.TypeToString[q.Qtype])
	}
	if z == nil {
		return &Refusal{Rcode: dns.RcodeNotAuth, Reason: "notauth", Msg: fmt.Sprintf("%s is not a zone served here (zones: %s)", zname, strings.Join(a.origins, " "))}
	}
	if q.Qclass != dns.ClassINET {
		return &Refusal{Rcode: dns.RcodeNotAuth, Reason: "notauth", Msg: fmt.Sprintf("zone %s class %s is not served here", zname, dns.ClassToString[q.Qclass])}
	}
	if n := r.Len(); n > a.cfg.maxSize {
		return refuse("limit_size", "message of %d bytes (max-size %d)", n, a.cfg.maxSize)
	}
	if f := checkPrereqFormat(z.origin, r.Answer); f != nil {
		return f
	}
	ops, f := prescan(z.origin, r.Ns)
	if f != nil {
		return f
	}
	changes := make([]grants.Change, len(ops))
	for i, o := range ops {
		changes[i] = o.Change
	}
	if err := a.policy.Authorize(identity, changes); err != nil {
		var d *grants.Denied
		if errors.As(err, &d) && d.Invalid {
			return refuse("invalid_value", "%v", err)
		}
		return refuse("not_granted", "%v", err)
	}
	if f := prereqsGranted(a.policy, identity, r.Answer); f != nil {
		return f
	}
	k, f := kindOf(ops)
	if f != nil {
		return f
	}
	var check func(tx *zonemodel.Tx) *Refusal
	if len(r.Answer) > 0 {
		view := a.prereqView(ctx, z, k)
		check = func(tx *zonemodel.Tx) *Refusal {
			s := tx.Snapshot(view)
			if s == nil {
				return &Refusal{Rcode: dns.RcodeServerFailure, Reason: "not_ready", Msg: "no view " + view}
			}
			return checkPrereqs(s, r.Answer)
		}
	}
	added, removed, err := z.change(k, identity, ops, check)
	if err != nil {
		var rf *Refusal
		if errors.As(err, &rf) {
			return rf
		}
		return &Refusal{Rcode: dns.RcodeServerFailure, Reason: "store_error", Msg: err.Error()}
	}
	logChange(z.origin, identity, "UPDATE", added, removed)
	return nil
}

// kindOf tells which kind of records the changes of one UPDATE are about. The
// two kinds live in two sources of the zone model and a transaction changes
// one source: an UPDATE that changes both is refused (no client needs that).
// An UPDATE without changes counts as a challenge UPDATE.
func kindOf(ops []op) (kind, *Refusal) {
	var seen [2]bool
	for _, o := range ops {
		seen[opKind(o.Change)] = true
	}
	if seen[kindChallenge] && seen[kindPersist] {
		return 0, refuse("mixed", "one UPDATE changes both %s and %s records: send them in two UPDATEs", Label, persist.Label)
	}
	if seen[kindPersist] {
		return kindPersist, nil
	}
	return kindChallenge, nil
}

// opKind is the kind of a change, by its owner's first label (a change with
// any other owner is not granted, so never gets here).
func opKind(c grants.Change) kind {
	name := c.Name
	if c.RR != nil {
		name = c.RR.Header().Name
	}
	if l := dns.SplitDomainName(name); len(l) > 0 && strings.EqualFold(l[0], persist.Label) {
		return kindPersist
	}
	return kindChallenge
}

// prereqView is the view prerequisites are evaluated in: the view the query
// was assigned to if the records of the UPDATE's kind are published there,
// else the zone's default (last) view among those they are published to.
func (a *AcmeChallenge) prereqView(ctx context.Context, z *zone, k kind) string {
	s := z.set(k)
	views := s.viewNames(s.src.Zone())
	if v := zonemodel.ViewFromContext(ctx); v != "" && slices.Contains(views, v) {
		return v
	}
	return zonemodel.DefaultViewOf(views)
}

func logChange(origin, identity, via string, added, removed []string) {
	switch {
	case len(added) > 0 && len(removed) > 0:
		log.Infof("zone %s: %s by %s: added %s; removed %s", origin, via, identity, describe(added), describe(removed))
	case len(added) > 0:
		log.Infof("zone %s: %s by %s: added %s", origin, via, identity, describe(added))
	case len(removed) > 0:
		log.Infof("zone %s: %s by %s: removed %s", origin, via, identity, describe(removed))
	default:
		log.Infof("zone %s: %s by %s: nothing to change", origin, via, identity)
	}
}

// reply answers an UPDATE (RFC 2136 §3.8: the header and the zone section),
// TSIG-signed with the request's key when it was signed with a verified key.
// A refusal (res; nil: accepted) carries its rcode and, where RFC 8914 has a
// code for it, an Extended DNS Error whose text is the metrics reason.
func (a *AcmeChallenge) reply(ctx context.Context, w dns.ResponseWriter, r *dns.Msg, id tsigauth.Identity, res *Refusal) (int, error) {
	m := new(dns.Msg)
	rcode := dns.RcodeSuccess
	if res != nil {
		rcode = res.Rcode
	}
	m.SetRcode(r, rcode)
	m.Opcode = dns.OpcodeUpdate
	if o := r.IsEdns0(); o != nil {
		m.SetEdns0(1232, false)
	}
	if code, ok := edeOf(res); ok {
		ede.Add(r, m, code, res.Reason)
	}
	if err := tsigauth.WriteReply(ctx, w, id, m); err != nil {
		log.Errorf("writing the reply to UPDATE %s: %v", r.Question[0].Name, err)
	}
	return dns.RcodeSuccess, nil
}

// edeOf is the Extended DNS Error code of a refusal: policy refusals are
// Prohibited, a zone not served Not Authoritative, a zone not open Not Ready,
// malformed requests and store errors Other. A prerequisite that does not
// hold (NXDOMAIN, YXDOMAIN, NXRRSET, YXRRSET) is an answer, not an error.
func edeOf(res *Refusal) (uint16, bool) {
	if res == nil || res.Reason == "prerequisite" {
		return 0, false
	}
	switch {
	case res.Reason == "not_ready" || res.Reason == "reloading":
		return dns.ExtendedErrorCodeNotReady, true
	case res.Rcode == dns.RcodeRefused:
		return dns.ExtendedErrorCodeProhibited, true
	case res.Rcode == dns.RcodeNotAuth:
		return dns.ExtendedErrorCodeNotAuthoritative, true
	}
	return dns.ExtendedErrorCodeOther, true
}
