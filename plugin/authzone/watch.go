package authzone

import (
	"crypto/sha256"
	"io"
	"os"

	"github.com/dnspki/dnspki/plugin/pkg/zonemodel"
)

// watchedFile is one zone file feeding a source of the zone.
type watchedFile struct {
	spec fileSpec
	src  *zonemodel.Source
	sig  [32]byte // content hash of the last file read (good or bad)
	stat fileStat // size, time and inode when last polled
}

// fileSig hashes the file's content (zero if it cannot be read).
func fileSig(path string) [32]byte {
	f, err := os.Open(path)
	if err != nil {
		return [32]byte{}
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return [32]byte{}
	}
	var s [32]byte
	copy(s[:], h.Sum(nil))
	return s
}

// reloadChanged re-reads every file whose content changed. A file that does
// not parse or check is logged and counted; the zone keeps its last good
// content.
func (zs *zoneState) reloadChanged() {
	for _, f := range zs.files {
		sig := fileSig(f.spec.path)
		if sig == f.sig {
			continue
		}
		f.sig = sig
		zs.reload(f)
	}
}

func (zs *zoneState) reload(f *watchedFile) {
	origin := zs.zone.Origin
	zd, err := readFile(f.spec, origin)
	if err != nil {
		loadErrors.WithLabelValues(origin, f.spec.path).Inc()
		log.Errorf("zone %s: reload failed, keeping the last good zone: %v", origin, err)
		return
	}
	for _, w := range zd.Warnings {
		log.Warningf("zone %s: %s", origin, w)
	}
	before := map[string]uint32{}
	for _, v := range zs.zone.Views() {
		before[v.Name] = v.Snapshot().Serial
	}
	if err := f.src.ReplaceZone(nil, zd); err != nil {
		loadErrors.WithLabelValues(origin, f.spec.path).Inc()
		log.Errorf("zone %s: reload of %s refused, keeping the last good zone: %v", origin, f.spec.path, err)
		return
	}
	for _, v := range zs.zone.Views() {
		if s := v.Snapshot().Serial; s != before[v.Name] {
			log.Infof("zone %s view %s: reloaded %s, serial %d -> %d", origin, v.Name, f.spec.path, before[v.Name], s)
		}
	}
}

// readFile reads a zone file: the base file is a whole zone; a per-view file
// adds records to it (no SOA of its own).
func readFile(f fileSpec, origin string) (*zonemodel.ZoneData, error) {
	if len(f.views) > 0 {
		return zonemodel.ReadZoneFragment(f.path, origin)
	}
	return zonemodel.ReadZoneFile(f.path, origin)
}
