package zonemodel

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// RemoveState deletes the stored state of a zone that is no longer served
// (a member a catalog dropped): its serial, journal and records. The zone
// must be closed; a zone of that origin opened later starts afresh.
func RemoveState(stateDir, origin string) error {
	path := storePath(stateDir, Fqdn(origin))
	// Under the lock of open stores: no Open of the zone can start meanwhile.
	stores.Lock()
	defer stores.Unlock()
	if _, open := stores.m[path]; open {
		return fmt.Errorf("zone %s: state %s is still in use", Fqdn(origin), path)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("zone %s: %w", Fqdn(origin), err)
	}
	return nil
}
