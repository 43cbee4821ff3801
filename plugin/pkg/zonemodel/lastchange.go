package zonemodel

import (
	"time"

	bolt "go.etcd.io/bbolt"
)

// LastChange returns the time of the view's last journaled change (false
// when the journal holds none, or the zone is not open). For status pages;
// not on any query path.
func (v *View) LastChange() (time.Time, bool) {
	z := v.zone
	if !z.opened.Load() {
		return time.Time{}, false
	}
	var t time.Time
	found := false
	z.st.db.View(func(btx *bolt.Tx) error {
		vb, err := viewBucket(btx, v.Name)
		if err != nil || vb == nil {
			return err
		}
		jb := vb.Bucket(bJournal)
		if jb == nil {
			return nil
		}
		if _, val := jb.Cursor().Last(); val != nil {
			if e, err := decodeEntry(val); err == nil {
				t, found = e.Time, true
			}
		}
		return nil
	})
	return t, found
}
