// Package xfr tests dnspki's zone transfers with real peers: Knot, BIND and
// NSD as TSIG secondaries of dnspki (NOTIFY, IXFR, propagation time),
// dnspki as a secondary of BIND, of Knot and of another dnspki, journal
// overflow, expiry and refused transfers (by key and by address). As a
// secondary (secondary_test.go): TSIG enforced on what the primary sends,
// IXFR falling back to AXFR, the SOA refresh timer without NOTIFY and
// recovery after expiry, online signing and ACME records on top of the
// transferred zone.
package xfr

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/dnspki/dnspki/test/harness"
)

const zone = "example.test."

// Keys: one per secondary, as an operator would give them.
var (
	xfrKey  = &harness.TSIGKey{Name: "xfr-key.", Algorithm: "hmac-sha256", Secret: "eGZyLWtleS1zZWNyZXQtZm9yLXRlc3RzLTAxMjM0NTY="}
	knotKey = &harness.TSIGKey{Name: "knot-key.", Algorithm: "hmac-sha256", Secret: "a25vdC1rZXktc2VjcmV0LWZvci10ZXN0cy0wMTIzNDU="}
	bindKey = &harness.TSIGKey{Name: "bind-key.", Algorithm: "hmac-sha512", Secret: "YmluZC1rZXktc2VjcmV0LWZvci10ZXN0cy0wMTIzNDU="}
	nsdKey  = &harness.TSIGKey{Name: "nsd-key.", Algorithm: "hmac-sha1", Secret: "bnNkLWtleS1zZWNyZXQtZm9yLXRlc3RzLTAxMjM0NTY="}
	updKey  = &harness.TSIGKey{Name: "upd-key.", Algorithm: "hmac-sha256", Secret: "dXBkLWtleS1zZWNyZXQtZm9yLXRlc3RzLTAxMjM0NTY="}
)

// zoneText is the test zone; refresh, retry and expire in seconds.
func zoneText(serial uint32, refresh, retry, expire int, extra string) string {
	return fmt.Sprintf(`$ORIGIN example.test.
$TTL 300
@       IN SOA  ns1 hostmaster %d %d %d %d 60
        IN NS   ns1
        IN NS   ns2
ns1     IN A    127.0.0.1
ns2     IN A    127.0.0.2
www     IN A    192.0.2.10
        IN AAAA 2001:db8::10
mail    IN MX   10 mx
mx      IN A    192.0.2.25
%s`, serial, refresh, retry, expire, extra)
}

// bulk is zone data big enough for transfers of many messages (multi-message
// TSIG, RFC 8945 §5.3.1).
func bulk(n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "bulk%d IN TXT \"%s %d\"\n", i, strings.Repeat("filler", 12), i)
	}
	return b.String()
}

func keyLine(k *harness.TSIGKey) string {
	return fmt.Sprintf("key %s %s %s", k.Name, k.Algorithm, k.Secret)
}

// startDnspki runs dnspki in dir serving example.test on port with the
// authzone lines given (STATE is dir/state).
func startDnspki(t testing.TB, dir string, port int, lines ...string) *harness.Server {
	t.Helper()
	return startDnspkiWith(t, dir, port, nil, lines...)
}

// startDnspkiWith is startDnspki with more directives in the server block.
func startDnspkiWith(t testing.TB, dir string, port int, server []string, lines ...string) *harness.Server {
	t.Helper()
	cf := fmt.Sprintf(`example.test:%d {
    bind 127.0.0.1
    %s
    authzone example.test {
        state %s
        %s
    }
}
`, port, strings.Join(server, "\n    "), filepath.Join(dir, "state"), strings.Join(lines, "\n        "))
	return harness.StartDnspki(t, dir, cf, port)
}

// writeAtomic replaces a file by rename, as editors and deployment tools do.
func writeAtomic(t testing.TB, path, content string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// change makes owner have a TXT record with value on dnspki. It returns once
// the change is requested; propagate watches for it being served. The zone
// file edit is one way; an RFC 2136 UPDATE (acmechallenge) is another.
type change func(t testing.TB, owner, value string)

// zoneFileChange adds the record to the zone file; authzone reloads it.
func zoneFileChange(path string) change {
	var mu sync.Mutex
	return func(t testing.TB, owner, value string) {
		mu.Lock()
		defer mu.Unlock()
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		writeAtomic(t, path, string(b)+fmt.Sprintf("%s 300 IN TXT %q\n", owner, value))
	}
}

// updateChange sets the TXT record with an RFC 2136 UPDATE signed with the
// ACME key (acmechallenge), as an ACME client does; it returns once dnspki
// has answered the UPDATE (after the change is durable).
func updateChange(addr string, key *harness.TSIGKey) change {
	return func(t testing.TB, owner, value string) {
		m := new(dns.Msg)
		m.SetUpdate(zone)
		txt := &dns.TXT{Hdr: dns.RR_Header{Name: owner, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 60}, Txt: []string{value}}
		m.Insert([]dns.RR{txt})
		m.SetTsig(key.Name, dns.HmacSHA256, 300, time.Now().Unix())
		c := &dns.Client{Net: "tcp", Timeout: 5 * time.Second, TsigSecret: map[string]string{key.Name: key.Secret}}
		r, _, err := c.Exchange(m, addr)
		if err != nil {
			t.Fatalf("UPDATE %s: %v", owner, err)
		}
		if r.Rcode != dns.RcodeSuccess {
			t.Fatalf("UPDATE %s: %s", owner, dns.RcodeToString[r.Rcode])
		}
	}
}

// acmeKey may set _acme-challenge TXT anywhere below example.test.
var acmeKey = &harness.TSIGKey{Name: "acme-test.", Algorithm: "hmac-sha256", Secret: "YWNtZS10ZXN0LWtleS1mb3ItcHJvcGFnYXRpb24tMDEyMzQ="}

// acmeBlock is the acmechallenge configuration that grants acmeKey.
func acmeBlock() string {
	return fmt.Sprintf(`acmechallenge example.test {
        key %s %s %s
        grant %s subdomain example.test
        values any
    }`, acmeKey.Name, acmeKey.Algorithm, acmeKey.Secret, acmeKey.Name)
}

// answers reports whether addr answers owner TXT with value.
func answers(addr, owner, value string) bool {
	r, err := harness.Query(addr, owner, dns.TypeTXT, false, false)
	if err != nil || r.Rcode != dns.RcodeSuccess {
		return false
	}
	for _, rr := range r.Answer {
		if txt, ok := rr.(*dns.TXT); ok && strings.Join(txt.Txt, "") == value {
			return true
		}
	}
	return false
}

// propagate makes a change on dnspki (primary) and measures, for each
// secondary, the time from the change being served by dnspki (its commit)
// to the secondary answering it. Every server is polled every 5 ms.
func propagate(t testing.TB, primary string, secondaries map[string]string, ch change, owner, value string) map[string]time.Duration {
	t.Helper()
	type seen struct {
		name string
		at   time.Time
	}
	all := map[string]string{"dnspki": primary}
	for n, a := range secondaries {
		all[n] = a
	}
	deadline := time.Now().Add(15 * time.Second)
	results := make(chan seen, len(all))
	for name, addr := range all {
		go func() {
			for time.Now().Before(deadline) {
				if answers(addr, owner, value) {
					results <- seen{name, time.Now()}
					return
				}
				time.Sleep(5 * time.Millisecond)
			}
			results <- seen{name, time.Time{}}
		}()
	}
	ch(t, owner, value)
	at := map[string]time.Time{}
	for range all {
		s := <-results
		if s.at.IsZero() {
			t.Errorf("%s did not answer %s TXT %q within 15 s", s.name, owner, value)
			continue
		}
		at[s.name] = s.at
	}
	out := map[string]time.Duration{}
	if at["dnspki"].IsZero() {
		t.FailNow()
	}
	for name := range secondaries {
		if !at[name].IsZero() {
			// Polling resolution: a secondary may be seen first.
			out[name] = max(at[name].Sub(at["dnspki"]), 0)
		}
	}
	return out
}

// TestSecondariesOfDnspki: Knot, BIND and NSD as TSIG secondaries of dnspki.
// After each change on dnspki, every secondary answers it (NOTIFY, then
// IXFR); the transfers after the first are incremental, seen
// from dnspki's log and from each secondary's own log.
func TestSecondariesOfDnspki(t *testing.T) {
	harness.Need(t, "knotd", "named", "nsd")
	dir := t.TempDir()
	zf := filepath.Join(dir, "example.test.zone")
	writeAtomic(t, zf, zoneText(2026010100, 3600, 600, 1209600, bulk(2000)))
	port := harness.FreePort(t)
	knotPort, bindPort, nsdPort := harness.FreePort(t), harness.FreePort(t), harness.FreePort(t)
	primary := harness.Addr(port)
	metrics := fmt.Sprintf("http://127.0.0.1:%d/metrics", harness.FreePort(t))
	srv := startDnspkiWith(t, dir, port, []string{"prometheus " + strings.TrimSuffix(strings.TrimPrefix(metrics, "http://"), "/metrics"), acmeBlock()},
		"file "+zf,
		keyLine(knotKey), keyLine(bindKey), keyLine(nsdKey),
		"transfer to 127.0.0.1 key knot-key. bind-key. nsd-key.",
		fmt.Sprintf("notify 127.0.0.1:%d key knot-key.", knotPort),
		fmt.Sprintf("notify 127.0.0.1:%d key bind-key.", bindPort),
		fmt.Sprintf("notify 127.0.0.1:%d key nsd-key.", nsdPort),
	)
	serial := harness.WaitServes(t, primary, zone, 0, 30*time.Second, srv.Proc)

	sec := func(k *harness.TSIGKey) harness.PeerZone {
		return harness.PeerZone{Name: zone, Primary: primary, PrimaryKey: k}
	}
	knot := harness.StartKnot(t, knotPort, sec(knotKey))
	bind := harness.StartBind(t, bindPort, sec(bindKey))
	nsd := harness.StartNSD(t, nsdPort, sec(nsdKey))
	peers := map[string]*harness.Peer{"knot": knot, "bind": bind, "nsd": nsd}
	addrs := map[string]string{}
	for name, p := range peers {
		harness.WaitServes(t, p.Addr, zone, serial, 30*time.Second, p.Proc)
		addrs[name] = p.Addr
	}
	// The first transfer was an AXFR of many messages, each signed.
	if l := knot.WaitLog(0, `AXFR, incoming, .* finished, .*, (\d+) messages`, 1, 5*time.Second); len(l) != 1 || strings.Contains(l[0], " 1 messages") {
		t.Errorf("Knot's AXFR: %v, want one transfer of several messages", l)
	}
	if l := bind.WaitLog(0, `Transfer completed: (\d+) messages`, 1, 5*time.Second); len(l) != 1 || strings.Contains(l[0], " 1 messages") {
		t.Errorf("BIND's AXFR: %v, want one transfer of several messages", l)
	}
	marks := map[string]int{}
	for name, p := range peers {
		marks[name] = p.LogMark()
	}
	dmark := srv.LogMark()

	// Each change reaches every secondary (propagate fails the test
	// otherwise) before the next one is made. How fast is measured in bench/
	// (BenchmarkPropagation, bench/xfr.sh), not asserted here.
	const rounds = 3
	for i := 0; i < rounds; i++ {
		owner := fmt.Sprintf("_acme-challenge.host%d.example.test.", i)
		// Alternately an ACME client's RFC 2136 UPDATE and a zone file edit:
		// both are changes of the one zone model.
		how := updateChange(primary, acmeKey)
		if i%2 == 1 {
			how = zoneFileChange(zf)
		}
		propagate(t, primary, addrs, how, owner, fmt.Sprintf("token-%d", i))
	}

	// Incremental transfers: dnspki's log names each secondary's key.
	for name, k := range map[string]*harness.TSIGKey{"knot": knotKey, "bind": bindKey, "nsd": nsdKey} {
		ixfr := srv.WaitLog(dmark, `IXFR to 127\.0\.0\.1 key `+k.Name, rounds, 5*time.Second)
		axfr := srv.LogSince(dmark, `(AXFR|whole zone).* to 127\.0\.0\.1 key `+k.Name+`|`+`IXFR from serial .* whole zone`)
		if len(ixfr) < rounds || len(axfr) > 0 {
			t.Errorf("%s: dnspki logged %d IXFR and %d full transfers since the first, want >= %d and 0:\n%s", name, len(ixfr), len(axfr), rounds, strings.Join(append(ixfr, axfr...), "\n"))
		}
	}
	// And dnspki's metrics, per secondary (its key) and result.
	for _, k := range []*harness.TSIGKey{knotKey, bindKey, nsdKey} {
		l := map[string]string{"zone": zone, "view": "default", "peer": k.Name}
		ixfr := harness.Metric(t, metrics, "coredns_dnspki_xfr_out_total", map[string]string{"zone": zone, "view": "default", "peer": k.Name, "qtype": "IXFR", "result": "ixfr"})
		axfr := harness.Metric(t, metrics, "coredns_dnspki_xfr_out_total", map[string]string{"zone": zone, "peer": k.Name, "result": "axfr"})
		l["peer"] = "127.0.0.1:" + map[string]string{knotKey.Name: fmt.Sprint(knotPort), bindKey.Name: fmt.Sprint(bindPort), nsdKey.Name: fmt.Sprint(nsdPort)}[k.Name]
		l["result"] = "ok"
		// One acknowledged NOTIFY per change at least: the startup NOTIFY,
		// sent before the secondaries ran and retried with backoff, may
		// coalesce with the first change's (notify.go).
		notified := harness.Metric(t, metrics, "coredns_dnspki_xfr_notify_out_total", l)
		if ixfr < rounds || axfr != 1 || notified < rounds {
			t.Errorf("metrics for %s: %v IXFR (want >= %d), %v AXFR (want 1, the first), %v NOTIFY acknowledged (want >= %d)", k.Name, ixfr, rounds, axfr, notified, rounds)
		}
	}
	// And each secondary's own log. NSD does not log the transfer type; its
	// log shows it applied each update (and dnspki's, above, that they were
	// IXFR to NSD's key).
	for name, re := range map[string][2]string{
		"knot": {`IXFR, incoming, remote 127\.0\.0\.1@\d+.*finished`, `AXFR, incoming`},
		"bind": {`got incremental response`, `got nonincremental response`},
		"nsd":  {`xfrd: zone example\.test\. committed "received update to serial \d+ .* TSIG verified with key nsd-key\.`, `Failed to apply IXFR|starting AXFR`},
	} {
		got := peers[name].WaitLog(marks[name], re[0], rounds, 5*time.Second)
		bad := peers[name].LogSince(marks[name], re[1])
		if len(got) < rounds || len(bad) > 0 {
			t.Errorf("%s's log since the first transfer: %d lines matching %q (want >= %d), %d matching %q (want 0)\n%s", name, len(got), re[0], rounds, len(bad), re[1], strings.Join(peers[name].LogSince(marks[name], `.`), "\n"))
		}
	}
}

// nsupdate sends an RFC 2136 update with BIND's nsupdate, signed with key.
func nsupdate(t *testing.T, addr string, key *harness.TSIGKey, commands ...string) {
	t.Helper()
	bins := harness.Need(t, "nsupdate")
	host, port, _ := strings.Cut(addr, ":")
	script := fmt.Sprintf("server %s %s\nzone %s\n%s\nsend\n", host, port, zone, strings.Join(commands, "\n"))
	f := filepath.Join(t.TempDir(), "update.txt")
	if err := os.WriteFile(f, []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	harness.MustRun(t, 20*time.Second, "", bins[0], "-y", fmt.Sprintf("%s:%s:%s", key.Algorithm, key.Name, key.Secret), f)
}

// testDnspkiSecondaryOf runs dnspki as a TSIG secondary of a peer primary
// (started by start on the given port), changes the zone there with
// nsupdate and checks that dnspki serves the change through NOTIFY and IXFR
// with the primary's serial. outIXFR matches the primary's log line of an
// outgoing IXFR.
func testDnspkiSecondaryOf(t *testing.T, start func(t testing.TB, port int, zones ...harness.PeerZone) *harness.Peer, outIXFR, outAXFR string) {
	dir := t.TempDir()
	port, pport := harness.FreePort(t), harness.FreePort(t)
	prim := start(t, pport, harness.PeerZone{
		Name:      zone,
		File:      zoneText(7, 3600, 600, 1209600, bulk(2000)),
		Transfer:  xfrKey,
		Notify:    []string{harness.Addr(port)},
		NotifyKey: xfrKey,
		Update:    updKey,
	})
	harness.WaitServes(t, prim.Addr, zone, 7, 30*time.Second, prim.Proc)
	srv := startDnspki(t, dir, port,
		fmt.Sprintf("primary %s key %s", prim.Addr, xfrKey.Name),
		keyLine(xfrKey),
	)
	harness.WaitServes(t, srv.Addr, zone, 7, 30*time.Second, srv.Proc)
	// The first transfer: AXFR of many messages, each with a verified TSIG.
	if l := srv.WaitLog(0, `AXFR from `+prim.Addr+`: .*\((\d+) records, (\d+) messages`, 1, 5*time.Second); len(l) != 1 || strings.Contains(l[0], " 1 messages") {
		t.Errorf("dnspki's AXFR from %s: %v, want one transfer of several messages", prim.Kind, l)
	}
	pmark, dmark := prim.LogMark(), srv.LogMark()

	for i := 1; i <= 3; i++ {
		owner := fmt.Sprintf("_acme-challenge.n%d.example.test.", i)
		value := fmt.Sprintf("update-%d", i)
		nsupdate(t, prim.Addr, updKey, fmt.Sprintf("update add %s 60 TXT %q", owner, value))
		deadline := time.Now().Add(10 * time.Second)
		for !answers(srv.Addr, owner, value) {
			if time.Now().After(deadline) {
				t.Fatalf("dnspki does not answer %s TXT %q 10 s after the update on %s", owner, value, prim.Kind)
			}
			time.Sleep(10 * time.Millisecond)
		}
		ps, _ := harness.SOASerial(prim.Addr, zone)
		ds, _ := harness.SOASerial(srv.Addr, zone)
		if ps != ds {
			t.Errorf("after update %d: %s serves serial %d, dnspki %d", i, prim.Kind, ps, ds)
		}
	}
	if n := len(srv.WaitLog(dmark, `NOTIFY from 127\.0\.0\.1, serial`, 3, 5*time.Second)); n < 3 {
		t.Errorf("dnspki logged %d NOTIFY from %s, want 3", n, prim.Kind)
	}
	ixfr := srv.WaitLog(dmark, `IXFR from `+prim.Addr+`: primary serial \d+ -> \d+`, 3, 5*time.Second)
	axfr := srv.LogSince(dmark, `AXFR from |trying AXFR`)
	if len(ixfr) < 3 || len(axfr) > 0 {
		t.Errorf("dnspki: %d IXFR, %d AXFR lines, want 3 and 0\n%s", len(ixfr), len(axfr), srv.Output())
	}
	if got, bad := prim.WaitLog(pmark, outIXFR, 3, 5*time.Second), prim.LogSince(pmark, outAXFR); len(got) < 3 || len(bad) > 0 {
		t.Errorf("%s logged %d outgoing IXFR, %d AXFR; want 3 and 0\n%s", prim.Kind, len(got), len(bad), strings.Join(prim.LogSince(pmark, "."), "\n"))
	}
}

// TestDnspkiSecondaryOfBind: dnspki transfers from BIND with TSIG, takes
// its NOTIFY and follows nsupdate changes by IXFR.
func TestDnspkiSecondaryOfBind(t *testing.T) {
	testDnspkiSecondaryOf(t, harness.StartBind, `transfer of 'example\.test/IN': IXFR started`, `transfer of 'example\.test/IN': AXFR started`)
}

// TestDnspkiSecondaryOfKnot: the same with Knot as the primary.
func TestDnspkiSecondaryOfKnot(t *testing.T) {
	testDnspkiSecondaryOf(t, harness.StartKnot, `IXFR, outgoing, remote 127\.0\.0\.1@\d+, started`, `AXFR, outgoing`)
}

// dig runs BIND's dig with args and returns its output.
func dig(t *testing.T, args ...string) string {
	t.Helper()
	bins := harness.Need(t, "dig")
	out, _ := harness.Run(t, 30*time.Second, "", append([]string{bins[0], "+tries=1", "+time=3"}, args...)...)
	return out
}

func digKey(k *harness.TSIGKey) string {
	return fmt.Sprintf("-y%s:%s:%s", k.Algorithm, k.Name, k.Secret)
}

// TestDnspkiSecondaryOfDnspki: a dnspki secondary of a dnspki primary (TSIG,
// NOTIFY, IXFR); transfers with a bad or no TSIG are refused and logged; a
// restart of the secondary with the primary down serves the stored zone at
// once, until the SOA expire interval passes, then SERVFAIL.
func TestDnspkiSecondaryOfDnspki(t *testing.T) {
	pdir, sdir := t.TempDir(), t.TempDir()
	pport, sport := harness.FreePort(t), harness.FreePort(t)
	zf := filepath.Join(pdir, "example.test.zone")
	// refresh 2 s, retry 1 s, expire 6 s.
	writeAtomic(t, zf, zoneText(2026010100, 2, 1, 6, ""))
	prim := startDnspki(t, pdir, pport,
		"file "+zf,
		keyLine(xfrKey),
		"transfer to 127.0.0.1 key xfr-key.",
		fmt.Sprintf("notify 127.0.0.1:%d key xfr-key.", sport),
	)
	harness.WaitServes(t, prim.Addr, zone, 2026010100, 30*time.Second, prim.Proc)
	sec := startDnspki(t, sdir, sport,
		fmt.Sprintf("primary %s key xfr-key.", prim.Addr),
		keyLine(xfrKey),
	)
	harness.WaitServes(t, sec.Addr, zone, 2026010100, 30*time.Second, sec.Proc)
	pmark, smark := prim.LogMark(), sec.LogMark()

	// Each change reaches the secondary (how fast: BenchmarkPropagation in
	// bench/, not asserted here).
	for i := 0; i < 2; i++ {
		propagate(t, prim.Addr, map[string]string{"dnspki-secondary": sec.Addr}, zoneFileChange(zf),
			fmt.Sprintf("_acme-challenge.s%d.example.test.", i), fmt.Sprintf("v%d", i))
	}
	ps, _ := harness.SOASerial(prim.Addr, zone)
	ss, _ := harness.SOASerial(sec.Addr, zone)
	if ps != ss {
		t.Errorf("primary serves serial %d, secondary %d", ps, ss)
	}
	if n := len(sec.WaitLog(smark, `IXFR from 127\.0\.0\.1:\d+: primary serial`, 2, 5*time.Second)); n < 2 {
		t.Errorf("secondary logged %d IXFR, want 2\n%s", n, sec.Output())
	}
	if n := len(prim.WaitLog(pmark, `IXFR to 127\.0\.0\.1 key xfr-key\.: serial`, 2, 5*time.Second)); n < 2 {
		t.Errorf("primary logged %d IXFR, want 2", n)
	}

	// Bad TSIG, no TSIG, another key: refused and logged.
	bad := &harness.TSIGKey{Name: "xfr-key.", Algorithm: "hmac-sha256", Secret: "d3Jvbmctc2VjcmV0LXdyb25nLXNlY3JldC0wMTIzNDU="}
	out := dig(t, "@127.0.0.1", "-p", fmt.Sprint(pport), digKey(bad), zone, "AXFR")
	if !strings.Contains(out, "Transfer failed") && !strings.Contains(out, "tsig") {
		t.Errorf("AXFR with a bad MAC was not refused:\n%s", out)
	}
	out = dig(t, "@127.0.0.1", "-p", fmt.Sprint(pport), zone, "AXFR")
	if !strings.Contains(out, "Transfer failed") {
		t.Errorf("unsigned AXFR was not refused:\n%s", out)
	}
	out = dig(t, "@127.0.0.1", "-p", fmt.Sprint(pport), digKey(xfrKey), zone, "AXFR")
	if !strings.Contains(out, "XFR size") {
		t.Errorf("signed AXFR failed:\n%s", out)
	}
	harness.Eventually(t, 5*time.Second, "the refusals in the primary's log", func() bool {
		return len(prim.LogSince(pmark, `AXFR example\.test\. from 127\.0\.0\.1:\d+, key xfr-key\.: refused \(NOTAUTH/BADSIG\): TSIG key xfr-key\.: bad MAC`)) == 1 &&
			len(prim.LogSince(pmark, `AXFR from 127\.0\.0\.1 refused: TSIG key required`)) == 1
	})

	// IXFR over UDP (RFC 1995 §2) with dig: the difference sequences fit.
	out = dig(t, "@127.0.0.1", "-p", fmt.Sprint(pport), digKey(xfrKey), "+notcp", zone, "IXFR=2026010100")
	if strings.Count(out, "\tSOA\t") != 6 || !strings.Contains(out, `"v1"`) {
		t.Errorf("IXFR over UDP: want the two difference sequences (6 SOA)\n%s", out)
	}

	// The primary goes away; the secondary restarts and serves its stored
	// copy at once, then expires 6 s after its last refresh (which was at
	// most one refresh interval, 2 s, before the primary stopped).
	prim.Stop()
	stopped := time.Now()
	sec.Stop()
	sec.Restart()
	harness.WaitServes(t, sec.Addr, zone, ss, 10*time.Second, sec.Proc)
	if !answers(sec.Addr, "_acme-challenge.s1.example.test.", "v1") {
		t.Fatal("restarted secondary does not serve the stored zone")
	}
	harness.Eventually(t, 20*time.Second, "SERVFAIL after expire", func() bool {
		r, err := harness.Query(sec.Addr, "www.example.test.", dns.TypeA, false, false)
		return err == nil && r.Rcode == dns.RcodeServerFailure
	})
	if d := time.Since(stopped); d < 3500*time.Millisecond {
		t.Errorf("secondary expired %s after the primary stopped, before the SOA expire (6 s after the last refresh, at most 2 s before)", d)
	}
	if len(sec.WaitLog(0, `expired \(no successful refresh`, 1, 5*time.Second)) == 0 {
		t.Errorf("expiry not logged:\n%s", sec.Output())
	}
}

// TestJournalOverflowFallsBackToAXFR: a Knot secondary that was not notified
// of several changes asks IXFR from a serial the bounded journal no longer
// reaches; dnspki answers with the whole zone and Knot takes it.
func TestJournalOverflowFallsBackToAXFR(t *testing.T) {
	dir := t.TempDir()
	port := harness.FreePort(t)
	zf := filepath.Join(dir, "example.test.zone")
	writeAtomic(t, zf, zoneText(2026010100, 3600, 600, 1209600, ""))
	srv := startDnspki(t, dir, port,
		"file "+zf,
		"journal 2",
		keyLine(xfrKey),
		"transfer to 127.0.0.1 key xfr-key.",
	)
	harness.WaitServes(t, srv.Addr, zone, 2026010100, 30*time.Second, srv.Proc)
	knot := harness.StartKnot(t, 0, harness.PeerZone{Name: zone, Primary: srv.Addr, PrimaryKey: xfrKey})
	harness.WaitServes(t, knot.Addr, zone, 2026010100, 30*time.Second, knot.Proc)
	mark, kmark := srv.LogMark(), knot.LogMark()

	ch := zoneFileChange(zf)
	for i := 0; i < 4; i++ {
		owner, value := fmt.Sprintf("o%d.example.test.", i), fmt.Sprint(i)
		ch(t, owner, value)
		harness.Eventually(t, 10*time.Second, "dnspki serving change "+value, func() bool { return answers(srv.Addr, owner, value) })
	}
	knot.Knotc(t, "zone-refresh", zone)
	harness.WaitServes(t, knot.Addr, zone, 2026010104, 20*time.Second, knot.Proc)
	if !answers(knot.Addr, "o3.example.test.", "3") {
		t.Fatal("Knot lacks the last change")
	}
	if n := len(srv.WaitLog(mark, `IXFR from serial 2026010100 answered with the whole zone`, 1, 5*time.Second)); n != 1 {
		t.Errorf("dnspki logged %d AXFR fallbacks, want 1\n%s", n, srv.Output())
	}
	if n := len(knot.WaitLog(kmark, `receiving AXFR-style IXFR`, 1, 5*time.Second)); n != 1 {
		t.Errorf("Knot logged %d AXFR-style IXFR, want 1\n%s", n, strings.Join(knot.LogSince(kmark, "."), "\n"))
	}
}

// TestExamples runs corefile-examples/primary.Corefile and
// secondary.Corefile (ports rewritten): the secondary follows the primary
// with xfr-key., and the primary refuses transfers without it.
func TestExamples(t *testing.T) {
	pport, sport := harness.FreePort(t), harness.FreePort(t)
	pdir := harness.Example(t, map[string]string{":1053": fmt.Sprintf(":%d", pport), "127.0.0.1:1054": harness.Addr(sport)})
	prim := harness.RunDnspki(t, pdir, "corefile-examples/primary.Corefile", pport)
	harness.WaitServes(t, prim.Addr, zone, 2026010100, 30*time.Second, prim.Proc)
	sdir := harness.Example(t, map[string]string{":1054": fmt.Sprintf(":%d", sport), "127.0.0.1:1053": harness.Addr(pport)})
	sec := harness.RunDnspki(t, sdir, "corefile-examples/secondary.Corefile", sport)
	harness.WaitServes(t, sec.Addr, zone, 2026010100, 30*time.Second, sec.Proc)

	if out := dig(t, "@127.0.0.1", "-p", fmt.Sprint(pport), zone, "AXFR"); !strings.Contains(out, "Transfer failed") {
		t.Errorf("unsigned AXFR from the primary example was not refused:\n%s", out)
	}
	if out := dig(t, "@127.0.0.1", "-p", fmt.Sprint(pport), digKey(xfrKey), zone, "AXFR"); !strings.Contains(out, "XFR size: 23 records") {
		t.Errorf("AXFR with xfr-key.:\n%s", out)
	}
	zf := filepath.Join(pdir, "corefile-examples", "example.test.zone")
	// The example's ACME key (acme-www.) sets the challenge by UPDATE.
	exampleKey := &harness.TSIGKey{Name: "acme-www.", Algorithm: "hmac-sha256", Secret: "c2VjcmV0LWFjbWUtd3d3LWtleS0wMTIzNDU2Nzg5YWI="}
	_ = zf
	lat := propagate(t, prim.Addr, map[string]string{"secondary": sec.Addr}, updateChange(prim.Addr, exampleKey), "_acme-challenge.www.example.test.", "xJm4Z_rT1l9vD2kqHd8pYwEa0sLcNf6uBgXoRi3tVy7")
	t.Logf("propagation primary.Corefile -> secondary.Corefile: %v", lat["secondary"])
}

// TestStockTransferPlugin: Corefiles that use CoreDNS's transfer plugin keep
// working (AXFR, IXFR from the journal); with authzone's own transfer lines
// in the same server block, startup fails instead of letting the stock plugin
// bypass authzone's ACLs.
func TestStockTransferPlugin(t *testing.T) {
	dir := t.TempDir()
	port := harness.FreePort(t)
	zf := filepath.Join(dir, "example.test.zone")
	writeAtomic(t, zf, zoneText(2026010100, 3600, 600, 1209600, ""))
	cf := fmt.Sprintf(`example.test:%d {
    bind 127.0.0.1
    authzone example.test {
        file %s
        state %s
    }
    transfer example.test {
        to *
    }
}
`, port, zf, filepath.Join(dir, "state"))
	srv := harness.StartDnspki(t, dir, cf, port)
	harness.WaitServes(t, srv.Addr, zone, 2026010100, 30*time.Second, srv.Proc)
	if out := dig(t, "@127.0.0.1", "-p", fmt.Sprint(port), zone, "AXFR"); !strings.Contains(out, "XFR size: 10 records") {
		t.Errorf("AXFR through the transfer plugin:\n%s", out)
	}
	zoneFileChange(zf)(t, "x.example.test.", "x")
	harness.WaitServes(t, srv.Addr, zone, 2026010101, 10*time.Second, srv.Proc)
	out := dig(t, "@127.0.0.1", "-p", fmt.Sprint(port), zone, "IXFR=2026010100")
	if strings.Count(out, "\tSOA\t") != 4 || !strings.Contains(out, `"x"`) {
		t.Errorf("IXFR through the transfer plugin: want one difference sequence\n%s", out)
	}

	dir2 := t.TempDir()
	port2 := harness.FreePort(t)
	cf2 := strings.Replace(cf, "state "+filepath.Join(dir, "state"), "state "+filepath.Join(dir2, "state")+"\n        transfer to 127.0.0.1", 1)
	cf2 = strings.Replace(cf2, fmt.Sprintf(":%d", port), fmt.Sprintf(":%d", port2), 1)
	bad := harness.StartDnspki(t, dir2, cf2, port2)
	if _, ended := bad.Wait(20 * time.Second); !ended {
		t.Fatal("dnspki started with both transfer configurations")
	}
	if out := bad.Output(); !strings.Contains(out, "remove the transfer plugin") {
		t.Errorf("startup error does not say why:\n%s", out)
	}
}
