package harness

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// StartNSD runs NSD 4 (nsd -d, foreground, logging to its output) on
// 127.0.0.1:port (0: a free port) with the given zones, its configuration and state in a new
// directory. Secondaries request IXFR (AXFR fallback) with the primary's key
// and accept NOTIFY from the primary's address with that key.
func StartNSD(t testing.TB, port int, zones ...PeerZone) *Peer {
	t.Helper()
	bins := Need(t, "nsd")
	dir := t.TempDir()
	if port == 0 {
		port = FreePort(t)
	}
	var b strings.Builder
	fmt.Fprintf(&b, `server:
	ip-address: 127.0.0.1@%[2]d
	do-ip6: no
	username: ""
	chroot: ""
	zonesdir: "%[1]s"
	database: ""
	pidfile: "%[1]s/nsd.pid"
	xfrdfile: "%[1]s/xfrd.state"
	zonelistfile: "%[1]s/zone.list"
	xfrdir: "%[1]s"
	server-count: 1
	verbosity: 2
	hide-version: yes
remote-control:
	control-enable: no
`, dir, port)
	for _, k := range peerKeys(zones) {
		fmt.Fprintf(&b, "key:\n\tname: \"%s\"\n\talgorithm: %s\n\tsecret: \"%s\"\n", k.Name, k.Algorithm, k.Secret)
	}
	for _, z := range zones {
		file := zoneFileName(dir, z)
		fmt.Fprintf(&b, "zone:\n\tname: \"%s\"\n\tzonefile: \"%s\"\n", z.Name, file)
		if z.secondary() {
			if z.PrimaryVia != "" {
				t.Fatalf("StartNSD: PrimaryVia is not supported (zone %s)", z.Name)
			}
			h, p := splitHostPort(t, z.Primary)
			key := "NOKEY"
			if z.PrimaryKey != nil {
				key = z.PrimaryKey.Name
			}
			fmt.Fprintf(&b, "\tallow-notify: %s %s\n\trequest-xfr: %s@%d %s\n", h, key, h, p, key)
			continue
		}
		writeFile(t, file, z.File)
		key := "NOKEY"
		if z.Transfer != nil {
			key = z.Transfer.Name
		}
		fmt.Fprintf(&b, "\tprovide-xfr: 0.0.0.0/0 %s\n", key)
		nkey := "NOKEY"
		if z.NotifyKey != nil {
			nkey = z.NotifyKey.Name
		}
		for _, n := range z.Notify {
			h, p := splitHostPort(t, n)
			fmt.Fprintf(&b, "\tnotify: %s@%d %s\n", h, p, nkey)
		}
	}
	conf := filepath.Join(dir, "nsd.conf")
	writeFile(t, conf, b.String())
	p := Start(t, "nsd", []string{bins[0], "-d", "-c", conf}, StartOpts{Dir: dir})
	return &Peer{Proc: p, Kind: "nsd", Dir: dir, Port: port, Addr: Addr(port)}
}
