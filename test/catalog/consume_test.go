package catalog

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dnspki/dnspki/plugin/pkg/zonemodel"
	"github.com/dnspki/dnspki/test/harness"
)

// consumerCorefile: dnspki on port follows catalog.invalid. from the
// primary on pport with xfr-key.; members may be transferred from it by
// 127.0.0.0/8 with xfr-key. (the 'member' template), members of group
// "open" by 127.0.0.0/8 without a key. The server block is
// the root: it must take queries for any member the catalog may list.
func consumerCorefile(dir string, port, pport int) string {
	return fmt.Sprintf(`.:%[1]d {
    bind 127.0.0.1
    authzone %[2]s {
        primary 127.0.0.1:%[3]d key %[4]s
        key %[4]s %[5]s %[6]s
        state %[7]s
        catalog consume
        member transfer to 127.0.0.0/8 key %[4]s
        member group open transfer to 127.0.0.0/8
    }
}
`, port, catalogZone, pport, xfrKey.Name, xfrKey.Algorithm, xfrKey.Secret, filepath.Join(dir, "state"))
}

// hasState reports whether dnspki's state in dir holds the zone (dnspki
// must be stopped: it holds the state database's lock while it runs).
func hasState(t *testing.T, dir, zone string) bool {
	t.Helper()
	ok, err := zonemodel.HasState(filepath.Join(dir, "state"), zone)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

// TestCatalogConsumedFromKnot: Knot generates a catalog of its zones
// (catalog-role generate); dnspki consumes it and serves every member,
// with the template's transfer ACL (the group's template for a member of
// a group). A zone added on Knot appears on
// dnspki, a removed one disappears (with its stored state), and after a
// restart with Knot down dnspki serves the members it stored.
func TestCatalogConsumedFromKnot(t *testing.T) {
	harness.Need(t, "knotd", "knotc")
	dir := t.TempDir()
	kdir := t.TempDir()
	port, kport := harness.FreePort(t), harness.FreePort(t)
	zones := map[string]string{"a.test.": memberZone("a.test.", 1, ""), "b.test.": memberZone("b.test.", 1, "")}
	groups := map[string]string{"b.test.": "open"}
	knot := startKnot(t, kdir, kport, knotPrimaryConf(t, kdir, kport, port, true, zones, groups))
	harness.WaitServes(t, knot.Addr, "a.test.", 1, 30*time.Second, knot.Proc)
	srv := harness.StartDnspki(t, dir, consumerCorefile(dir, port, kport), port)
	for z := range zones {
		waitTXT(t, srv.Addr, "www."+z, z)
	}
	// The member's transfer ACL comes from the template: with the key, not
	// without.
	if out := dig(t, srv.Addr, "a.test.", "AXFR"); !strings.Contains(out, "www.a.test.") {
		t.Errorf("AXFR of a member with xfr-key.:\n%s", out)
	}
	bins := harness.Need(t, "dig")
	out, _ := harness.Run(t, 30*time.Second, "", bins[0], "@127.0.0.1", "-p", fmt.Sprint(port), "a.test.", "AXFR", "+nocmd", "+nostats")
	if !strings.Contains(out, "Transfer failed") {
		t.Errorf("AXFR of a member without a key was not refused:\n%s", out)
	}
	// b.test has the group "open": its template allows transfers without a
	// key.
	out, _ = harness.Run(t, 30*time.Second, "", bins[0], "@127.0.0.1", "-p", fmt.Sprint(port), "b.test.", "AXFR", "+nocmd", "+nostats")
	if !strings.Contains(out, "www.b.test.") {
		t.Errorf("AXFR of a member of group open without a key:\n%s", out)
	}

	// A new zone on Knot: it reaches dnspki through the catalog.
	zones["c.test."] = memberZone("c.test.", 1, "")
	write(t, filepath.Join(kdir, "knot.conf"), knotPrimaryConf(t, kdir, kport, port, true, zones, groups))
	knot.Knotc(t, "reload")
	waitTXT(t, srv.Addr, "www.c.test.", "c.test.")

	// A zone removed on Knot disappears from dnspki, with its state.
	mark := srv.LogMark()
	delete(zones, "b.test.")
	write(t, filepath.Join(kdir, "knot.conf"), knotPrimaryConf(t, kdir, kport, port, true, zones, groups))
	knot.Knotc(t, "reload")
	harness.Eventually(t, 60*time.Second, "dnspki removing b.test.", func() bool { return refused(srv.Addr, "b.test.") })
	if l := srv.WaitLog(mark, `member b\.test\.: its stored state removed`, 1, 30*time.Second); len(l) == 0 {
		t.Fatal("no log line of b.test.'s stored state removed")
	}

	// Restart with the primary down: the stored catalog and members serve.
	knot.Stop()
	srv.Stop()
	if hasState(t, dir, "b.test.") || !hasState(t, dir, "a.test.") || !hasState(t, dir, "c.test.") {
		t.Errorf("stored state after b.test.'s removal: a.test. %v, b.test. %v, c.test. %v (want it for a and c only)",
			hasState(t, dir, "a.test."), hasState(t, dir, "b.test."), hasState(t, dir, "c.test."))
	}
	srv.Restart()
	for _, z := range []string{"a.test.", "c.test."} {
		waitTXT(t, srv.Addr, "www."+z, z)
	}
	if !refused(srv.Addr, "b.test.") {
		t.Errorf("b.test. is served again after the restart")
	}
}

// catalogText is a catalog zone file with the given version and member
// lines (owner relative to zones.catalog.invalid.).
func catalogText(serial uint32, version string, members ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "$ORIGIN %s\n$TTL 0\n@ IN SOA invalid. invalid. %d 3600 600 2147483646 0\n@ IN NS invalid.\n", catalogZone, serial)
	if version != "" {
		fmt.Fprintf(&b, "version IN TXT %q\n", version)
	}
	for _, m := range members {
		b.WriteString(m + "\n")
	}
	return b.String()
}

// TestCatalogConsumerRefusesBadMembers: Knot serves a hand-written catalog
// with a malformed member (two PTRs at one ID) and a zone listed under two
// IDs beside good members: dnspki serves the good members and refuses the
// others, each logged. A catalog of an unsupported version (with a good
// member gone) is not processed: dnspki keeps the members it had. Version
// "2" again: the removal applies.
func TestCatalogConsumerRefusesBadMembers(t *testing.T) {
	harness.Need(t, "knotd", "knotc")
	dir := t.TempDir()
	kdir := t.TempDir()
	port, kport := harness.FreePort(t), harness.FreePort(t)
	good := []string{"good1.zones IN PTR a.test.", "good2.zones IN PTR b.test."}
	bad := []string{
		"twoptr.zones IN PTR x.test.", "twoptr.zones IN PTR y.test.",
		"dup1.zones IN PTR dup.test.", "dup2.zones IN PTR dup.test.",
	}
	zones := map[string]string{
		catalogZone: catalogText(1, "2", append(append([]string{}, good...), bad...)...),
	}
	for _, z := range []string{"a.test.", "b.test.", "x.test.", "y.test.", "dup.test."} {
		zones[z] = memberZone(z, 1, "")
	}
	knot := startKnot(t, kdir, kport, knotPrimaryConf(t, kdir, kport, port, false, zones, nil))
	harness.WaitServes(t, knot.Addr, catalogZone, 1, 30*time.Second, knot.Proc)
	srv := harness.StartDnspki(t, dir, consumerCorefile(dir, port, kport), port)
	waitTXT(t, srv.Addr, "www.a.test.", "a.test.")
	waitTXT(t, srv.Addr, "www.b.test.", "b.test.")
	for _, re := range []string{
		`catalog catalog\.invalid\. serial 1: member ID twoptr: 2 PTR records \(one member per ID\): ignored`,
		`catalog catalog\.invalid\. serial 1: member dup\.test\. listed under 2 IDs \(dup1 dup2\): ignored until the catalog lists it once`,
	} {
		if l := srv.WaitLog(0, re, 1, 30*time.Second); len(l) == 0 {
			t.Errorf("no log line %q\n%s", re, srv.Output())
		}
	}
	if l := srv.WaitLog(0, `catalog catalog\.invalid\. serial 1: 2 member zones \(2 added, 0 removed\)`, 1, 30*time.Second); len(l) == 0 {
		t.Errorf("dnspki did not log the 2 good members\n%s", srv.Output())
	}
	for _, z := range []string{"x.test.", "y.test.", "dup.test."} {
		if !refused(srv.Addr, z) {
			t.Errorf("%s is served, but the catalog lists it badly", z)
		}
	}

	// Version 3 without b.test: not processed, b.test stays.
	mark := srv.LogMark()
	write(t, filepath.Join(kdir, catalogZone+"zone"), catalogText(2, "3", good[0]))
	knot.Knotc(t, "zone-reload", catalogZone)
	if l := srv.WaitLog(mark, `catalog catalog\.invalid\. serial 2: catalog catalog\.invalid\.: unsupported schema version "3" \(want "2"\): not processed; keeping its 2 member zones`, 1, 30*time.Second); len(l) == 0 {
		t.Fatalf("the version 3 catalog was not refused\n%s", srv.LogSince(mark, "."))
	}
	if v := txtOf(srv.Addr, "www.b.test."); !slices.Contains(v, "b.test.") {
		t.Errorf("b.test. dropped by a catalog that was not processed: %v", v)
	}

	// Version 2 again without b.test: b.test goes.
	write(t, filepath.Join(kdir, catalogZone+"zone"), catalogText(3, "2", good[0]))
	knot.Knotc(t, "zone-reload", catalogZone)
	harness.Eventually(t, 60*time.Second, "dnspki removing b.test.", func() bool { return refused(srv.Addr, "b.test.") })
	if v := txtOf(srv.Addr, "www.a.test."); !slices.Contains(v, "a.test.") {
		t.Errorf("a.test. not served after b.test. was removed: %v", v)
	}
}
