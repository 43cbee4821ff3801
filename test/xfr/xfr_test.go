// Package xfr tests dnspki's zone transfers with real peers: Knot, BIND and
// NSD as TSIG secondaries of dnspki (NOTIFY, IXFR, propagation time),
// dnspki as a secondary of BIND, of Knot and of another dnspki, journal
// overflow, expiry and refused transfers.
package xfr

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
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

func keyLine(k *harness.TSIGKey) string {
	return fmt.Sprintf("key %s %s %s", k.Name, k.Algorithm, k.Secret)
}

// startDnspki runs dnspki in dir serving example.test on port with the
// authzone lines given (STATE is dir/state).
func startDnspki(t *testing.T, dir string, port int, lines ...string) *harness.Server {
	t.Helper()
	cf := fmt.Sprintf(`example.test:%d {
    bind 127.0.0.1
    authzone example.test {
        state %s
        %s
    }
}
`, port, filepath.Join(dir, "state"), strings.Join(lines, "\n        "))
	return harness.StartDnspki(t, dir, cf, port)
}

// writeAtomic replaces a file by rename, as editors and deployment tools do.
func writeAtomic(t *testing.T, path, content string) {
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
type change func(t *testing.T, owner, value string)

// zoneFileChange adds the record to the zone file; authzone reloads it.
func zoneFileChange(path string) change {
	var mu sync.Mutex
	return func(t *testing.T, owner, value string) {
		mu.Lock()
		defer mu.Unlock()
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		writeAtomic(t, path, string(b)+fmt.Sprintf("%s 300 IN TXT %q\n", owner, value))
	}
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
func propagate(t *testing.T, primary string, secondaries map[string]string, ch change, owner, value string) map[string]time.Duration {
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
			out[name] = at[name].Sub(at["dnspki"])
		}
	}
	return out
}

// TestSecondariesOfDnspki: Knot, BIND and NSD as TSIG secondaries of dnspki.
// After each change on dnspki, every secondary answers it well under 2 s
// (NOTIFY, then IXFR); the transfers after the first are incremental, seen
// from dnspki's log and from each secondary's own log.
func TestSecondariesOfDnspki(t *testing.T) {
	harness.Need(t, "knotd", "named", "nsd")
	dir := t.TempDir()
	zf := filepath.Join(dir, "example.test.zone")
	writeAtomic(t, zf, zoneText(2026010100, 3600, 600, 1209600, ""))
	port := harness.FreePort(t)
	knotPort, bindPort, nsdPort := harness.FreePort(t), harness.FreePort(t), harness.FreePort(t)
	primary := harness.Addr(port)
	srv := startDnspki(t, dir, port,
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
	marks := map[string]int{}
	for name, p := range peers {
		marks[name] = p.LogMark()
	}
	dmark := srv.LogMark()

	const rounds = 3
	lat := map[string][]time.Duration{}
	for i := 0; i < rounds; i++ {
		// ACME changes come seconds apart; NSD reloads at most once a second
		// (xfrd-reload-timeout), so back-to-back changes would measure that.
		time.Sleep(1200 * time.Millisecond)
		owner := fmt.Sprintf("_acme-challenge.host%d.example.test.", i)
		for name, d := range propagate(t, primary, addrs, zoneFileChange(zf), owner, fmt.Sprintf("token-%d", i)) {
			lat[name] = append(lat[name], d)
		}
	}
	names := []string{"bind", "knot", "nsd"}
	for _, name := range names {
		ds := lat[name]
		sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
		t.Logf("propagation dnspki -> %s: %v", name, ds)
		for _, d := range ds {
			if d >= 2*time.Second {
				t.Errorf("%s answered %s after the change was committed on dnspki, want < 2 s", name, d)
			}
		}
	}

	// Incremental transfers: dnspki's log names each secondary's key.
	for name, k := range map[string]*harness.TSIGKey{"knot": knotKey, "bind": bindKey, "nsd": nsdKey} {
		ixfr := srv.LogSince(dmark, `IXFR to 127\.0\.0\.1 key `+k.Name)
		axfr := srv.LogSince(dmark, `(AXFR|whole zone).* to 127\.0\.0\.1 key `+k.Name+`|`+`IXFR from serial .* whole zone`)
		if len(ixfr) < rounds || len(axfr) > 0 {
			t.Errorf("%s: dnspki logged %d IXFR and %d full transfers since the first, want >= %d and 0:\n%s", name, len(ixfr), len(axfr), rounds, strings.Join(append(ixfr, axfr...), "\n"))
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
		got, bad := peers[name].LogSince(marks[name], re[0]), peers[name].LogSince(marks[name], re[1])
		if len(got) < rounds || len(bad) > 0 {
			t.Errorf("%s's log since the first transfer: %d lines matching %q (want >= %d), %d matching %q (want 0)\n%s", name, len(got), re[0], rounds, len(bad), re[1], strings.Join(peers[name].LogSince(marks[name], `.`), "\n"))
		}
	}
}
