package zonemodel

// storage is where a zone's durable state lives: per view the serial, the
// journal, every source's records and the zone-file digests they come from;
// per source its private metadata. The model says what to keep (loadViews,
// commit); the storage decides how. boltstore.go keeps it in the zone's
// bucket of one bbolt database per state directory (the layout is described
// there); memstore.go keeps it in memory (tests). The writers (writeSource, commit) are called with the zone's
// store lock held; the readers may run beside them and beside each other.
type storage interface {
	// loadViews reads the stored state of views (a view never stored has an
	// empty storedView).
	loadViews(origin string, views []string) (map[string]*storedView, error)
	// sourceMeta returns the metadata a source stored.
	sourceMeta(source string) (map[string][]byte, error)
	// writeSource writes a source's records in a view from the snapshot
	// before the commit of a first load, in parts of a bounded size (a large
	// zone's image is never held in memory at once).
	writeSource(view, source string, src srcID, snap *Snapshot) error
	// commit stores one transaction atomically and durably, setting each
	// view's journal bounds after trimming (viewCommit.trim).
	commit(c *storeCommit) error
	// eachJournal calls fn for the view's journal entries, oldest first,
	// until fn returns false or an error.
	eachJournal(view string, fn func(seq uint64, rec journalRecord) (bool, error)) error
	// lastJournal returns the view's newest journal entry (nil: none).
	lastJournal(view string) (*JournalEntry, error)
	// hasDigest reports whether the view has a stored serial and the
	// source's records come from a zone file with this digest.
	hasDigest(view, source string, digest []byte) bool
	// hasRecords reports whether the source has records at the canonical
	// name key in the view.
	hasRecords(view, source, key string) bool
	close() error
}

// journalRecord is a stored journal entry: the serial it starts from is
// cheap to read, the whole entry is decoded on demand.
type journalRecord interface {
	from() (uint32, error)
	entry() (*JournalEntry, error)
}

// storedView is what the store holds for one view.
type storedView struct {
	serial        uint32
	hasState      bool
	oldLayout     bool  // stored in a layout the storage converts: every source is written anew
	mdAlg         uint8 // hash algorithm of the model's ZONEMD it served, 0: none
	jFirst, jNext uint64
	jBytes        int
	sources       map[string][]chg // per source: its records in key order
	digests       map[string][]byte
}

// storeCommit is what one transaction stores.
type storeCommit struct {
	views []*viewCommit
	// source's metadata changes (a nil value deletes the key).
	source string
	meta   map[string][]byte
	// journal bounds of every view, in entries and in bytes.
	maxEntries, maxBytes int
}

// viewCommit is what one transaction stores in one view.
type viewCommit struct {
	view string
	snap *Snapshot // the view's new snapshot
	// rewrite: every source's stored records are dropped, and those of
	// sources (with keys) written again from snap.
	rewrite bool
	sources []sourceWrite
	// digests of the zone files sources' records come from (nil: deleted).
	digests map[string][]byte
	// restart: the journal starts again (continuity broken, a first load),
	// its first entry numbered jNext.
	restart bool
	entry   *JournalEntry // appended as number jNext (nil: none)
	jFirst  uint64
	jNext   uint64
	jBytes  int
	// trim is set by commit: the journal's bounds afterwards.
	trim journalTrim
}

// sourceWrite is one source's records to write in a view: its changed keys
// (ops), or everything it has in the snapshot.
type sourceWrite struct {
	name string
	id   srcID
	ops  *srcOps
}

// journalTrim is a view's journal bounds after a commit: the first entry
// kept and the bytes of the entries kept.
type journalTrim struct {
	first uint64
	bytes int
}

// trimJournal drops the oldest entries beyond the bounds: size returns the
// size of a stored entry (0: none) and drop removes it.
func (c *storeCommit) trimJournal(t journalTrim, next uint64, size func(uint64) int, drop func(uint64) error) (journalTrim, error) {
	for next-t.first > uint64(c.maxEntries) || (t.bytes > c.maxBytes && next-t.first > 1) {
		if n := size(t.first); n > 0 {
			t.bytes -= n
			if err := drop(t.first); err != nil {
				return t, err
			}
		}
		t.first++
	}
	return t, nil
}
