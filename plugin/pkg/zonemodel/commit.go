package zonemodel

import (
	"fmt"
	"slices"
	"time"

	"github.com/miekg/dns"
)

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

func sameSOA(a, b *dns.SOA) bool {
	return a.Hdr.Ttl == b.Hdr.Ttl && equalName(a.Ns, b.Ns) && equalName(a.Mbox, b.Mbox) &&
		a.Refresh == b.Refresh && a.Retry == b.Retry && a.Expire == b.Expire && a.Minttl == b.Minttl
}

func equalName(a, b string) bool { return lower(a) == lower(b) }

// prepare computes a view's new snapshot and journal entry for the
// transaction, validating the result. cur is the snapshot to change.
func (z *Zone) prepare(v *View, cur *Snapshot, tx *Tx) (*viewResult, error) {
	stages := tx.work[v]
	res := &viewResult{v: v, old: cur, snap: cur}
	force := (tx.bump || tx.redigest) && cur.soa != nil
	if len(stages) == 0 && !force && !tx.rewrite {
		return res, nil
	}
	var d *delta
	var err error
	if bulkChange(cur, v, stages) {
		d, err = z.bulkDelta(v, cur, stages, false)
	} else {
		d, err = z.incDelta(v, cur, stages)
	}
	if err != nil {
		return nil, err
	}
	res.d = d
	if !d.served && !d.soaChanged && !force {
		if d.changed {
			// Who contributes changed, not what is served: a new snapshot
			// with the same serial, published without telling anyone.
			res.snap = d.b.finish(cur.Serial)
		}
		return res, nil
	}
	apex := d.b.tb.t.get("")
	hasSOA := apex != nil && apex.Get(dns.TypeSOA) != nil
	if hasSOA && apex.Get(dns.TypeNS) == nil {
		return nil, fmt.Errorf("no NS records at the zone apex %s", z.Origin)
	}
	if !hasSOA {
		// Not loadable yet (no base content): keep the records, serve nothing.
		res.snap = d.b.finish(0)
		return res, nil
	}
	res.first = d.first
	serial := z.firstSerial(d.baseSerial)
	if !res.first {
		serial = z.nextSerial(cur.Serial, d.baseSerial)
	}
	res.snap = d.b.finish(serial)
	if z.cfg.Digest != 0 || tx.redigest {
		dd, da, err := z.setDigest(d.b, z.cfg.Digest)
		if err != nil {
			return nil, fmt.Errorf("zone digest: %w", err)
		}
		d.del, d.add = append(d.del, dd...), append(d.add, da...)
	}
	if !res.first {
		res.entry = journalEntry(tx, cur, res.snap, d)
	}
	return res, nil
}

// firstSerial is the serial of a view's first content: its base source's,
// or the time when that is ahead and the policy says so.
func (z *Zone) firstSerial(base uint32) uint32 {
	if z.cfg.Serial == SerialUnixTime {
		if now := uint32(time.Now().Unix()); SerialGreater(now, base) {
			return now
		}
	}
	return base
}

// journalEntry is the journal entry of a change from cur to snap.
func journalEntry(tx *Tx, cur, snap *Snapshot, d *delta) *JournalEntry {
	e := &JournalEntry{
		From: cur.Serial, To: snap.Serial,
		OldSOA: cur.soa.RRs[0], NewSOA: snap.soa.RRs[0],
		Del: d.del, Add: d.add, Time: time.Now(), Source: "startup",
	}
	if tx.src != nil {
		e.Source = tx.src.Name
	}
	return e
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

// store writes the transaction and its journal entries in one storage
// commit (durable), then publishes the new snapshots.
func (z *Zone) store(st *store, tx *Tx, results []*viewResult) error {
	if !storeNeeded(tx, results) {
		return nil
	}
	if z.deferFirstStore(st, tx, results) {
		return nil
	}
	c, err := z.write(st, tx, results)
	if err != nil {
		return fmt.Errorf("zone %s: storing change: %w", z.Origin, err)
	}
	trims := map[*View]journalTrim{}
	for i, r := range results {
		trims[r.v] = c.views[i].trim
	}
	z.publish(tx, results, trims)
	return nil
}

// write stores the transaction's results (first loads in parts, then the
// commit) and returns the commit it made.
func (z *Zone) write(st *store, tx *Tx, results []*viewResult) (*storeCommit, error) {
	if err := z.storeFirstLoads(st, results); err != nil {
		return nil, err
	}
	c := &storeCommit{maxEntries: z.cfg.JournalMaxEntries, maxBytes: z.cfg.JournalMaxBytes}
	if len(tx.meta) > 0 && tx.src != nil {
		c.source, c.meta = tx.src.Name, tx.meta
	}
	for _, r := range results {
		c.views = append(c.views, z.viewCommit(tx, r))
	}
	if err := st.be.commit(c); err != nil {
		return nil, err
	}
	return c, nil
}

// storeNeeded reports whether a transaction changes anything stored.
func storeNeeded(tx *Tx, results []*viewResult) bool {
	if len(tx.meta) > 0 || tx.digests != nil || tx.rewrite {
		return true
	}
	for _, r := range results {
		if (r.d != nil && len(r.d.ops) > 0) || r.entry != nil || r.snap != r.old {
			return true
		}
	}
	return false
}

// viewCommit is what a view's result stores: the sources' changed records,
// the zone file digests they come from, the journal entry.
func (z *Zone) viewCommit(tx *Tx, r *viewResult) *viewCommit {
	v := r.v
	vc := &viewCommit{view: v.Name, snap: r.snap, rewrite: tx.rewrite, restart: r.first, entry: r.entry,
		jFirst: v.jFirst, jNext: v.jNext, jBytes: v.jBytes, digests: map[string][]byte{}}
	if tx.rewrite {
		for src, n := range v.srcKeysAfter(r) {
			if n > 0 {
				vc.sources = append(vc.sources, sourceWrite{z.tbl.names[src], src, &srcOps{rewrite: true}})
			}
		}
	} else if r.d != nil {
		for src, so := range r.d.ops {
			if so.written {
				continue
			}
			vc.sources = append(vc.sources, sourceWrite{z.tbl.names[src], src, so})
			if _, ok := tx.digests[src]; !ok && so.n > 0 {
				vc.digests[z.tbl.names[src]] = nil
			}
		}
	}
	for src, d := range tx.digests {
		vc.digests[z.tbl.names[src]] = d
	}
	return vc
}

// storeFirstLoads writes the records of sources rewritten in a view that
// had no stored state (a first load) in parts of a bounded size before the
// commit, so that a large zone does not hold its whole store image in
// memory at once. Until the commit stores the view's serial, a restart
// takes the view for never loaded and writes them again.
func (z *Zone) storeFirstLoads(st *store, results []*viewResult) error {
	for _, r := range results {
		if !r.first || r.d == nil || r.v.zone.cfg.StateDir == "" {
			continue
		}
		for src, so := range r.d.ops {
			if !so.rewrite || so.drop {
				continue
			}
			if err := st.be.writeSource(r.v.Name, z.tbl.names[src], src, r.snap); err != nil {
				return err
			}
			so.written = true
		}
	}
	return nil
}

// srcKeysAfter is the number of keys of each source in the view once r is
// published.
func (v *View) srcKeysAfter(r *viewResult) map[srcID]int {
	if r.d != nil && r.d.keys != nil {
		return r.d.keys
	}
	out := make(map[srcID]int, len(v.srcKeys))
	for src, n := range v.srcKeys {
		out[src] = n
	}
	if r.d != nil {
		for src, so := range r.d.ops {
			for _, o := range so.ops {
				out[src] += b2i(len(o.rrs) > 0) - b2i(o.had)
			}
		}
	}
	return out
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// publish makes a stored transaction visible: source metadata, the views'
// bookkeeping and snapshots; then subscribers hear of the changes.
func (z *Zone) publish(tx *Tx, results []*viewResult, trims map[*View]journalTrim) {
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
		if d := r.d; d != nil {
			if d.keys != nil {
				v.srcKeys, v.srcNames = d.keys, d.names
			} else {
				for src, so := range d.ops {
					for _, o := range so.ops {
						v.index(src, o)
					}
				}
			}
		}
		t := trims[v]
		v.jFirst, v.jBytes = t.first, t.bytes
		if r.entry != nil {
			v.jNext++
		}
		if r.snap != r.old {
			v.snap.Store(r.snap)
			if r.snap.soa != nil && (r.entry != nil || r.first) {
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
}

// index updates the view's per-source key counts and names for one changed
// key.
func (v *View) index(src srcID, o storeOp) {
	delta := b2i(len(o.rrs) > 0) - b2i(o.had)
	if delta == 0 {
		return
	}
	v.srcKeys[src] += delta
	if v.srcKeys[src] <= 0 {
		delete(v.srcKeys, src)
	}
	if v.zone.tbl.base[src] {
		return
	}
	m := v.srcNames[src]
	if m == nil {
		m = map[string]int{}
		v.srcNames[src] = m
	}
	m[o.name] += delta
	if m[o.name] <= 0 {
		delete(m, o.name)
	}
	if len(m) == 0 {
		delete(v.srcNames, src)
	}
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
	want := serial
	err = z.st.be.eachJournal(v.Name, func(seq uint64, rec journalRecord) (bool, error) {
		if len(entries) == 0 {
			// Only the serial it starts from, until the chain begins.
			if from, err := rec.from(); err != nil {
				return false, fmt.Errorf("journal entry %d: %w", seq, err)
			} else if from != want {
				return true, nil
			}
		}
		e, err := rec.entry()
		if err != nil {
			return false, fmt.Errorf("journal entry %d: %w", seq, err)
		}
		if e.From != want {
			entries = nil // a gap: cannot happen by construction
			return false, nil
		}
		entries = append(entries, e)
		want = e.To
		return true, nil
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
