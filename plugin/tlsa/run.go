package tlsa

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/miekg/dns"

	"github.com/dnspki/dnspki/plugin/pkg/zonemodel"
)

// start commits the state staged by attach (the zone is open now: the
// records first published by this start get its time) and starts watching.
func (m *Manager) start(z *zonemodel.Zone) error {
	m.mu.Lock()
	sec := ceilUnix(m.now())
	next := m.pendingStates
	m.pendingStates = nil
	for _, st := range next {
		for _, r := range st.Records {
			if m.fresh[r.key()] {
				r.Since = sec
			}
		}
	}
	m.fresh = nil
	m.started = true
	err := m.applyLocked(next, false)
	if err == nil {
		// Files that changed between attach and now (a reload while a
		// renewal writes them) are read again at once.
		err = m.refreshLocked()
	}
	if err == nil {
		for id, st := range m.states {
			observeState(id, st)
		}
	}
	m.mu.Unlock()
	if err != nil {
		return err
	}
	m.warnShadowed()
	if len(z.ViewNames()) > 1 {
		// Names published where their hosts have records (no view
		// configured) follow the other sources' changes.
		z.Subscribe(func(ch zonemodel.Change) {
			if ch.Entry != nil && ch.Entry.Source != SourceName {
				select {
				case m.zoneChanged <- struct{}{}:
				default:
				}
			}
		})
	}
	register(m)
	if m.httpAddr != "" {
		if err := startHTTP(m.httpAddr); err != nil {
			unregister(m)
			return err
		}
	}
	m.wg.Add(1)
	go func() { defer m.wg.Done(); m.loop() }()
	return nil
}

// stop ends the watcher (configuration shutdown or reload).
func (m *Manager) stop() {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return
	}
	m.closed = true
	started := m.started
	m.mu.Unlock()
	if !started {
		return
	}
	close(m.done)
	m.wg.Wait()
	unregister(m)
	if m.httpAddr != "" {
		stopHTTP(m.httpAddr)
	}
}

// warnShadowed logs TLSA records other sources have at the names this plugin
// maintains: they are not served (the plugin's records replace them), since
// only maintained digests may be published.
func (m *Manager) warnShadowed() {
	base := m.zone.Source("file")
	if base == nil {
		return
	}
	names := map[string]bool{}
	m.mu.Lock()
	for _, e := range m.entries {
		for _, n := range e.cfg.Names {
			names[n] = true
		}
	}
	m.mu.Unlock()
	for _, v := range m.zone.ViewNames() {
		for _, rr := range base.Records(v) {
			if rr.Header().Rrtype == dns.TypeTLSA && names[rr.Header().Name] {
				log.Warningf("zone %s: the zone file's %q is not served: the tlsa plugin maintains the TLSA records at %s (remove it from the zone file)", m.origin, rr.String(), rr.Header().Name)
			}
		}
	}
}

// loop re-reads the files on file system events (debounced), at the re-read
// interval, when a retiring record's hold-down ends, after another source
// changed the zone (per-host views), and when kicked.
func (m *Manager) loop() {
	w, events, errs := m.watch()
	if w != nil {
		defer w.Close()
	}
	var tick <-chan time.Time
	if m.reread > 0 {
		t := time.NewTicker(m.reread)
		defer t.Stop()
		tick = t.C
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var debounce <-chan time.Time
	m.reloadFiles(w, timer)
	for {
		select {
		case <-m.done:
			return
		case ev := <-events:
			if debounce == nil && m.relevant(ev.Name) {
				debounce = time.After(m.debounce)
			}
		case err := <-errs:
			log.Warningf("zone %s: file watcher: %v", m.origin, err)
		case <-debounce:
			debounce = nil
			m.reloadFiles(w, timer)
		case <-tick:
			m.reloadFiles(w, timer)
		case <-timer.C:
			m.reloadFiles(w, timer)
		case <-m.kick:
			m.arm(timer)
		case <-m.zoneChanged:
			if debounce == nil {
				debounce = time.After(m.debounce)
			}
		}
	}
}

// watch starts the file watcher; without one (nil) the files are read at
// the re-read interval only, which is logged.
func (m *Manager) watch() (*fsnotify.Watcher, <-chan fsnotify.Event, <-chan error) {
	w, err := m.newWatcher()
	if err != nil {
		if m.reread > 0 {
			log.Warningf("zone %s: file events unavailable (%v): re-reading every %s only", m.origin, err, m.reread)
		} else {
			log.Warningf("zone %s: file events unavailable (%v) and reread is 0: the files are read again only on reload and by the readiness endpoint", m.origin, err)
		}
		return nil, nil, nil
	}
	return w, w.Events, w.Errors
}

// arm sets the timer to the next end of a hold-down (at the latest in an
// hour).
func (m *Manager) arm(timer *time.Timer) {
	m.mu.Lock()
	at := nextRemoval(m.states)
	m.mu.Unlock()
	if !timer.Stop() {
		select {
		case <-timer.C:
		default:
		}
	}
	if at.IsZero() {
		timer.Reset(time.Hour)
		return
	}
	d := time.Until(at) + 20*time.Millisecond
	if d < 0 {
		d = 0
	}
	timer.Reset(d)
}

// reloadFiles reads the files again and applies them, then re-arms the timer.
// A folder watched for the first time may have changed before the watch:
// it reads again (three times at most) until the watched set is stable.
func (m *Manager) reloadFiles(w *fsnotify.Watcher, timer *time.Timer) {
	for range 3 {
		m.mu.Lock()
		if !m.closed {
			if err := m.refreshLocked(); errors.Is(err, zonemodel.ErrSuperseded) {
				m.mu.Unlock()
				return
			}
		}
		m.mu.Unlock()
		if !m.updateWatches(w) {
			break
		}
	}
	m.arm(timer)
}

// poke makes the loop re-arm its timer after a change made outside it.
func (m *Manager) poke() {
	select {
	case m.kick <- struct{}{}:
	default:
	}
}

// updateWatches watches the folders of every input file, the folders their
// symlinks point into (certbot's live/ links into archive/), and the
// configured folders and their parents (certbot replaces the links; a
// folder may be created later). A folder that does not exist yet is covered
// by its nearest existing parent. It reports whether a folder was added.
func (m *Manager) updateWatches(w *fsnotify.Watcher) bool {
	if w == nil {
		return false
	}
	want := map[string]bool{}
	paths := map[string]bool{}
	addDir := func(d string) {
		for d != "" {
			if isDir(d) {
				want[filepath.Clean(d)] = true
				return
			}
			p := filepath.Dir(d)
			if p == d {
				return
			}
			d = p
		}
	}
	addFile := func(p string) {
		if p == "" {
			return
		}
		paths[filepath.Clean(p)] = true
		addDir(filepath.Dir(p))
		if real, err := filepath.EvalSymlinks(p); err == nil {
			paths[filepath.Clean(real)] = true
			addDir(filepath.Dir(real))
		}
	}
	m.mu.Lock()
	for _, e := range m.entries {
		if e.cfg.Path == "" {
			continue
		}
		in := resolveInputs(e.cfg.Path, e.cfg.Layout, e.cfg.Key, e.cfg.Next, e.cfg.Next != nil)
		paths[filepath.Clean(e.cfg.Path)] = true
		if isDir(e.cfg.Path) {
			addDir(e.cfg.Path)
			addDir(filepath.Dir(e.cfg.Path))
		}
		addFile(in.cert)
		addFile(in.key)
		for _, n := range in.next {
			addFile(n)
		}
	}
	m.paths = paths
	m.mu.Unlock()
	for d := range m.watches {
		if !want[d] {
			w.Remove(d)
			delete(m.watches, d)
		}
	}
	added := false
	for d := range want {
		if !m.watches[d] {
			if err := w.Add(d); err != nil {
				if !os.IsNotExist(err) {
					log.Warningf("zone %s: watching %s: %v (re-reading every %s)", m.origin, d, err, m.reread)
				}
				continue
			}
			m.watches[d] = true
			added = true
		}
	}
	return added
}

// relevant reports whether a file system event concerns an input file, a
// symlink target or a folder on the way to one (other files in the watched
// folders, a log file for instance, do not trigger a read).
func (m *Manager) relevant(name string) bool {
	name = filepath.Clean(name)
	m.mu.Lock()
	defer m.mu.Unlock()
	for p := range m.paths {
		if p == name || strings.HasPrefix(p, name+string(filepath.Separator)) {
			return true
		}
	}
	return false
}
