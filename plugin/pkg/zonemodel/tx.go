package zonemodel

import (
	"fmt"
	"slices"

	"github.com/miekg/dns"
)

// Tx is one change of one source in one or more views of a zone. Its methods
// stage edits; nothing is visible or stored until the Update that runs it
// commits. The same edits apply to every view of the transaction.
type Tx struct {
	src   *Source
	views []*View
	open  bool

	// work: view → source → what is staged for it there
	work map[*View]map[srcID]*stage
	meta map[string][]byte // nil value: delete
	// digests: the digest of the zone file a source's content now comes
	// from (see Source.SetInitialFile; nil: none). The store drops the
	// digest of every other source whose content changes.
	digests map[srcID][]byte
	bump    bool // give the views a new serial even without changes
	rewrite bool // the views' stored records are in the old layout: rewrite them
	// redigest: the zone digest setting differs from what the views serve
	// (Open after a configuration change): a new serial with the digest
	// made, or removed, even without other changes.
	redigest bool
	// fresh: an Open-time transaction of a view with nothing stored (its
	// write may follow its publication, firststore.go).
	fresh bool
	err   error
}

// stage is what a transaction staged for one source in one view.
type stage struct {
	// cleared: the source's records before the transaction no longer count;
	// its content is exactly what the transaction staged.
	cleared bool
	// drop: the source is gone (no longer configured): its stored records go.
	drop  bool
	edits map[rrKey][]dns.RR // key → the source's new records there (empty: none)
	// bulk holds records staged in bulk after the source was cleared (a
	// whole zone file, a zone transfer), normalized but not yet grouped: the
	// commit sorts and groups them in one pass instead of a map insert each.
	// bulkAdd: they came from Add (a later duplicate replaces an earlier one)
	// rather than from a replacement (the first one stays).
	bulk    []dns.RR
	bulkAdd bool
}

func newTx(s *Source, views []*View) *Tx {
	return &Tx{src: s, views: views, work: map[*View]map[srcID]*stage{}}
}

func (tx *Tx) zone() *Zone {
	if tx.src != nil {
		return tx.src.zone
	}
	return tx.views[0].zone
}

// stage returns the staging of source src in view v, creating it.
func (tx *Tx) stage(v *View, src srcID) *stage {
	m := tx.work[v]
	if m == nil {
		m = map[srcID]*stage{}
		tx.work[v] = m
	}
	st := m[src]
	if st == nil {
		st = &stage{}
		m[src] = st
	}
	return st
}

// fold groups the bulk records into edits.
func (st *stage) fold() {
	if len(st.bulk) == 0 {
		return
	}
	if st.edits == nil {
		st.edits = map[rrKey][]dns.RR{}
	}
	for _, rr := range st.bulk {
		h := rr.Header()
		k := rrKey{h.Name, h.Rrtype}
		st.edits[k] = addRecord(st.edits[k], rr, st.bulkAdd)
	}
	st.bulk, st.bulkAdd = nil, false
}

// addRecord adds rr to set: a duplicate of a member replaces it (replace
// set: the TTL is taken) or is ignored.
func addRecord(set []dns.RR, rr dns.RR, replace bool) []dns.RR {
	for i, x := range set {
		if dns.IsDuplicate(x, rr) {
			if replace {
				set[i] = rr
			}
			return set
		}
	}
	return append(set, rr)
}

// Views returns the names of the views the transaction changes.
func (tx *Tx) Views() []string {
	out := make([]string, len(tx.views))
	for i, v := range tx.views {
		out[i] = v.Name
	}
	return out
}

// Snapshot returns the snapshot currently served by a view of the zone (for
// prerequisite checks).
func (tx *Tx) Snapshot(view string) *Snapshot {
	if v := tx.src.zone.View(view); v != nil {
		return v.Snapshot()
	}
	return nil
}

// cur returns source src's records at k in view v with the transaction's
// edits so far.
func (tx *Tx) cur(v *View, src srcID, k rrKey) []dns.RR {
	if st := tx.work[v][src]; st != nil {
		st.fold()
		if w, ok := st.edits[k]; ok {
			return w
		}
		if st.cleared {
			return nil
		}
	}
	return v.Snapshot().Get(k.name, k.t).recsOf(src)
}

func (tx *Tx) put(v *View, src srcID, k rrKey, rrs []dns.RR) {
	st := tx.stage(v, src)
	st.fold()
	if st.edits == nil {
		st.edits = map[rrKey][]dns.RR{}
	}
	st.edits[k] = rrs
}

func (tx *Tx) fail(err error) {
	if tx.err == nil {
		tx.err = err
	}
}

// Records returns the source's records at name and type in a view, with the
// transaction's edits so far.
func (tx *Tx) Records(view, name string, t uint16) []dns.RR {
	v := tx.src.zone.View(view)
	if v == nil {
		return nil
	}
	return slices.Clone(tx.cur(v, tx.src.id, rrKey{Fqdn(name), t}))
}

// Count returns how many records the source has in a view, with the
// transaction's edits so far.
func (tx *Tx) Count(view string) int {
	v := tx.src.zone.View(view)
	if v == nil {
		return 0
	}
	n := 0
	for k := range tx.keysOf(v, tx.src.id) {
		n += len(tx.cur(v, tx.src.id, k))
	}
	return n
}

// All returns all of the source's records in a view, with the
// transaction's edits so far, in no particular order (a zone digest orders
// them itself). Records staged in bulk (a zone transfer) are returned as
// they were staged, duplicates included.
func (tx *Tx) All(view string) []dns.RR {
	v := tx.src.zone.View(view)
	if v == nil {
		return nil
	}
	st := tx.work[v][tx.src.id]
	if st != nil && st.cleared && len(st.edits) == 0 {
		return slices.DeleteFunc(slices.Clone(st.bulk), func(rr dns.RR) bool { return rr == nil })
	}
	if st != nil {
		st.fold()
	}
	var out []dns.RR
	if st == nil || !st.cleared {
		v.eachKeyOf(tx.src.id, func(k rrKey, rrs []dns.RR) {
			if st != nil {
				if _, ok := st.edits[k]; ok {
					return
				}
			}
			out = append(out, rrs...)
		})
	}
	if st != nil {
		for _, rrs := range st.edits {
			out = append(out, rrs...)
		}
	}
	return out
}

// Add adds rr to the source (a duplicate of a record it has is ignored, but
// its TTL is taken).
func (tx *Tx) Add(rr dns.RR) {
	rr = normalize(rr)
	h := rr.Header()
	k := rrKey{h.Name, h.Rrtype}
	for _, v := range tx.views {
		st := tx.stage(v, tx.src.id)
		if st.cleared && len(st.edits) == 0 && (len(st.bulk) == 0 || st.bulkAdd) {
			st.bulk = append(st.bulk, rr)
			st.bulkAdd = true
			continue
		}
		old := tx.cur(v, tx.src.id, k)
		tx.put(v, tx.src.id, k, addRecord(slices.Clone(old), rr, true))
	}
}

// Delete removes the record with rr's owner, type and data from the source.
func (tx *Tx) Delete(rr dns.RR) {
	rr = normalize(rr)
	h := rr.Header()
	k := rrKey{h.Name, h.Rrtype}
	for _, v := range tx.views {
		old := tx.cur(v, tx.src.id, k)
		out := make([]dns.RR, 0, len(old))
		for _, x := range old {
			if !dns.IsDuplicate(x, rr) {
				out = append(out, x)
			}
		}
		if len(out) != len(old) {
			tx.put(v, tx.src.id, k, out)
		}
	}
}

// DeleteRRset removes the source's records of type t at name.
func (tx *Tx) DeleteRRset(name string, t uint16) {
	k := rrKey{Fqdn(name), t}
	for _, v := range tx.views {
		if len(tx.cur(v, tx.src.id, k)) > 0 {
			tx.put(v, tx.src.id, k, nil)
		}
	}
}

// DeleteName removes all of the source's records at name.
func (tx *Tx) DeleteName(name string) {
	name = Fqdn(name)
	for _, v := range tx.views {
		var types []uint16
		if n := v.Snapshot().Node(name); n != nil {
			for _, set := range n.Sets {
				types = append(types, set.Type)
			}
		}
		if st := tx.work[v][tx.src.id]; st != nil {
			st.fold()
			for k := range st.edits {
				if k.name == name && !slices.Contains(types, k.t) {
					types = append(types, k.t)
				}
			}
		}
		for _, t := range types {
			if len(tx.cur(v, tx.src.id, rrKey{name, t})) > 0 {
				tx.put(v, tx.src.id, rrKey{name, t}, nil)
			}
		}
	}
}

// Clear removes all of the source's records in the transaction's views.
func (tx *Tx) Clear() {
	for _, v := range tx.views {
		st := tx.stage(v, tx.src.id)
		*st = stage{cleared: true, drop: st.drop}
	}
}

// keysOf returns the keys at which src has records in v, with the
// transaction's edits.
func (tx *Tx) keysOf(v *View, src srcID) map[rrKey]bool {
	out := map[rrKey]bool{}
	st := tx.work[v][src]
	if st != nil {
		st.fold()
	}
	if st == nil || !st.cleared {
		v.eachKeyOf(src, func(k rrKey, _ []dns.RR) { out[k] = true })
	}
	if st != nil {
		for k, rrs := range st.edits {
			if len(rrs) > 0 {
				out[k] = true
			} else {
				delete(out, k)
			}
		}
	}
	return out
}

// SetMeta stores a metadata value of the source, committed with the records.
func (tx *Tx) SetMeta(key string, value []byte) {
	if tx.meta == nil {
		tx.meta = map[string][]byte{}
	}
	tx.meta[key] = slices.Clone(value)
	if tx.meta[key] == nil {
		tx.meta[key] = []byte{}
	}
}

// DeleteMeta removes a metadata value of the source.
func (tx *Tx) DeleteMeta(key string) {
	if tx.meta == nil {
		tx.meta = map[string][]byte{}
	}
	tx.meta[key] = nil
}

// Bump gives the transaction's views the next serial even if nothing else
// changes: the journal gets an entry without differences (old SOA, new SOA),
// subscribers are told and NOTIFY goes out. A signer uses it when what a
// secondary must fetch changed although the zone's data did not (signatures
// refreshed or made by another key). A view without data (no SOA yet) is
// left alone.
func (tx *Tx) Bump() { tx.bump = true }

// ReplaceIn stages the source's whole content in one view of the transaction
// to be exactly rrs; the transaction's other views are not touched. A source
// whose records differ per view changes all its views in one transaction this
// way. A view that is not part of the transaction fails it.
func (tx *Tx) ReplaceIn(view string, rrs []dns.RR) {
	for _, v := range tx.views {
		if v.Name == view {
			tx.replaceView(v, tx.src, rrs)
			return
		}
	}
	tx.fail(fmt.Errorf("zone %s: view %q is not part of this change (views: %v)", tx.src.zone.Origin, view, tx.Views()))
}

// replaceView stages src's content in v to be exactly rrs.
func (tx *Tx) replaceView(v *View, s *Source, rrs []dns.RR) {
	st := tx.stage(v, s.id)
	bulk := make([]dns.RR, len(rrs))
	for i, rr := range rrs {
		bulk[i] = normalize(rr)
	}
	*st = stage{cleared: true, drop: st.drop, bulk: bulk}
}

// dropSource stages the removal of a source no longer configured.
func (tx *Tx) dropSource(v *View, src srcID) {
	*tx.stage(v, src) = stage{cleared: true, drop: true}
}

// viewResult is the outcome of preparing a transaction for one view.
type viewResult struct {
	v     *View
	old   *Snapshot
	snap  *Snapshot
	entry *JournalEntry
	first bool // the view got its first SOA: the journal restarts here
	d     *delta
}
