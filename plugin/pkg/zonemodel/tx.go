package zonemodel

import (
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/miekg/dns"
	bolt "go.etcd.io/bbolt"
)

// Tx is one change of one source in one or more views of a zone. Its methods
// stage edits; nothing is visible or stored until the Update that runs it
// commits. The same edits apply to every view of the transaction.
type Tx struct {
	src   *Source
	views []*View
	open  bool

	// work: view → source → key → the source's new records there (empty: none)
	work    map[*View]map[string]map[rrKey][]dns.RR
	dropped map[*View][]string
	meta    map[string][]byte // nil value: delete
	bump    bool              // give the views a new serial even without changes
	// redigest: the zone digest setting differs from what the views serve
	// (Open after a configuration change): a new serial with the digest
	// made, or removed, even without other changes.
	redigest bool
	err      error
}

func newTx(s *Source, views []*View) *Tx {
	return &Tx{src: s, views: views, work: map[*View]map[string]map[rrKey][]dns.RR{}, dropped: map[*View][]string{}}
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

func (tx *Tx) cur(v *View, src string, k rrKey) []dns.RR {
	if w, ok := tx.work[v][src][k]; ok {
		return w
	}
	if slices.Contains(tx.dropped[v], src) {
		return nil
	}
	return v.content[src][k]
}

func (tx *Tx) put(v *View, src string, k rrKey, rrs []dns.RR) {
	m := tx.work[v]
	if m == nil {
		m = map[string]map[rrKey][]dns.RR{}
		tx.work[v] = m
	}
	if m[src] == nil {
		m[src] = map[rrKey][]dns.RR{}
	}
	m[src][k] = rrs
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
	return slices.Clone(tx.cur(v, tx.src.Name, rrKey{Fqdn(name), t}))
}

// Count returns how many records the source has in a view, with the
// transaction's edits so far.
func (tx *Tx) Count(view string) int {
	v := tx.src.zone.View(view)
	if v == nil {
		return 0
	}
	n := 0
	for k, rrs := range v.content[tx.src.Name] {
		if _, ok := tx.work[v][tx.src.Name][k]; !ok {
			n += len(rrs)
		}
	}
	for _, rrs := range tx.work[v][tx.src.Name] {
		n += len(rrs)
	}
	return n
}

// All returns all of the source's records in a view, with the
// transaction's edits so far, in name/type order.
func (tx *Tx) All(view string) []dns.RR {
	v := tx.src.zone.View(view)
	if v == nil {
		return nil
	}
	keys := make([]rrKey, 0, len(v.content[tx.src.Name]))
	for k := range tx.keysOf(v, tx.src.Name) {
		keys = append(keys, k)
	}
	sortKeys(keys)
	var out []dns.RR
	for _, k := range keys {
		out = append(out, tx.cur(v, tx.src.Name, k)...)
	}
	return out
}

// normalize returns rr with a lowercase owner (a copy when it had to change).
func normalize(rr dns.RR) dns.RR {
	rr = viaWire(rr)
	h := rr.Header()
	if l := lower(h.Name); l != h.Name || !dns.IsFqdn(h.Name) {
		rr = dns.Copy(rr)
		rr.Header().Name = Fqdn(h.Name)
	}
	if rr.Header().Class != dns.ClassINET {
		rr = dns.Copy(rr)
		rr.Header().Class = dns.ClassINET
	}
	return rr
}

// viaWire returns rr as it reads back from wire format (the form the store
// keeps, and the form of names in queries): the presentation form of some
// data differs from what unpacking gives (a DS, TLSA or SSHFP digest written
// in uppercase unpacks in lowercase; a name or TXT string with a special
// character written unescaped in a zone file, `'0` or `a"b` built in Go,
// unpacks escaped, `\'0`, `a\"b`; an escaped letter, `\065`, unpacks as the
// letter), and records must compare equal across restarts and match the
// names clients ask for.
func viaWire(rr dns.RR) dns.RR {
	buf := make([]byte, dns.Len(rr)+64)
	n, err := dns.PackRR(rr, buf, 0, nil, false)
	if err != nil {
		return rr
	}
	out, _, err := dns.UnpackRR(buf[:n], 0)
	if err != nil {
		return rr
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
		old := tx.cur(v, tx.src.Name, k)
		out := make([]dns.RR, 0, len(old)+1)
		replaced := false
		for _, x := range old {
			if dns.IsDuplicate(x, rr) {
				out = append(out, rr)
				replaced = true
				continue
			}
			out = append(out, x)
		}
		if !replaced {
			out = append(out, rr)
		}
		tx.put(v, tx.src.Name, k, out)
	}
}

// Delete removes the record with rr's owner, type and data from the source.
func (tx *Tx) Delete(rr dns.RR) {
	rr = normalize(rr)
	h := rr.Header()
	k := rrKey{h.Name, h.Rrtype}
	for _, v := range tx.views {
		old := tx.cur(v, tx.src.Name, k)
		out := make([]dns.RR, 0, len(old))
		for _, x := range old {
			if !dns.IsDuplicate(x, rr) {
				out = append(out, x)
			}
		}
		if len(out) != len(old) {
			tx.put(v, tx.src.Name, k, out)
		}
	}
}

// DeleteRRset removes the source's records of type t at name.
func (tx *Tx) DeleteRRset(name string, t uint16) {
	k := rrKey{Fqdn(name), t}
	for _, v := range tx.views {
		if len(tx.cur(v, tx.src.Name, k)) > 0 {
			tx.put(v, tx.src.Name, k, nil)
		}
	}
}

// DeleteName removes all of the source's records at name.
func (tx *Tx) DeleteName(name string) {
	name = Fqdn(name)
	for _, v := range tx.views {
		for k := range tx.keysOf(v, tx.src.Name) {
			if k.name == name {
				tx.put(v, tx.src.Name, k, nil)
			}
		}
	}
}

// Clear removes all of the source's records in the transaction's views.
func (tx *Tx) Clear() {
	for _, v := range tx.views {
		for k := range tx.keysOf(v, tx.src.Name) {
			tx.put(v, tx.src.Name, k, nil)
		}
	}
}

func (tx *Tx) keysOf(v *View, src string) map[rrKey]bool {
	out := map[rrKey]bool{}
	if !slices.Contains(tx.dropped[v], src) {
		for k, rrs := range v.content[src] {
			if len(rrs) > 0 {
				out[k] = true
			}
		}
	}
	for k, rrs := range tx.work[v][src] {
		if len(rrs) > 0 {
			out[k] = true
		} else {
			delete(out, k)
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
	want := map[rrKey][]dns.RR{}
	for _, rr := range rrs {
		rr = normalize(rr)
		k := rrKey{rr.Header().Name, rr.Header().Rrtype}
		if !containsRdata(want[k], rr) {
			want[k] = append(want[k], rr)
		}
	}
	for k := range tx.keysOf(v, s.Name) {
		if _, ok := want[k]; !ok {
			tx.put(v, s.Name, k, nil)
		}
	}
	for k, set := range want {
		if !sameRRs(tx.cur(v, s.Name, k), set) {
			tx.put(v, s.Name, k, set)
		}
	}
}

// dropSource stages the removal of a source no longer configured.
func (tx *Tx) dropSource(v *View, src string) {
	for k := range v.content[src] {
		tx.put(v, src, k, nil)
	}
	tx.dropped[v] = append(tx.dropped[v], src)
}

// viewResult is the outcome of preparing a transaction for one view.
type viewResult struct {
	v     *View
	old   *Snapshot
	snap  *Snapshot
	entry *JournalEntry
	first bool // the view got its first SOA: the journal restarts here
}

// SerialGreater reports a > b in RFC 1982 serial number arithmetic.
func SerialGreater(a, b uint32) bool {
	return a != b && ((a > b && a-b < 1<<31) || (a < b && b-a > 1<<31))
}

func (z *Zone) nextSerial(cur, base uint32) uint32 {
	n := cur + 1
	if SerialGreater(base, n) {
		n = base
	}
	if z.cfg.Serial == SerialUnixTime {
		if now := uint32(time.Now().Unix()); SerialGreater(now, n) {
			n = now
		}
	}
	return n
}

// prepare computes a view's new snapshot and journal entry for the
// transaction, validating the result. cur is the snapshot to change.
func (z *Zone) prepare(v *View, cur *Snapshot, tx *Tx) (*viewResult, error) {
	work := tx.work[v]
	res := &viewResult{v: v, old: cur, snap: cur}
	force := (tx.bump || tx.redigest) && cur.soa != nil
	if len(work) == 0 && !force {
		return res, nil
	}
	keys := map[rrKey]bool{}
	for _, m := range work {
		for k := range m {
			keys[k] = true
		}
	}
	order := z.sourceOrder(v.content)
	for s := range work {
		if !slices.Contains(order, s) {
			order = append(order, s)
		}
	}
	sort.SliceStable(order, func(i, j int) bool { return z.srcRank(order[i]) < z.srcRank(order[j]) })
	merged := func(k rrKey) []dns.RR {
		return z.merge(order, k, func(s string) []dns.RR { return tx.cur(v, s, k) })
	}

	sorted := make([]rrKey, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, k)
	}
	sortKeys(sorted)

	b := cur.edit()
	if z.cfg.Digest != 0 {
		b.sortFromParent(cur) // the digest walks the canonical order
	}
	var del, add []dns.RR
	names := map[string]bool{}
	soaKey := rrKey{z.Origin, dns.TypeSOA}
	for _, k := range sorted {
		if !InZone(k.name, z.Origin) {
			return nil, fmt.Errorf("%s/%s is outside zone %s", k.name, dns.TypeToString[k.t], z.Origin)
		}
		if k == soaKey {
			continue
		}
		if k.t == dns.TypeSOA {
			return nil, fmt.Errorf("SOA record at %s, not at the zone apex %s", k.name, z.Origin)
		}
		if z.modelDigest(k) {
			continue // the model's own (digest.go)
		}
		m := merged(k)
		var old []dns.RR
		if set := cur.Get(k.name, k.t); set != nil {
			old = set.RRs
		}
		if sameRRs(old, m) {
			continue
		}
		for _, rr := range old {
			if !containsExact(m, rr) {
				del = append(del, rr)
			}
		}
		for _, rr := range m {
			if !containsExact(old, rr) {
				add = append(add, rr)
			}
		}
		b.set(k.name, k.t, m)
		names[k.name] = true
	}

	// The SOA comes from the base source; its serial is the model's.
	soaChanged := false
	var baseSerial uint32
	newSOA := merged(soaKey)
	if len(newSOA) > 1 {
		return nil, fmt.Errorf("%d SOA records at %s; a zone has one", len(newSOA), z.Origin)
	}
	if len(newSOA) == 1 {
		ns := newSOA[0].(*dns.SOA)
		baseSerial = ns.Serial
		if cur.soa == nil {
			soaChanged = true
			res.first = true
		} else {
			os := cur.soa.RRs[0].(*dns.SOA)
			if !sameSOA(os, ns) || SerialGreater(ns.Serial, os.Serial) {
				soaChanged = true
			}
		}
		if soaChanged {
			b.set(z.Origin, dns.TypeSOA, newSOA)
			names[z.Origin] = true
		}
	} else if cur.soa != nil && keys[soaKey] {
		return nil, fmt.Errorf("the SOA record of %s would be removed", z.Origin)
	}

	if len(del) == 0 && len(add) == 0 && !soaChanged && !force {
		return res, nil
	}
	if err := validateNames(b.s, names); err != nil {
		return nil, err
	}
	apex := b.s.nodes[z.Origin]
	hasSOA := apex != nil && apex.Get(dns.TypeSOA) != nil
	if hasSOA && apex.Get(dns.TypeNS) == nil {
		return nil, fmt.Errorf("no NS records at the zone apex %s", z.Origin)
	}
	if !hasSOA {
		// Not loadable yet (no base content): keep the records, serve nothing.
		res.snap = b.finish(0)
		return res, nil
	}
	var serial uint32
	if res.first {
		serial = baseSerial
		if z.cfg.Serial == SerialUnixTime {
			if now := uint32(time.Now().Unix()); SerialGreater(now, serial) {
				serial = now
			}
		}
	} else {
		serial = z.nextSerial(cur.Serial, baseSerial)
	}
	res.snap = b.finish(serial)
	if z.cfg.Digest != 0 || tx.redigest {
		dd, da, err := z.setDigest(b, z.cfg.Digest, merged(z.digestKey()))
		if err != nil {
			return nil, fmt.Errorf("zone digest: %w", err)
		}
		del, add = append(del, dd...), append(add, da...)
	}
	if !res.first {
		res.entry = &JournalEntry{
			From: cur.Serial, To: serial,
			OldSOA: cur.soa.RRs[0], NewSOA: res.snap.soa.RRs[0],
			Del: del, Add: add, Time: time.Now(),
		}
		res.entry.Source = "startup"
		if tx.src != nil {
			res.entry.Source = tx.src.Name
		}
	}
	return res, nil
}

func containsExact(set []dns.RR, rr dns.RR) bool {
	for _, x := range set {
		if dns.IsDuplicate(x, rr) && x.Header().Ttl == rr.Header().Ttl {
			return true
		}
	}
	return false
}

func sameSOA(a, b *dns.SOA) bool {
	return a.Hdr.Ttl == b.Hdr.Ttl && equalName(a.Ns, b.Ns) && equalName(a.Mbox, b.Mbox) &&
		a.Refresh == b.Refresh && a.Retry == b.Retry && a.Expire == b.Expire && a.Minttl == b.Minttl
}

func equalName(a, b string) bool { return lower(a) == lower(b) }

// validateNames checks the rules that make data unservable at the changed
// names: CNAME beside other data (RFC 1034 §3.6.2, RFC 2181 §10.1), more than
// one CNAME or DNAME, CNAME at the apex.
func validateNames(s *Snapshot, names map[string]bool) error {
	sorted := make([]string, 0, len(names))
	for n := range names {
		sorted = append(sorted, n)
	}
	sort.Strings(sorted)
	for _, name := range sorted {
		n := s.nodes[name]
		if n == nil {
			continue
		}
		if cn := n.Get(dns.TypeCNAME); cn != nil {
			if len(cn.RRs) > 1 {
				return fmt.Errorf("%d CNAME records at %s; a name has at most one", len(cn.RRs), name)
			}
			if name == s.Origin {
				return fmt.Errorf("CNAME at the zone apex %s", name)
			}
			for _, set := range n.Sets {
				switch set.Type {
				case dns.TypeCNAME, dns.TypeRRSIG, dns.TypeNSEC:
				default:
					return fmt.Errorf("CNAME and other data (%s) at %s", dns.TypeToString[set.Type], name)
				}
			}
		}
		if dn := n.Get(dns.TypeDNAME); dn != nil && len(dn.RRs) > 1 {
			return fmt.Errorf("%d DNAME records at %s; a name has at most one", len(dn.RRs), name)
		}
	}
	return nil
}

// commit prepares, stores and publishes a runtime transaction. Caller holds
// the store lock.
func (z *Zone) commit(tx *Tx) error {
	if tx.err != nil {
		return tx.err
	}
	var results []*viewResult
	for _, v := range tx.views {
		r, err := z.prepare(v, v.Snapshot(), tx)
		if err != nil {
			return fmt.Errorf("zone %s view %s: %w", z.Origin, v.Name, err)
		}
		results = append(results, r)
	}
	return z.store(z.st, tx, results)
}

// commitOpen is the Open-time transaction of one view.
func (z *Zone) commitOpen(st *store, tx *Tx) error {
	v := tx.views[0]
	r, err := z.prepare(v, v.Snapshot(), tx)
	if err != nil {
		return fmt.Errorf("view %s: %w", v.Name, err)
	}
	return z.store(st, tx, []*viewResult{r})
}

// store writes the transaction and its journal entries in one database
// transaction (fsynced), then publishes the new snapshots.
func (z *Zone) store(st *store, tx *Tx, results []*viewResult) error {
	changed := len(tx.meta) > 0
	for _, r := range results {
		if len(tx.work[r.v]) > 0 || len(tx.dropped[r.v]) > 0 || r.entry != nil {
			changed = true
		}
	}
	if !changed {
		return nil
	}
	type trim struct {
		first uint64
		bytes int
	}
	trims := map[*View]trim{}
	err := st.db.Update(func(btx *bolt.Tx) error {
		for _, r := range results {
			v := r.v
			vb, err := viewBucket(btx, v.Name)
			if err != nil {
				return err
			}
			srcb := vb.Bucket(bSrc)
			for _, src := range tx.dropped[v] {
				if srcb.Bucket([]byte(src)) != nil {
					if err := srcb.DeleteBucket([]byte(src)); err != nil {
						return err
					}
				}
			}
			for src, m := range tx.work[v] {
				if slices.Contains(tx.dropped[v], src) {
					continue
				}
				sb, err := srcb.CreateBucketIfNotExists([]byte(src))
				if err != nil {
					return err
				}
				for k, rrs := range m {
					if len(rrs) == 0 {
						if err := sb.Delete(k.bytes()); err != nil {
							return err
						}
						continue
					}
					b, err := packRRs(rrs)
					if err != nil {
						return fmt.Errorf("%s/%s: %w", k.name, dns.TypeToString[k.t], err)
					}
					if err := sb.Put(k.bytes(), b); err != nil {
						return err
					}
				}
			}
			meta, jb := vb.Bucket(bMeta), vb.Bucket(bJournal)
			t := trim{first: v.jFirst, bytes: v.jBytes}
			if r.first {
				// Continuity broken (first load): the journal restarts.
				if err := vb.DeleteBucket(bJournal); err != nil {
					return err
				}
				if jb, err = vb.CreateBucket(bJournal); err != nil {
					return err
				}
				t = trim{first: v.jNext, bytes: 0}
			}
			if r.entry != nil {
				b, err := r.entry.encode()
				if err != nil {
					return err
				}
				if err := jb.Put(u64(v.jNext), b); err != nil {
					return err
				}
				t.bytes += len(b)
				next := v.jNext + 1
				for next-t.first > uint64(z.cfg.JournalMaxEntries) || (t.bytes > z.cfg.JournalMaxBytes && next-t.first > 1) {
					if old := jb.Get(u64(t.first)); old != nil {
						t.bytes -= len(old)
						if err := jb.Delete(u64(t.first)); err != nil {
							return err
						}
					}
					t.first++
				}
			}
			if r.snap.soa != nil {
				if err := meta.Put(kSerial, u32(r.snap.Serial)); err != nil {
					return err
				}
				if err := putDigestMeta(meta, r.snap); err != nil {
					return err
				}
			}
			next := v.jNext
			if r.entry != nil {
				next++
			}
			if err := meta.Put(kSeq, u64(next)); err != nil {
				return err
			}
			trims[v] = t
		}
		if len(tx.meta) > 0 && tx.src != nil {
			mb, err := btx.CreateBucketIfNotExists(bSrcMeta)
			if err != nil {
				return err
			}
			sb, err := mb.CreateBucketIfNotExists([]byte(tx.src.Name))
			if err != nil {
				return err
			}
			for k, val := range tx.meta {
				if val == nil {
					err = sb.Delete([]byte(k))
				} else {
					err = sb.Put([]byte(k), val)
				}
				if err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("zone %s: storing change: %w", z.Origin, err)
	}

	// Publish.
	if len(tx.meta) > 0 && tx.src != nil {
		tx.src.metaMu.Lock()
		for k, val := range tx.meta {
			if val == nil {
				delete(tx.src.meta, k)
			} else {
				tx.src.meta[k] = val
			}
		}
		tx.src.metaMu.Unlock()
	}
	var changes []Change
	for _, r := range results {
		v := r.v
		for _, src := range tx.dropped[v] {
			delete(v.content, src)
		}
		for src, m := range tx.work[v] {
			if slices.Contains(tx.dropped[v], src) {
				continue
			}
			c := v.content[src]
			if c == nil {
				c = map[rrKey][]dns.RR{}
				v.content[src] = c
			}
			for k, rrs := range m {
				if len(rrs) == 0 {
					delete(c, k)
				} else {
					c[k] = rrs
				}
			}
			if len(c) == 0 {
				delete(v.content, src)
			}
		}
		t := trims[v]
		v.jFirst, v.jBytes = t.first, t.bytes
		if r.entry != nil {
			v.jNext++
		}
		if r.snap != r.old {
			v.snap.Store(r.snap)
			if r.snap.soa != nil {
				changes = append(changes, Change{View: v, Old: r.old, New: r.snap, Entry: r.entry})
			}
		}
	}
	z.subsMu.Lock()
	subs := slices.Clone(z.subs)
	z.subsMu.Unlock()
	for _, c := range changes {
		for _, fn := range subs {
			fn(c)
		}
	}
	return nil
}

// JournalSince returns the journal entries leading from serial to the view's
// current serial, oldest first. ok is false when the journal does not reach
// back to serial (the caller falls back to a full transfer). An up-to-date
// serial gives no entries and ok.
func (v *View) JournalSince(serial uint32) (entries []*JournalEntry, ok bool, err error) {
	z := v.zone
	if !z.opened.Load() {
		return nil, false, ErrNotOpen
	}
	cur := v.Snapshot()
	if cur.soa == nil {
		return nil, false, nil
	}
	if serial == cur.Serial || SerialGreater(serial, cur.Serial) {
		return nil, true, nil
	}
	err = z.st.db.View(func(btx *bolt.Tx) error {
		vb, err := viewBucket(btx, v.Name)
		if err != nil || vb == nil {
			return err
		}
		c := vb.Bucket(bJournal).Cursor()
		want := serial
		for k, val := c.First(); k != nil; k, val = c.Next() {
			e, err := decodeEntry(val)
			if err != nil {
				return fmt.Errorf("journal entry %d: %w", beU64(k), err)
			}
			if len(entries) == 0 && e.From != want {
				continue
			}
			if e.From != want {
				entries = nil // a gap: cannot happen by construction
				return nil
			}
			entries = append(entries, e)
			want = e.To
		}
		return nil
	})
	if err != nil || len(entries) == 0 {
		return nil, false, err
	}
	last := entries[len(entries)-1]
	return entries, last.To == cur.Serial || SerialGreater(last.To, cur.Serial), nil
}

// JournalLen returns the number of entries in the view's journal.
func (v *View) JournalLen() int {
	v.zone.lockRead()
	defer v.zone.unlockRead()
	return int(v.jNext - v.jFirst)
}
