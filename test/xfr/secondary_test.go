package xfr

import (
	"fmt"
	"net"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/dnspki/dnspki/test/harness"
)

// These tests look at dnspki as a secondary from the side of its primary
// (Knot, BIND): TSIG enforced on what the primary sends, IXFR falling back
// to AXFR, the SOA refresh/retry/expire timers without NOTIFY, and dnspki's
// own record sources and online signing on top of the transferred zone.

// servfail reports whether addr answers name/A with SERVFAIL.
func servfail(addr, name string) bool {
	r, err := harness.Query(addr, name, dns.TypeA, false, false)
	return err == nil && r.Rcode == dns.RcodeServerFailure
}

// rcodeOf is the rcode addr answers name/qtype with (-1 on no answer).
func rcodeOf(addr, name string, qtype uint16) int {
	r, err := harness.Query(addr, name, qtype, false, false)
	if err != nil {
		return -1
	}
	return r.Rcode
}

// waitAnswers waits until addr answers owner TXT value.
func waitAnswers(t *testing.T, addr, owner, value string, timeout time.Duration) {
	t.Helper()
	harness.Eventually(t, timeout, fmt.Sprintf("%s answering %s TXT %q", addr, owner, value), func() bool { return answers(addr, owner, value) })
}

// TestDnspkiSecondaryRefusesBadTSIG: a dnspki secondary of Knot with the
// TSIG key xfr-key. The primary is replaced by one with the same key name
// but another secret, then by one without TSIG, each with a newer zone: the
// secondary refuses their NOTIFY, their answers (NOTAUTH: they cannot
// verify its requests, it cannot verify theirs) and applies nothing; it logs
// each refusal, keeps serving the zone it has and retries at the SOA retry
// interval. When the primary has the right key again, the next retry takes
// the newer zone. (Answers with no or a bad MAC and NOERROR, which no real
// primary sends, are covered in plugin/authzone's unit tests.)
func TestDnspkiSecondaryRefusesBadTSIG(t *testing.T) {
	harness.Need(t, "knotd")
	dir := t.TempDir()
	port, pport := harness.FreePort(t), harness.FreePort(t)
	primary := func(serial uint32, key *harness.TSIGKey, extra string) harness.PeerZone {
		// SOA refresh 2 s, retry 1 s.
		return harness.PeerZone{Name: zone, File: zoneText(serial, 2, 1, 600, extra), Transfer: key, Notify: []string{harness.Addr(port)}, NotifyKey: key}
	}
	knot := harness.StartKnot(t, pport, primary(10, xfrKey, ""))
	harness.WaitServes(t, knot.Addr, zone, 10, 30*time.Second, knot.Proc)
	sec := startDnspki(t, dir, port, fmt.Sprintf("primary %s key %s", knot.Addr, xfrKey.Name), keyLine(xfrKey))
	harness.WaitServes(t, sec.Addr, zone, 10, 30*time.Second, sec.Proc)

	newer := `new IN TXT "from the primary"` + "\n"
	wrong := &harness.TSIGKey{Name: xfrKey.Name, Algorithm: xfrKey.Algorithm, Secret: "d3Jvbmctc2VjcmV0LWZvci14ZnIta2V5LTAxMjM0NTY="}
	refresh := regexp.QuoteMeta(`refresh from ` + knot.Addr + ` failed: SOA query: `)
	for _, tc := range []struct {
		name    string
		key     *harness.TSIGKey
		refused string // dnspki's log line for the refused SOA answer
		notify  string // and for the primary's NOTIFY
	}{
		{"another secret", wrong, refresh + `.*BADSIG`, `NOTIFY example\.test\. from 127\.0\.0\.1:\d+, key xfr-key\.: refused \(NOTAUTH/BADSIG\): TSIG key xfr-key\.: bad MAC`},
		{"no TSIG", nil, refresh + `.*BADKEY`, `NOTIFY from 127\.0\.0\.1 refused: unsigned; primary ` + regexp.QuoteMeta(knot.Addr) + ` uses TSIG key xfr-key\.`},
	} {
		knot.Stop()
		mark := sec.LogMark()
		knot = harness.StartKnot(t, pport, primary(11, tc.key, newer))
		harness.WaitServes(t, knot.Addr, zone, 11, 30*time.Second, knot.Proc)
		// The first refresh (2 s) and at least one retry (1 s later).
		if l := sec.WaitLog(mark, tc.refused, 2, 15*time.Second); len(l) < 2 {
			t.Errorf("%s: dnspki logged %d refused refreshes, want >= 2 (the refresh and a retry)\n%s", tc.name, len(l), strings.Join(sec.LogSince(mark, "."), "\n"))
		}
		// Knot sends NOTIFY when it loads the zone; dnspki refuses it.
		if l := sec.WaitLog(mark, tc.notify, 1, 5*time.Second); len(l) < 1 {
			t.Errorf("%s: NOTIFY refusal not logged\n%s", tc.name, strings.Join(sec.LogSince(mark, "."), "\n"))
		}
		if s := harness.MustSerial(t, sec.Addr, zone); s != 10 {
			t.Errorf("%s: dnspki serves serial %d, want 10 (nothing applied)", tc.name, s)
		}
		if answers(sec.Addr, "new.example.test.", "from the primary") || rcodeOf(sec.Addr, "www.example.test.", dns.TypeA) != dns.RcodeSuccess {
			t.Errorf("%s: dnspki does not serve the zone it held", tc.name)
		}
		if l := sec.LogSince(mark, `AXFR from|IXFR from .* primary serial|expired`); len(l) > 0 {
			t.Errorf("%s: %v", tc.name, l)
		}
	}

	// The primary with the right key again: the next retry takes serial 11.
	knot.Stop()
	mark := sec.LogMark()
	knot = harness.StartKnot(t, pport, primary(11, xfrKey, newer))
	waitAnswers(t, sec.Addr, "new.example.test.", "from the primary", 15*time.Second)
	if s := harness.MustSerial(t, sec.Addr, zone); s != 11 {
		t.Errorf("dnspki serves serial %d, want 11", s)
	}
	if l := sec.WaitLog(mark, `XFR from `+regexp.QuoteMeta(knot.Addr)+`: primary serial 10 -> 11`, 1, 5*time.Second); len(l) != 1 {
		t.Errorf("transfer of serial 11 not logged\n%s", strings.Join(sec.LogSince(mark, "."), "\n"))
	}
}

// TestDnspkiSecondaryIXFRFallback: dnspki asks IXFR from the serial it
// holds and ends with the primary's data when the primary cannot answer
// incrementally: BIND reloading an edited zone file has no journal of the
// edit and answers the IXFR AXFR-style; a Knot rebuilt from another copy of
// the zone (same serial, other data, its journal lost) answers with
// differences that do not apply to what dnspki holds, which dnspki detects
// and replaces by an AXFR.
func TestDnspkiSecondaryIXFRFallback(t *testing.T) {
	t.Run("bind-no-journal", func(t *testing.T) {
		dir := t.TempDir()
		port, pport := harness.FreePort(t), harness.FreePort(t)
		bind := harness.StartBind(t, pport, harness.PeerZone{Name: zone, File: zoneText(20, 3600, 600, 1209600, bulk(300)),
			Transfer: xfrKey, Notify: []string{harness.Addr(port)}, NotifyKey: xfrKey})
		harness.WaitServes(t, bind.Addr, zone, 20, 30*time.Second, bind.Proc)
		sec := startDnspki(t, dir, port, fmt.Sprintf("primary %s key %s", bind.Addr, xfrKey.Name), keyLine(xfrKey))
		harness.WaitServes(t, sec.Addr, zone, 20, 30*time.Second, sec.Proc)
		mark, bmark := sec.LogMark(), bind.LogMark()

		// The operator edits the zone file (mail's MX gone, a new name) and
		// reloads BIND (SIGHUP); BIND sends NOTIFY.
		text := strings.Replace(zoneText(21, 3600, 600, 1209600, bulk(300)+`edited IN TXT "by hand"`+"\n"), "mail    IN MX   10 mx\n", "", 1)
		writeAtomic(t, filepath.Join(bind.Dir, "example.test.zone"), text)
		bind.Signal(syscall.SIGHUP)
		waitAnswers(t, sec.Addr, "edited.example.test.", "by hand", 15*time.Second)
		if s := harness.MustSerial(t, sec.Addr, zone); s != 21 {
			t.Errorf("dnspki serves serial %d, want 21", s)
		}
		if r := rcodeOf(sec.Addr, "mail.example.test.", dns.TypeMX); r != dns.RcodeNameError {
			t.Errorf("mail.example.test MX: rcode %s, want NXDOMAIN (removed on the primary)", dns.RcodeToString[r])
		}
		if l := bind.WaitLog(bmark, `transfer of 'example\.test/IN': AXFR-style IXFR started`, 1, 5*time.Second); len(l) != 1 {
			t.Errorf("BIND did not log an AXFR-style IXFR\n%s", strings.Join(bind.LogSince(bmark, "."), "\n"))
		}
		if l := sec.WaitLog(mark, `AXFR from `+regexp.QuoteMeta(bind.Addr)+`: primary serial 20 -> 21 \(\d+ records`, 1, 5*time.Second); len(l) != 1 {
			t.Errorf("dnspki did not log the whole zone received\n%s", strings.Join(sec.LogSince(mark, "."), "\n"))
		}
	})

	t.Run("knot-journal-lost", func(t *testing.T) {
		harness.Need(t, "knotd")
		dir := t.TempDir()
		port, pport := harness.FreePort(t), harness.FreePort(t)
		primary := func(extra string) harness.PeerZone {
			return harness.PeerZone{Name: zone, File: zoneText(30, 3600, 600, 1209600, extra),
				Transfer: xfrKey, Notify: []string{harness.Addr(port)}, NotifyKey: xfrKey, Update: updKey}
		}
		knot := harness.StartKnot(t, pport, primary(`old IN TXT "only in the first copy"`+"\n"))
		harness.WaitServes(t, knot.Addr, zone, 30, 30*time.Second, knot.Proc)
		sec := startDnspki(t, dir, port, fmt.Sprintf("primary %s key %s", knot.Addr, xfrKey.Name), keyLine(xfrKey))
		harness.WaitServes(t, sec.Addr, zone, 30, 30*time.Second, sec.Proc)
		if !answers(sec.Addr, "old.example.test.", "only in the first copy") {
			t.Fatal("dnspki does not serve the first copy")
		}

		// The primary is rebuilt from another copy with the same serial.
		knot.Stop()
		knot = harness.StartKnot(t, pport, primary(`rebuilt IN TXT "only in the second copy"`+"\n"))
		harness.WaitServes(t, knot.Addr, zone, 30, 30*time.Second, knot.Proc)
		mark, kmark := sec.LogMark(), knot.LogMark()
		// An update deletes a record dnspki never had: the difference
		// sequence 30 -> 31 does not apply to dnspki's serial 30.
		nsupdate(t, knot.Addr, updKey, "update delete rebuilt.example.test. TXT", `update add added.example.test. 60 TXT "after the rebuild"`)
		waitAnswers(t, sec.Addr, "added.example.test.", "after the rebuild", 15*time.Second)
		if s := harness.MustSerial(t, sec.Addr, zone); s != 31 {
			t.Errorf("dnspki serves serial %d, want 31", s)
		}
		for _, gone := range []string{"old.example.test.", "rebuilt.example.test."} {
			if r := rcodeOf(sec.Addr, gone, dns.TypeTXT); r != dns.RcodeNameError {
				t.Errorf("%s: rcode %s, want NXDOMAIN (the primary does not have it)", gone, dns.RcodeToString[r])
			}
		}
		if l := sec.WaitLog(mark, `IXFR from `+regexp.QuoteMeta(knot.Addr)+` \(serial 30\) failed: IXFR 30 -> 31 deletes rebuilt\.example\.test\. .*which the zone does not hold; trying AXFR`, 1, 5*time.Second); len(l) != 1 {
			t.Errorf("dnspki did not log the IXFR that does not apply\n%s", strings.Join(sec.LogSince(mark, "."), "\n"))
		}
		if l := sec.WaitLog(mark, `AXFR from `+regexp.QuoteMeta(knot.Addr)+`: primary serial 30 -> 31`, 1, 5*time.Second); len(l) != 1 {
			t.Errorf("dnspki did not log the AXFR\n%s", strings.Join(sec.LogSince(mark, "."), "\n"))
		}
		ixfr := knot.WaitLog(kmark, `IXFR, outgoing, remote 127\.0\.0\.1@\d+, started`, 1, 5*time.Second)
		axfr := knot.WaitLog(kmark, `AXFR, outgoing, remote 127\.0\.0\.1@\d+, started`, 1, 5*time.Second)
		if len(ixfr) != 1 || len(axfr) != 1 {
			t.Errorf("Knot logged %d IXFR and %d AXFR out, want 1 and 1\n%s", len(ixfr), len(axfr), strings.Join(knot.LogSince(kmark, "."), "\n"))
		}
	})
}

// TestDnspkiSecondaryRefreshTimer: Knot as primary with no NOTIFY to dnspki
// (SOA refresh 2 s, retry 1 s, expire 8 s). A change on Knot reaches dnspki
// by the refresh timer alone (IXFR). With Knot down, dnspki serves its copy
// until the expire interval has passed since the last refresh, then
// SERVFAIL; when Knot is back, the next retry makes the zone served again,
// and the refresh timer keeps following changes.
func TestDnspkiSecondaryRefreshTimer(t *testing.T) {
	harness.Need(t, "knotd")
	dir := t.TempDir()
	port := harness.FreePort(t)
	knot := harness.StartKnot(t, 0, harness.PeerZone{Name: zone, File: zoneText(40, 2, 1, 8, ""), Transfer: xfrKey, Update: updKey})
	harness.WaitServes(t, knot.Addr, zone, 40, 30*time.Second, knot.Proc)
	sec := startDnspki(t, dir, port, fmt.Sprintf("primary %s key %s", knot.Addr, xfrKey.Name), keyLine(xfrKey))
	harness.WaitServes(t, sec.Addr, zone, 40, 30*time.Second, sec.Proc)
	mark := sec.LogMark()

	follow := func(i int) {
		t.Helper()
		owner, value := fmt.Sprintf("t%d.example.test.", i), fmt.Sprintf("timer %d", i)
		nsupdate(t, knot.Addr, updKey, fmt.Sprintf("update add %s 60 TXT %q", owner, value))
		start := time.Now()
		// At most one refresh interval (2 s) plus the transfer.
		waitAnswers(t, sec.Addr, owner, value, 10*time.Second)
		t.Logf("change %d reached dnspki by the refresh timer after %s", i, time.Since(start).Round(time.Millisecond))
	}
	follow(1)
	if s, k := harness.MustSerial(t, sec.Addr, zone), harness.MustSerial(t, knot.Addr, zone); s != k {
		t.Errorf("dnspki serves serial %d, Knot %d", s, k)
	}
	if l := sec.WaitLog(mark, `IXFR from `+regexp.QuoteMeta(knot.Addr)+`: primary serial 40 -> 41`, 1, 5*time.Second); len(l) != 1 {
		t.Errorf("no IXFR logged\n%s", strings.Join(sec.LogSince(mark, "."), "\n"))
	}
	if l := sec.LogSince(mark, `NOTIFY`); len(l) > 0 {
		t.Errorf("NOTIFY seen, want none: %v", l)
	}

	// Knot goes down. The last successful refresh was at most one refresh
	// interval (2 s) ago; the zone expires 8 s after it.
	mark = sec.LogMark()
	knot.Stop()
	stopped := time.Now()
	if r := rcodeOf(sec.Addr, "www.example.test.", dns.TypeA); r != dns.RcodeSuccess {
		t.Fatalf("dnspki answers %s right after the primary stopped", dns.RcodeToString[r])
	}
	harness.Eventually(t, 20*time.Second, "SERVFAIL after expire", func() bool { return servfail(sec.Addr, "www.example.test.") })
	if d := time.Since(stopped); d < 5500*time.Millisecond {
		t.Errorf("dnspki expired %s after the primary stopped, before the SOA expire (8 s after the last refresh, at most 2 s before)", d)
	}
	if l := sec.WaitLog(mark, `expired \(no successful refresh for 8s: \[`+regexp.QuoteMeta(knot.Addr)+`: SOA query: `, 1, 5*time.Second); len(l) != 1 {
		t.Errorf("expiry not logged\n%s", strings.Join(sec.LogSince(mark, "."), "\n"))
	}
	if l := sec.LogSince(mark, `refresh from `+regexp.QuoteMeta(knot.Addr)+` failed`); len(l) < 3 {
		t.Errorf("dnspki logged %d failed refreshes while the primary was down, want several (retry 1 s)", len(l))
	}

	// Knot comes back with its journal: the next retry serves the zone again.
	knot.Restart(t)
	back := time.Now()
	harness.WaitServes(t, knot.Addr, zone, 41, 30*time.Second, knot.Proc)
	harness.Eventually(t, 10*time.Second, "dnspki serving again", func() bool {
		return rcodeOf(sec.Addr, "www.example.test.", dns.TypeA) == dns.RcodeSuccess
	})
	t.Logf("dnspki served the zone again %s after the primary restarted", time.Since(back).Round(time.Millisecond))
	if !answers(sec.Addr, "t1.example.test.", "timer 1") {
		t.Error("dnspki lost the change it had before expiring")
	}
	if l := sec.WaitLog(mark, `no longer expired`, 1, 5*time.Second); len(l) != 1 {
		t.Errorf("recovery not logged\n%s", strings.Join(sec.LogSince(mark, "."), "\n"))
	}
	follow(2)
}

// TestTransferACLByAddress: `transfer to` rules by address and by prefix,
// and one that also needs a key, checked from several loopback source
// addresses with dig (-b) and with Knot secondaries transferring from a
// given address (via): a request from an address no rule lists is refused
// (REFUSED, logged) whatever it is signed with; an address in a listed
// prefix is allowed; an address whose rule needs a key is refused unsigned
// and allowed signed.
func TestTransferACLByAddress(t *testing.T) {
	harness.Need(t, "knotd")
	dir := t.TempDir()
	port := harness.FreePort(t)
	zf := filepath.Join(dir, "example.test.zone")
	writeAtomic(t, zf, zoneText(2026010100, 3600, 600, 1209600, ""))
	srv := startDnspki(t, dir, port,
		"file "+zf,
		keyLine(xfrKey),
		"transfer to 127.0.0.1 127.0.0.4/30",
		"transfer to 127.0.0.9 key xfr-key.",
	)
	harness.WaitServes(t, srv.Addr, zone, 2026010100, 30*time.Second, srv.Proc)
	mark := srv.LogMark()
	p := fmt.Sprint(port)
	for _, tc := range []struct {
		from   string
		signed bool
		refuse string // the reason logged, "" allowed
	}{
		{"127.0.0.1", false, ""},
		{"127.0.0.2", false, "address not allowed"},
		{"127.0.0.2", true, "address not allowed"},
		{"127.0.0.3", false, "address not allowed"},
		{"127.0.0.4", false, ""},
		{"127.0.0.7", false, ""},
		{"127.0.0.8", false, "address not allowed"},
		{"127.0.0.9", false, "TSIG key required"},
		{"127.0.0.9", true, ""},
	} {
		args := []string{"-b", tc.from, "@127.0.0.1", "-p", p}
		who := tc.from
		if tc.signed {
			args = append(args, digKey(xfrKey))
			who += " key xfr-key."
		}
		out := dig(t, append(args, zone, "AXFR")...)
		if tc.refuse == "" {
			if !strings.Contains(out, "XFR size: 10 records") {
				t.Errorf("AXFR from %s refused, want allowed:\n%s", who, out)
			}
			continue
		}
		if !strings.Contains(out, "Transfer failed") || strings.Contains(out, "XFR size") {
			t.Errorf("AXFR from %s allowed, want refused:\n%s", who, out)
		}
		re := `AXFR from ` + regexp.QuoteMeta(who) + ` refused: ` + tc.refuse
		if l := srv.WaitLog(mark, re, 1, 5*time.Second); len(l) != 1 {
			t.Errorf("refusal of %s not logged once (%q): %v", who, re, l)
		}
		// IXFR over UDP too (dig does not show a refused UDP IXFR's rcode).
		m := new(dns.Msg)
		m.SetIxfr(zone, 2026010100, "ns1."+zone, "hostmaster."+zone)
		c := &dns.Client{Timeout: 3 * time.Second, Dialer: &net.Dialer{LocalAddr: &net.UDPAddr{IP: net.ParseIP(tc.from)}}}
		if tc.signed {
			m.SetTsig(xfrKey.Name, dns.HmacSHA256, 300, time.Now().Unix())
			c.TsigSecret = map[string]string{xfrKey.Name: xfrKey.Secret}
		}
		if r, _, err := c.Exchange(m, srv.Addr); err != nil || r.Rcode != dns.RcodeRefused {
			t.Errorf("UDP IXFR from %s: %v %v, want REFUSED", who, err, r)
		}
		if l := srv.WaitLog(mark, `IXFR from `+regexp.QuoteMeta(who)+` refused: `+tc.refuse, 1, 5*time.Second); len(l) != 1 {
			t.Errorf("refusal of the UDP IXFR from %s not logged once: %v", who, l)
		}
	}

	// Real secondaries: Knot transferring from 127.0.0.2 is refused and
	// serves nothing; from 127.0.0.6 (in 127.0.0.4/30) it gets the zone.
	mark = srv.LogMark()
	refused := harness.StartKnot(t, 0, harness.PeerZone{Name: zone, Primary: srv.Addr, PrimaryVia: "127.0.0.2"})
	allowed := harness.StartKnot(t, 0, harness.PeerZone{Name: zone, Primary: srv.Addr, PrimaryVia: "127.0.0.6"})
	harness.WaitServes(t, allowed.Addr, zone, 2026010100, 30*time.Second, allowed.Proc)
	if l := srv.WaitLog(mark, `AXFR from 127\.0\.0\.2 refused: address not allowed`, 1, 10*time.Second); len(l) == 0 {
		t.Errorf("Knot's AXFR from 127.0.0.2 not refused:\n%s", strings.Join(srv.LogSince(mark, "."), "\n"))
	}
	if l := refused.WaitLog(0, `AXFR, incoming, remote 127\.0\.0\.1@\d+, server responded with error 'REFUSED'`, 1, 10*time.Second); len(l) == 0 {
		t.Errorf("Knot did not log the refused AXFR:\n%s", refused.Output())
	}
	if _, ok := harness.SOASerial(refused.Addr, zone); ok {
		t.Error("Knot serves the zone it was refused")
	}
}

// TestDnspkiSecondarySignsAndAddsRecords: a dnspki secondary of BIND that
// also signs the zone online (its own keys) and takes ACME challenges
// (acmechallenge, RFC 2136). Its answers, for the transferred data and the
// challenge alike, validate with delv from the secondary's trust anchor
// (BIND's zone is unsigned); after a change on BIND (nsupdate, NOTIFY,
// IXFR from BIND's serial), the challenge is still served beside the new
// data, and the served serial runs ahead of BIND's.
func TestDnspkiSecondarySignsAndAddsRecords(t *testing.T) {
	harness.Need(t, "named", "delv")
	dir := t.TempDir()
	port, pport := harness.FreePort(t), harness.FreePort(t)
	bind := harness.StartBind(t, pport, harness.PeerZone{Name: zone, File: zoneText(50, 3600, 600, 1209600, ""),
		Transfer: xfrKey, Notify: []string{harness.Addr(port)}, NotifyKey: xfrKey, Update: updKey})
	harness.WaitServes(t, bind.Addr, zone, 50, 30*time.Second, bind.Proc)
	keys := filepath.Join(dir, "keys")
	sec := startDnspkiWith(t, dir, port, []string{acmeBlock(), fmt.Sprintf("onlinesign example.test {\n        keys %s\n    }", keys)},
		fmt.Sprintf("primary %s key %s", bind.Addr, xfrKey.Name), keyLine(xfrKey))
	harness.WaitServes(t, sec.Addr, zone, 50, 30*time.Second, sec.Proc)
	anchor := filepath.Join(keys, "example.test.trust-anchor")

	const challenge, token = "_acme-challenge.www.example.test.", "token-set-on-the-secondary"
	updateChange(sec.Addr, acmeKey)(t, challenge, token)
	if !answers(sec.Addr, challenge, token) {
		t.Fatal("the secondary does not answer the challenge it accepted")
	}
	if answers(bind.Addr, challenge, token) {
		t.Fatal("BIND answers the secondary's challenge")
	}
	validate := func(extra ...[2]string) {
		t.Helper()
		for _, q := range append([][2]string{
			{"www.example.test.", "A"},
			{"mail.example.test.", "MX"},
			{challenge, "TXT"},
			{"nothere.example.test.", "A"}, // NXDOMAIN
			{"www.example.test.", "TXT"},   // NODATA
		}, extra...) {
			if out, ok := harness.Delv(t, sec.Addr, anchor, "example.test", q[0], q[1]); !ok {
				t.Errorf("delv does not validate %s/%s from the secondary:\n%s", q[0], q[1], out)
			}
		}
	}
	validate()

	mark := sec.LogMark()
	nsupdate(t, bind.Addr, updKey, `update add fromprimary.example.test. 60 TXT "primary data"`)
	waitAnswers(t, sec.Addr, "fromprimary.example.test.", "primary data", 10*time.Second)
	if !answers(sec.Addr, challenge, token) {
		t.Error("the challenge did not survive the transfer")
	}
	if l := sec.WaitLog(mark, `IXFR from `+regexp.QuoteMeta(bind.Addr)+`: primary serial 50 -> 51 .*serving serial 52 \(was 51\)`, 1, 5*time.Second); len(l) != 1 {
		t.Errorf("IXFR from BIND's serial not logged\n%s", strings.Join(sec.LogSince(mark, "."), "\n"))
	}
	if s := harness.MustSerial(t, sec.Addr, zone); s != 52 {
		t.Errorf("the secondary serves serial %d, want 52 (BIND's 51 and its own change)", s)
	}
	validate([2]string{"fromprimary.example.test.", "TXT"})
}
