package zonemodel

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
	bolt "go.etcd.io/bbolt"
)

// store is the durable state of one zone: per view the serial, the journal and
// every source's records; per source its private metadata. One bbolt file per
// zone, shared by the generations of a zone across Corefile reloads (the old
// generation still serves while the new one opens).
type store struct {
	path string
	db   *bolt.DB
	refs int
	// mu serializes every writer of the zone, across generations.
	mu sync.Mutex
	// current is the newest generation that opened the store; older ones are
	// superseded and refuse writes.
	current *Zone
	// ready is closed once the database is open (db set) or failed (err).
	ready chan struct{}
	err   error
}

var stores = struct {
	sync.Mutex
	m map[string]*store
}{m: map[string]*store{}}

// storePath is the database file of a zone below dir.
func storePath(dir, origin string) string {
	name := strings.TrimSuffix(origin, ".")
	if name == "" {
		name = "root"
	}
	return filepath.Join(dir, "zones", name+".db")
}

// acquireStore returns the open store of path, opening it if needed. The
// database is opened outside the lock of all stores (a new one is written
// and fsynced), so that many zones open at once; a second caller for the
// same path waits for the first one's open.
func acquireStore(path string) (*store, error) {
	stores.Lock()
	if st := stores.m[path]; st != nil {
		st.refs++
		stores.Unlock()
		<-st.ready
		if st.err != nil {
			return nil, st.err
		}
		return st, nil
	}
	st := &store{path: path, refs: 1, ready: make(chan struct{})}
	stores.m[path] = st
	stores.Unlock()
	db, err := openDB(path)
	if err != nil {
		stores.Lock()
		delete(stores.m, path)
		stores.Unlock()
		st.err = err
		close(st.ready)
		return nil, err
	}
	st.db = db
	close(st.ready)
	return st, nil
}

func openDB(path string) (*bolt.DB, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("state directory: %w", err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		if errors.Is(err, bolt.ErrTimeout) {
			return nil, fmt.Errorf("%s: locked by another process (is another dnspki running with the same state directory?)", path)
		}
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return db, nil
}

func (st *store) release() {
	stores.Lock()
	defer stores.Unlock()
	st.refs--
	if st.refs == 0 {
		delete(stores.m, st.path)
		st.db.Close()
	}
}

var (
	bViews   = []byte("views")
	bSrcMeta = []byte("srcmeta")
	bMeta    = []byte("meta")
	bJournal = []byte("journal")
	bSrc     = []byte("src")
	kSerial  = []byte("serial")
	kSeq     = []byte("seq")
)

type rrKey struct {
	name string
	t    uint16
}

func (k rrKey) bytes() []byte {
	b := make([]byte, len(k.name)+3)
	copy(b, k.name)
	binary.BigEndian.PutUint16(b[len(k.name)+1:], k.t)
	return b
}

func parseKey(b []byte) (rrKey, error) {
	if len(b) < 3 || b[len(b)-3] != 0 {
		return rrKey{}, errors.New("bad record key")
	}
	return rrKey{name: string(b[:len(b)-3]), t: binary.BigEndian.Uint16(b[len(b)-2:])}, nil
}

// packRRs encodes records as a sequence of (uint16 length, wire RR).
//
// dns.PackRR writes the record's Rdlength, and these records are shared with
// published snapshots that other goroutines pack for answers: each record is
// packed as the only answer of a message instead, which does not write to it.
func packRRs(rrs []dns.RR) ([]byte, error) {
	// Records are packed through a message (Msg.PackBuffer), never with
	// dns.PackRR: that writes Rdlength into the record, which is shared with
	// live snapshots that answers are packing concurrently. One output buffer
	// of the uncompressed size, one scratch buffer reused: every change packs
	// its records and journal entry, so no large garbage per call.
	size := 0
	for _, rr := range rrs {
		size += 2 + dns.Len(rr)
	}
	out := make([]byte, 0, size)
	buf := make([]byte, 0, 512)
	m := new(dns.Msg)
	for i := range rrs {
		m.Answer = rrs[i : i+1]
		b, err := m.PackBuffer(buf)
		if err != nil {
			return nil, err
		}
		rr := b[12:] // after the header; no question
		out = binary.BigEndian.AppendUint16(out, uint16(len(rr)))
		out = append(out, rr...)
		buf = b[:0]
	}
	return out, nil
}

func unpackRRs(b []byte) ([]dns.RR, error) {
	var out []dns.RR
	for len(b) > 0 {
		if len(b) < 2 {
			return nil, errors.New("truncated record list")
		}
		n := int(binary.BigEndian.Uint16(b))
		if len(b) < 2+n {
			return nil, errors.New("truncated record")
		}
		rr, _, err := dns.UnpackRR(b[2:2+n], 0)
		if err != nil {
			return nil, err
		}
		out = append(out, rr)
		b = b[2+n:]
	}
	return out, nil
}

// JournalEntry is one change of a view: the records removed and added between
// two serials, in the form of an RFC 1995 difference sequence.
type JournalEntry struct {
	From, To uint32
	OldSOA   dns.RR
	NewSOA   dns.RR
	Del, Add []dns.RR
	Time     time.Time
	Source   string
}

func (e *JournalEntry) encode() ([]byte, error) {
	var out []byte
	out = binary.BigEndian.AppendUint64(out, uint64(e.Time.Unix()))
	out = binary.BigEndian.AppendUint16(out, uint16(len(e.Source)))
	out = append(out, e.Source...)
	for _, part := range [][]dns.RR{{e.OldSOA}, {e.NewSOA}, e.Del, e.Add} {
		b, err := packRRs(part)
		if err != nil {
			return nil, err
		}
		out = binary.BigEndian.AppendUint32(out, uint32(len(b)))
		out = append(out, b...)
	}
	return out, nil
}

func decodeEntry(b []byte) (*JournalEntry, error) {
	if len(b) < 10 {
		return nil, errors.New("short journal entry")
	}
	e := &JournalEntry{Time: time.Unix(int64(binary.BigEndian.Uint64(b)), 0)}
	sl := int(binary.BigEndian.Uint16(b[8:]))
	b = b[10:]
	if len(b) < sl {
		return nil, errors.New("short journal entry")
	}
	e.Source = string(b[:sl])
	b = b[sl:]
	var parts [4][]dns.RR
	for i := range parts {
		if len(b) < 4 {
			return nil, errors.New("short journal entry")
		}
		n := int(binary.BigEndian.Uint32(b))
		if len(b) < 4+n {
			return nil, errors.New("short journal entry")
		}
		rrs, err := unpackRRs(b[4 : 4+n])
		if err != nil {
			return nil, err
		}
		parts[i] = rrs
		b = b[4+n:]
	}
	if len(parts[0]) != 1 || len(parts[1]) != 1 {
		return nil, errors.New("journal entry without SOA")
	}
	e.OldSOA, e.NewSOA, e.Del, e.Add = parts[0][0], parts[1][0], parts[2], parts[3]
	e.From, e.To = e.OldSOA.(*dns.SOA).Serial, e.NewSOA.(*dns.SOA).Serial
	return e, nil
}

func u64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }
func u32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

// viewBucket returns (creating when tx is writable) the bucket of one view.
func viewBucket(tx *bolt.Tx, view string) (*bolt.Bucket, error) {
	if !tx.Writable() {
		vb := tx.Bucket(bViews)
		if vb == nil {
			return nil, nil
		}
		return vb.Bucket([]byte(view)), nil
	}
	vb, err := tx.CreateBucketIfNotExists(bViews)
	if err != nil {
		return nil, err
	}
	b, err := vb.CreateBucketIfNotExists([]byte(view))
	if err != nil {
		return nil, err
	}
	for _, n := range [][]byte{bMeta, bJournal, bSrc} {
		if _, err := b.CreateBucketIfNotExists(n); err != nil {
			return nil, err
		}
	}
	return b, nil
}
