package zonemodel

import (
	"time"
)

// LastChange returns the time of the view's last journaled change (false
// when the journal holds none, or the zone is not open). For status pages;
// not on any query path.
func (v *View) LastChange() (time.Time, bool) {
	z := v.zone
	if !z.opened.Load() {
		return time.Time{}, false
	}
	e, err := z.st.be.lastJournal(v.Name)
	if err != nil || e == nil {
		return time.Time{}, false
	}
	return e.Time, true
}
