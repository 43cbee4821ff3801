package zonemodel

import (
	"fmt"
)

// RemoveState deletes the stored state of a zone that is no longer served
// (a member a catalog dropped): its serial, journal and records, the zone's
// bucket in the state directory's database. The zone must be closed; a zone
// of that origin opened later starts afresh.
func RemoveState(stateDir, origin string) error {
	origin = Fqdn(origin)
	// Under the lock of open stores: no Open of the zone can start meanwhile.
	stores.Lock()
	defer stores.Unlock()
	if _, open := stores.m[zoneKey{dirKey(stateDir), origin}]; open {
		return fmt.Errorf("zone %s: its state in %s is still in use", origin, stateDir)
	}
	if !mayHoldZone(stateDir, origin) {
		return nil
	}
	db, err := acquireDB(stateDir)
	if err != nil {
		return fmt.Errorf("zone %s: %w", origin, err)
	}
	defer db.release()
	if err := db.dropZone(origin); err != nil {
		return fmt.Errorf("zone %s: %w", origin, err)
	}
	return nil
}

// HasState reports whether the state directory holds stored state of the
// zone (for tests and tools: it opens the directory's database if no zone
// of this process has it open, and fails while another process has it).
func HasState(stateDir, origin string) (bool, error) {
	origin = Fqdn(origin)
	if !mayHoldZone(stateDir, origin) {
		return false, nil
	}
	db, err := acquireDB(stateDir)
	if err != nil {
		return false, err
	}
	defer db.release()
	return db.has(origin), nil
}
