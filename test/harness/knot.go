package harness

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// StartKnot runs Knot DNS (knotd, foreground, logging to its output at info
// level) on 127.0.0.1:port (0: a free port) with the given zones, its configuration
// and state in a new directory. Primaries keep a journal of changes (IXFR
// out, updates); secondaries transfer at start and on NOTIFY.
func StartKnot(t testing.TB, port int, zones ...PeerZone) *Peer {
	t.Helper()
	bins := Need(t, "knotd")
	dir := t.TempDir()
	if port == 0 {
		port = FreePort(t)
	}
	var b strings.Builder
	b.WriteString(KnotBase(dir, port))
	if keys := peerKeys(zones); len(keys) > 0 {
		b.WriteString("key:\n")
		for _, k := range keys {
			fmt.Fprintf(&b, "  - id: %s\n    algorithm: %s\n    secret: %s\n", k.Name, k.Algorithm, k.Secret)
		}
	}
	remotes, acls := knotPeers(t, zones)
	if remotes != "" {
		b.WriteString("remote:\n" + remotes)
	}
	b.WriteString("acl:\n" + acls)
	fmt.Fprintf(&b, `template:
  - id: default
    storage: "%s"
    zonefile-sync: -1
    zonefile-load: whole
    journal-content: changes
    semantic-checks: on
zone:
`, dir)
	knotZones(t, &b, dir, zones)
	conf := filepath.Join(dir, "knot.conf")
	writeFile(t, conf, b.String())
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	p := Start(t, "knotd", []string{bins[0], "-c", conf}, StartOpts{Dir: dir})
	return &Peer{Proc: p, Kind: "knot", Dir: dir, Port: port, Addr: Addr(port)}
}

// knotPeers are the remote and acl sections of the zones: a secondary's
// primary (and the NOTIFY it accepts from it), a primary's NOTIFY targets,
// transfer and update ACLs.
func knotPeers(t testing.TB, zones []PeerZone) (string, string) {
	var remotes, acls strings.Builder
	for i, z := range zones {
		if z.secondary() {
			h, p := splitHostPort(t, z.Primary)
			fmt.Fprintf(&remotes, "  - id: primary%d\n    address: %s@%d\n", i, h, p)
			fmt.Fprintf(&acls, "  - id: notify%d\n    address: %s\n    action: notify\n", i, h)
			if z.PrimaryVia != "" {
				fmt.Fprintf(&remotes, "    via: %s\n", z.PrimaryVia)
			}
			if z.PrimaryKey != nil {
				fmt.Fprintf(&remotes, "    key: %s\n", z.PrimaryKey.Name)
				fmt.Fprintf(&acls, "    key: %s\n", z.PrimaryKey.Name)
			}
			continue
		}
		for j, n := range z.Notify {
			h, p := splitHostPort(t, n)
			fmt.Fprintf(&remotes, "  - id: notify%d_%d\n    address: %s@%d\n", i, j, h, p)
			if z.NotifyKey != nil {
				fmt.Fprintf(&remotes, "    key: %s\n", z.NotifyKey.Name)
			}
		}
		fmt.Fprintf(&acls, "  - id: transfer%d\n    action: transfer\n", i)
		if z.Transfer != nil {
			fmt.Fprintf(&acls, "    key: %s\n", z.Transfer.Name)
		} else {
			acls.WriteString("    address: 0.0.0.0/0\n")
		}
		if z.Update != nil {
			fmt.Fprintf(&acls, "  - id: update%d\n    action: update\n    key: %s\n", i, z.Update.Name)
		}
	}
	return remotes.String(), acls.String()
}

// knotZones writes the zone section, and the primaries' zone files.
func knotZones(t testing.TB, b *strings.Builder, dir string, zones []PeerZone) {
	for i, z := range zones {
		fmt.Fprintf(b, "  - domain: %s\n    file: \"%s\"\n", z.Name, zoneFileName(dir, z))
		if z.secondary() {
			fmt.Fprintf(b, "    master: primary%d\n    acl: [notify%d]\n", i, i)
			continue
		}
		writeFile(t, zoneFileName(dir, z), z.File)
		acl := fmt.Sprintf("transfer%d", i)
		if z.Update != nil {
			acl += fmt.Sprintf(", update%d", i)
		}
		fmt.Fprintf(b, "    acl: [%s]\n", acl)
		if len(z.Notify) > 0 {
			var ids []string
			for j := range z.Notify {
				ids = append(ids, fmt.Sprintf("notify%d_%d", i, j))
			}
			fmt.Fprintf(b, "    notify: [%s]\n", strings.Join(ids, ", "))
		}
	}
}

// Knotc runs knotc against a Knot started by StartKnot (its control socket)
// and returns the output.
func (p *Peer) Knotc(t testing.TB, args ...string) string {
	t.Helper()
	bins := Need(t, "knotc")
	return MustRun(t, 30*time.Second, p.Dir, append([]string{bins[0], "-s", filepath.Join(p.Dir, "knot.sock")}, args...)...)
}

// KnotBase is the part of a knotd configuration every test shares: state
// (rundir, database storage) in dir, listening on 127.0.0.1 port, one
// worker of each kind, log to stderr. Sections (key, remote, acl,
// template, zone) follow it.
func KnotBase(dir string, port int) string {
	return fmt.Sprintf(`server:
    rundir: "%[1]s"
    listen: 127.0.0.1@%[2]d
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
database:
    storage: "%[1]s"
log:
  - target: stderr
    any: info
`, dir, port)
}
