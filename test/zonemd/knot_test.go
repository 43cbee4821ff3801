package zonemd

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dnspki/dnspki/test/harness"
)

// startKnotConf runs knotd with the configuration text (its directory
// written into it as DIR) and the files in its directory.
func startKnotConf(t *testing.T, conf string, files map[string]string) (*harness.Proc, string) {
	t.Helper()
	bin := harness.Need(t, "knotd")[0]
	dir := t.TempDir()
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, "knot.conf")
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(conf, "DIR", dir)), 0o644); err != nil {
		t.Fatal(err)
	}
	return harness.Start(t, "knotd", []string{bin, "-c", path}, harness.StartOpts{Dir: dir}), dir
}

// Knot 3.2 as the secondary of a dnspki primary with zone-digest, with
// zonemd-verify on: Knot refuses a zone whose ZONEMD does not verify; it
// serves the first serial and the serial after a change (IXFR) and logs
// each verification as successful.
func TestKnotVerifiesDnspkiDigest(t *testing.T) {
	dir := t.TempDir()
	zf := filepath.Join(dir, "plain.zone")
	if err := os.WriteFile(zf, []byte(fmt.Sprintf(zoneText, "plain.test.", "")), 0o644); err != nil {
		t.Fatal(err)
	}
	port, kport := harness.FreePort(t), harness.FreePort(t)
	s := harness.StartDnspki(t, dir, fmt.Sprintf(`plain.test:%[1]d {
    bind 127.0.0.1
    authzone plain.test {
        file plain.zone
        reload 100ms
        zone-digest
        transfer to 127.0.0.1
        notify 127.0.0.1:%[2]d
    }
}
`, port, kport), port)
	harness.WaitDNS(t, s.Addr, "plain.test.", 30*time.Second, s.Proc)
	k, _ := startKnotConf(t, harness.KnotBase("DIR", kport)+fmt.Sprintf(`remote:
  - id: primary
    address: 127.0.0.1@%d
acl:
  - id: notify
    address: 127.0.0.1
    action: notify
template:
  - id: default
    storage: "DIR"
    zonefile-sync: -1
    zonefile-load: none
    journal-content: all
zone:
  - domain: plain.test.
    master: primary
    acl: [notify]
    zonemd-verify: on
`, port), nil)
	harness.WaitServes(t, harness.Addr(kport), "plain.test.", 2026010100, 30*time.Second, k)
	if l := k.WaitLog(0, `\[plain\.test\.\] ZONEMD, verification successful`, 1, 10*time.Second); len(l) != 1 {
		t.Fatalf("Knot did not verify the ZONEMD of the AXFR:\n%s", k.Output())
	}
	mark := k.LogMark()
	if err := os.WriteFile(zf, []byte(fmt.Sprintf(zoneText, "plain.test.", "new IN TXT \"changed\"\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	harness.WaitServes(t, harness.Addr(kport), "plain.test.", 2026010101, 30*time.Second, k)
	if l := k.LogSince(mark, `(?i)zonemd.*(fail|invalid|mismatch)`); len(l) > 0 {
		t.Fatalf("Knot reports ZONEMD failures: %q", l)
	}
	if l := k.LogSince(mark, `IXFR|AXFR`); len(l) == 0 {
		t.Fatalf("Knot logged no transfer:\n%s", k.Output())
	}
	if l := k.WaitLog(mark, `\[plain\.test\.\] ZONEMD, verification successful`, 1, 10*time.Second); len(l) != 1 {
		t.Fatalf("Knot did not verify the ZONEMD after the IXFR:\n%s", k.Output())
	}
}

// dnspki as the secondary of Knot 3.2: a zone whose ZONEMD Knot generates
// (zonemd-generate) is verified and served; a zone whose ZONEMD does not
// match its data is refused, logged with the primary and the reason,
// counted, and not served.
func TestDnspkiVerifiesKnotDigest(t *testing.T) {
	kport, port, mport := harness.FreePort(t), harness.FreePort(t), harness.FreePort(t)
	// The bad zone: a ZONEMD with the right serial and a wrong digest.
	bad := fmt.Sprintf(zoneText, "bad.test.", "@ IN ZONEMD 2026010100 1 1 "+strings.Repeat("ab", 48)+"\n")
	good := fmt.Sprintf(zoneText, "good.test.", "")
	k, _ := startKnotConf(t, harness.KnotBase("DIR", kport)+`acl:
  - id: transfer
    address: 127.0.0.1
    action: transfer
template:
  - id: default
    storage: "DIR"
    zonefile-sync: -1
    zonefile-load: whole
    journal-content: changes
    semantic-checks: off
    acl: [transfer]
zone:
  - domain: good.test.
    file: "DIR/good.zone"
    zonemd-generate: zonemd-sha384
  - domain: bad.test.
    file: "DIR/bad.zone"
`, map[string]string{"good.zone": good, "bad.zone": bad})
	harness.WaitServes(t, harness.Addr(kport), "good.test.", 2026010100, 30*time.Second, k)
	harness.WaitServes(t, harness.Addr(kport), "bad.test.", 2026010100, 30*time.Second, k)
	if r, err := harness.Query(harness.Addr(kport), "good.test.", 63, true, false); err != nil || len(r.Answer) != 1 {
		t.Fatalf("Knot does not serve a ZONEMD for good.test: %v %v", r, err)
	}

	s := harness.StartDnspki(t, t.TempDir(), fmt.Sprintf(`good.test:%[1]d bad.test:%[1]d {
    bind 127.0.0.1
    prometheus 127.0.0.1:%[3]d
    authzone good.test {
        primary 127.0.0.1:%[2]d
    }
    authzone bad.test {
        primary 127.0.0.1:%[2]d
    }
}
`, port, kport, mport), port)
	harness.WaitServes(t, s.Addr, "good.test.", 2026010100, 30*time.Second, s.Proc)
	primary := fmt.Sprintf("127.0.0.1:%d", kport)
	if l := s.WaitLog(0, `zone bad\.test\.: transfer from `+primary+` refused: ZONEMD verification failed: SHA384 digest abababab`, 1, 30*time.Second); len(l) == 0 {
		t.Fatalf("no refusal of bad.test naming the primary and the reason:\n%s", s.Output())
	}
	url := fmt.Sprintf("http://127.0.0.1:%d/metrics", mport)
	if v := harness.Metric(t, url, "coredns_dnspki_zonemd_verify_total", map[string]string{"zone": "good.test.", "result": "verified"}); v < 1 {
		t.Fatalf("good.test: verified %v", v)
	}
	if v := harness.Metric(t, url, "coredns_dnspki_zonemd_verify_total", map[string]string{"zone": "bad.test.", "result": "mismatch"}); v < 1 {
		t.Fatalf("bad.test: mismatch %v", v)
	}
	if _, ok := harness.SOASerial(s.Addr, "bad.test."); ok {
		t.Fatal("dnspki serves bad.test, whose ZONEMD does not match")
	}
}
