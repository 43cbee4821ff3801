// Package atomicfile writes a file whole or not at all: the one way dnspki
// replaces a state file (keys, generated certificates, a catalog's member
// list), so that a crash or a full disk leaves the old file or the new one,
// never a mix.
package atomicfile

import (
	"os"
	"path/filepath"
)

// Write writes b to path with the given mode through a synced temporary
// file in the same directory and a rename, then syncs the directory so
// the rename survives a crash. On error the temporary file is removed and
// path is as it was.
func Write(path string, b []byte, mode os.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			os.Remove(tmp)
		}
	}()
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	ok = true
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
