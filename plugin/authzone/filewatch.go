package authzone

import (
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Zone files are watched per server block, not per zone: one fsnotify
// watcher (one inotify instance; the kernel allows 128 per user by default)
// and one goroutine for every zone file of the block, however many zones
// there are. A file is reloaded on file system events for its directory
// (editors and tools that replace the file by rename or symlink swap
// included; debounced) and, as a backstop, by polling at its zone's reload
// interval: a poll reads the file only when its size, modification time or
// inode changed since the last read (a file is hashed and parsed only then).

// watchTick is the granularity of debouncing and polling.
const watchTick = 100 * time.Millisecond

// watchDebounce is how long after the last event in a directory its zones'
// files are read (a tool writing a file in several steps).
const watchDebounce = 200 * time.Millisecond

type fileWatcher struct {
	mu    sync.Mutex
	zones map[*zoneState]*watchState
	dirs  map[string]map[*zoneState]bool
	w     *fsnotify.Watcher // nil: polling only
	done  chan struct{}
	start sync.Once
	stop  sync.Once
	wg    sync.WaitGroup
}

type watchState struct {
	nextPoll time.Time // zero: no polling (reload 0)
	debounce time.Time // zero: no event pending
}

func newFileWatcher() *fileWatcher {
	return &fileWatcher{zones: map[*zoneState]*watchState{}, dirs: map[string]map[*zoneState]bool{}, done: make(chan struct{})}
}

// add watches the files of a zone that has started.
func (fw *fileWatcher) add(zs *zoneState) {
	fw.start.Do(func() {
		if w, err := fsnotify.NewWatcher(); err == nil {
			fw.w = w
		} else {
			log.Warningf("file events unavailable: %v (polling zone files only)", err)
		}
		fw.wg.Add(1)
		go func() { defer fw.wg.Done(); fw.run() }()
	})
	fw.mu.Lock()
	defer fw.mu.Unlock()
	st := &watchState{}
	if zs.spec.reload > 0 {
		st.nextPoll = time.Now().Add(zs.spec.reload)
	}
	fw.zones[zs] = st
	for _, f := range zs.files {
		d := filepath.Dir(f.spec.path)
		if fw.dirs[d] == nil {
			fw.dirs[d] = map[*zoneState]bool{}
			if fw.w != nil {
				if err := fw.w.Add(d); err != nil {
					log.Warningf("zone %s: watching %s: %v (polling only)", zs.zone.Origin, d, err)
				}
			}
		}
		fw.dirs[d][zs] = true
	}
}

// remove stops watching a zone's files (the zone stops).
func (fw *fileWatcher) remove(zs *zoneState) {
	fw.mu.Lock()
	defer fw.mu.Unlock()
	delete(fw.zones, zs)
	for d, set := range fw.dirs {
		delete(set, zs)
		if len(set) == 0 {
			delete(fw.dirs, d)
			if fw.w != nil {
				_ = fw.w.Remove(d)
			}
		}
	}
}

// close ends the watcher (the server block shuts down).
func (fw *fileWatcher) close() {
	fw.stop.Do(func() {
		close(fw.done)
		fw.wg.Wait()
		if fw.w != nil {
			fw.w.Close()
		}
	})
}

func (fw *fileWatcher) run() {
	var events <-chan fsnotify.Event
	var errs <-chan error
	if fw.w != nil {
		events, errs = fw.w.Events, fw.w.Errors
	}
	tick := time.NewTicker(watchTick)
	defer tick.Stop()
	for {
		select {
		case <-fw.done:
			return
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			fw.event(ev.Name)
		case err, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
			log.Warningf("zone file watcher: %v", err)
		case now := <-tick.C:
			for _, zs := range fw.due(now) {
				select {
				case <-zs.done: // stopped meanwhile
				default:
					zs.reloadChanged()
				}
			}
		}
	}
}

// event notes a change in a directory: its zones' files are read after the
// debounce.
func (fw *fileWatcher) event(name string) {
	fw.mu.Lock()
	defer fw.mu.Unlock()
	at := time.Now().Add(watchDebounce)
	for zs := range fw.dirs[filepath.Dir(name)] {
		if st := fw.zones[zs]; st != nil {
			st.debounce = at
		}
	}
}

// due returns the zones whose files are to be looked at now: a debounced
// event, or the poll interval (whose files changed on disk).
func (fw *fileWatcher) due(now time.Time) []*zoneState {
	fw.mu.Lock()
	defer fw.mu.Unlock()
	var out []*zoneState
	for zs, st := range fw.zones {
		switch {
		case !st.debounce.IsZero() && !now.Before(st.debounce):
			st.debounce = time.Time{}
			out = append(out, zs)
		case !st.nextPoll.IsZero() && !now.Before(st.nextPoll):
			st.nextPoll = now.Add(zs.spec.reload)
			if zs.filesTouched() {
				out = append(out, zs)
			}
		}
	}
	return out
}

// fileStat is what a poll compares to decide whether to read a file.
type fileStat struct {
	size  int64
	mtime time.Time
	ino   uint64
}

func statOf(path string) fileStat {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStat{size: -1}
	}
	return fileStat{size: fi.Size(), mtime: fi.ModTime(), ino: inode(fi)}
}

// filesTouched reports whether any of the zone's files changed on disk
// (size, time, inode) since it was last looked at, and notes the new state.
func (zs *zoneState) filesTouched() bool {
	touched := false
	for _, f := range zs.files {
		if st := statOf(f.spec.path); st != f.stat {
			f.stat = st
			touched = true
		}
	}
	return touched
}

func inode(fi os.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Ino
	}
	return 0
}
