package catalog

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/dnspki/dnspki/test/harness"
)

// The peer configurations of these tests: Knot and BIND as catalog
// consumers (RFC 9432) of a primary, Knot as a catalog producer. The
// generic harness peers have no catalogs, so the configurations are here.

var xfrKey = &harness.TSIGKey{Name: "xfr-key.", Algorithm: "hmac-sha256", Secret: "eGZyLWtleS1zZWNyZXQtZm9yLXRlc3RzLTAxMjM0NTY="}

const catalogZone = "catalog.invalid."

func write(t testing.TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// knotHeader is the common part of a Knot configuration in dir on port:
// the harness's base and xfr-key.
func knotHeader(dir string, port int) string {
	return harness.KnotBase(dir, port) + fmt.Sprintf(`key:
  - id: %s
    algorithm: %s
    secret: %s
`, xfrKey.Name, xfrKey.Algorithm, xfrKey.Secret)
}

func startKnot(t testing.TB, dir string, port int, conf string) *harness.Peer {
	t.Helper()
	bins := harness.Need(t, "knotd")
	path := filepath.Join(dir, "knot.conf")
	write(t, path, conf)
	p := harness.Start(t, "knotd", []string{bins[0], "-c", path}, harness.StartOpts{Dir: dir})
	return &harness.Peer{Proc: p, Kind: "knot", Dir: dir, Port: port, Addr: harness.Addr(port)}
}

// startKnotConsumer runs Knot as a secondary of the catalog on primary
// (catalog-role interpret): every member is a secondary of primary with
// xfr-key. (template "member"; members of group "shops" get template
// "shops", which differs only in its name).
func startKnotConsumer(t testing.TB, port, primary int) *harness.Peer {
	t.Helper()
	dir := t.TempDir()
	conf := knotHeader(dir, port) + fmt.Sprintf(`remote:
  - id: primary
    address: 127.0.0.1@%[1]d
    key: %[2]s
acl:
  - id: notify
    address: 127.0.0.1
    key: %[2]s
    action: notify
template:
  - id: default
    storage: "%[3]s"
    zonefile-sync: -1
    zonefile-load: none
    journal-content: all
  - id: member
    storage: "%[3]s"
    master: primary
    acl: notify
    zonefile-sync: -1
    zonefile-load: none
    journal-content: all
  - id: shops
    storage: "%[3]s"
    master: primary
    acl: notify
    zonefile-sync: -1
    zonefile-load: none
    journal-content: all
zone:
  - domain: %[4]s
    master: primary
    acl: notify
    catalog-role: interpret
    catalog-template: [member, shops]
`, primary, xfrKey.Name, dir, catalogZone)
	return startKnot(t, dir, port, conf)
}

// startBindConsumer runs BIND 9 as a secondary of the catalog on primary
// (catalog-zones): every member is a secondary of primary with xfr-key.
func startBindConsumer(t testing.TB, port, primary int) *harness.Peer {
	t.Helper()
	bins := harness.Need(t, "named")
	dir := t.TempDir()
	conf := fmt.Sprintf(`options {
	directory "%[1]s";
	pid-file "%[1]s/named.pid";
	session-keyfile "%[1]s/session.key";
	managed-keys-directory "%[1]s";
	listen-on port %[2]d { 127.0.0.1; };
	listen-on-v6 { none; };
	recursion no;
	dnssec-validation no;
	notify no;
	allow-new-zones yes;
	catalog-zones {
		zone "%[3]s" default-primaries { 127.0.0.1 port %[4]d key "%[5]s"; } min-update-interval 1;
	};
};
controls { };
logging {
	channel info { stderr; severity info; print-time yes; print-category yes; print-severity yes; };
	category default { info; };
};
key "%[5]s" { algorithm %[6]s; secret "%[7]s"; };
zone "%[3]s" {
	type secondary;
	file "%[1]s/catalog.db";
	primaries { 127.0.0.1 port %[4]d key "%[5]s"; };
	allow-notify { 127.0.0.1; };
};
`, dir, port, catalogZone, primary, xfrKey.Name, xfrKey.Algorithm, xfrKey.Secret)
	path := filepath.Join(dir, "named.conf")
	write(t, path, conf)
	p := harness.Start(t, "named", []string{bins[0], "-f", "-c", path, "-n", "1"}, harness.StartOpts{Dir: dir})
	return &harness.Peer{Proc: p, Kind: "bind", Dir: dir, Port: port, Addr: harness.Addr(port)}
}

// knotPrimaryConf configures Knot as the primary of zones (origin -> zone
// file content, written to dir) on port, transfers with xfr-key., NOTIFY to
// notify. With generate, the zones are members of the catalog Knot
// generates (catalog-role generate), with the group of groups[zone] if any;
// otherwise the catalog, if among the zones, is an ordinary zone served
// from its file.
func knotPrimaryConf(t testing.TB, dir string, port, notify int, generate bool, zones, groups map[string]string) string {
	t.Helper()
	conf := knotHeader(dir, port) + fmt.Sprintf(`remote:
  - id: secondary
    address: 127.0.0.1@%[1]d
    key: %[2]s
acl:
  - id: transfer
    key: %[2]s
    action: transfer
template:
  - id: default
    storage: "%[3]s"
    zonefile-sync: -1
    zonefile-load: whole
    journal-content: changes
    semantic-checks: on
    acl: transfer
    notify: secondary
zone:
`, notify, xfrKey.Name, dir)
	if generate {
		conf += fmt.Sprintf("  - domain: %s\n    catalog-role: generate\n", catalogZone)
	}
	names := make([]string, 0, len(zones))
	for z := range zones {
		names = append(names, z)
	}
	slices.Sort(names)
	for _, z := range names {
		file := filepath.Join(dir, z+"zone")
		write(t, file, zones[z])
		conf += fmt.Sprintf("  - domain: %s\n    file: \"%s\"\n", z, file)
		if generate {
			conf += fmt.Sprintf("    catalog-role: member\n    catalog-zone: %s\n", catalogZone)
			if g := groups[z]; g != "" {
				conf += fmt.Sprintf("    catalog-group: %s\n", g)
			}
		}
	}
	return conf
}
