package xfr

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/dnspki/dnspki/test/harness"
)

// signedExtra is zone data that exercises the chain: a wildcard, an empty
// non-terminal, a secure and an insecure delegation with glue.
const signedExtra = `*.wild  IN TXT  "wildcard"
a.b.ent IN A    192.0.2.90
sub     IN NS   ns.sub
ns.sub  IN A    192.0.2.99
secure  IN NS   ns.secure
        IN DS   12345 13 2 0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF
ns.secure IN A  192.0.2.98
`

// TestSignedTransfers: BIND, Knot and NSD as TSIG secondaries of a zone
// that dnspki signs online, with the signed-transfer mode (`transfer ...
// signed`): they get the zone with RRSIGs and a complete NSEC (or NSEC3)
// chain. BIND's dnssec-verify and Knot's kzonecheck accept the zone each
// holds; unbound, with dnspki's trust anchor and a stub zone at each
// secondary, validates positive answers, wildcard answers, NXDOMAIN and
// NODATA from it. After an RFC 2136 UPDATE (acmechallenge) and a zone file
// edit on dnspki, the secondaries get the newly signed zone and still
// validate.
func TestSignedTransfers(t *testing.T) {
	for _, chain := range []string{"nsec", "nsec3"} {
		t.Run(chain, func(t *testing.T) { testSignedTransfers(t, chain) })
	}
}

func testSignedTransfers(t *testing.T, chain string) {
	bins := harness.Need(t, "knotd", "named", "nsd", "unbound", "dnssec-verify", "named-compilezone", "kzonecheck")
	dir := t.TempDir()
	zf := filepath.Join(dir, "example.test.zone")
	writeAtomic(t, zf, zoneText(2026010100, 3600, 600, 1209600, signedExtra))
	port := harness.FreePort(t)
	knotPort, bindPort, nsdPort := harness.FreePort(t), harness.FreePort(t), harness.FreePort(t)
	primary := harness.Addr(port)
	keys := filepath.Join(dir, "keys")
	srv := startDnspkiWith(t, dir, port, []string{acmeBlock(), fmt.Sprintf(`onlinesign example.test {
        keys %s
        chain %s
    }`, keys, chain)},
		"file "+zf,
		keyLine(knotKey), keyLine(bindKey), keyLine(nsdKey),
		"transfer to 127.0.0.1 key knot-key. bind-key. nsd-key. signed",
		fmt.Sprintf("notify 127.0.0.1:%d key knot-key.", knotPort),
		fmt.Sprintf("notify 127.0.0.1:%d key bind-key.", bindPort),
		fmt.Sprintf("notify 127.0.0.1:%d key nsd-key.", nsdPort),
	)
	serial := harness.WaitServes(t, primary, zone, 0, 30*time.Second, srv.Proc)
	anchor := filepath.Join(keys, "example.test.trust-anchor")

	sec := func(k *harness.TSIGKey) harness.PeerZone {
		return harness.PeerZone{Name: zone, Primary: primary, PrimaryKey: k}
	}
	peers := []*harness.Peer{
		harness.StartBind(t, bindPort, sec(bindKey)),
		harness.StartKnot(t, knotPort, sec(knotKey)),
		harness.StartNSD(t, nsdPort, sec(nsdKey)),
	}
	resolvers := map[string]*harness.Unbound{}
	for _, p := range peers {
		harness.WaitServes(t, p.Addr, zone, serial, 30*time.Second, p.Proc)
		resolvers[p.Kind] = harness.StartUnbound(t, harness.UnboundConfig{
			TrustAnchorFiles: []string{anchor},
			Stubs:            map[string][]string{zone: {p.Addr}},
		})
	}

	// check verifies the zone each secondary holds at serial and validates
	// answers from each through its unbound.
	check := func(serial uint32, present, absent []string) {
		t.Helper()
		for _, p := range peers {
			switch p.Kind {
			case "bind":
				f := bindZone(t, p, serial, bins[5])
				if out, err := harness.Run(t, time.Minute, "", bins[4], "-z", "-o", "example.test", f); err != nil {
					t.Errorf("dnssec-verify rejects the zone BIND holds: %v\n%s", err, out)
				} else if !strings.Contains(out, "Zone fully signed") {
					t.Errorf("dnssec-verify: %s", out)
				}
			case "knot":
				f := knotZone(t, p, serial)
				if out, err := harness.Run(t, time.Minute, "", bins[6], "-o", "example.test", "-d", "on", f); err != nil {
					t.Errorf("kzonecheck rejects the zone Knot holds: %v\n%s", err, out)
				}
			}
			u := resolvers[p.Kind]
			if out, err := u.Control("flush_zone", zone); err != nil {
				t.Fatalf("unbound-control flush_zone: %v\n%s", err, out)
			}
			what := fmt.Sprintf("unbound via %s", p.Kind)
			expectValidated(t, what, u, "www.example.test.", dns.TypeA, dns.RcodeSuccess, dns.TypeA)
			expectValidated(t, what, u, "mail.example.test.", dns.TypeMX, dns.RcodeSuccess, dns.TypeMX)
			expectValidated(t, what, u, "host.wild.example.test.", dns.TypeTXT, dns.RcodeSuccess, dns.TypeTXT)
			expectValidated(t, what, u, "nothere.example.test.", dns.TypeA, dns.RcodeNameError, 0)
			expectValidated(t, what, u, "www.example.test.", dns.TypeMX, dns.RcodeSuccess, 0)      // NODATA
			expectValidated(t, what, u, "b.ent.example.test.", dns.TypeA, dns.RcodeSuccess, 0)     // empty non-terminal
			expectValidated(t, what, u, "host.wild.example.test.", dns.TypeA, dns.RcodeSuccess, 0) // wildcard NODATA
			expectValidated(t, what, u, "secure.example.test.", dns.TypeDS, dns.RcodeSuccess, dns.TypeDS)
			for _, n := range present {
				expectValidated(t, what, u, n, dns.TypeTXT, dns.RcodeSuccess, dns.TypeTXT)
			}
			for _, n := range absent {
				expectValidated(t, what, u, n, dns.TypeTXT, dns.RcodeNameError, 0)
			}
		}
	}
	owner := "_acme-challenge.www.example.test."
	fileOwner := "new.example.test."
	check(serial, nil, []string{owner, fileOwner})

	// An ACME client's UPDATE, then a zone file edit: each a new serial,
	// NOTIFY, and a newly signed zone for every secondary.
	for i, ch := range []struct {
		how   change
		owner string
	}{{updateChange(primary, acmeKey), owner}, {zoneFileChange(zf), fileOwner}} {
		addrs := map[string]string{}
		for _, p := range peers {
			addrs[p.Kind] = p.Addr
		}
		for name, d := range propagate(t, primary, addrs, ch.how, ch.owner, fmt.Sprintf("token-%d", i)) {
			t.Logf("%s: signed zone with %s served %s after the change", name, ch.owner, d)
		}
		serial = harness.MustSerial(t, primary, zone)
		for _, p := range peers {
			harness.WaitServes(t, p.Addr, zone, serial, 10*time.Second, p.Proc)
		}
		present := []string{owner}
		absent := []string{fileOwner}
		if i == 1 {
			present, absent = []string{owner, fileOwner}, nil
		}
		check(serial, present, absent)
	}

	// dnspki answered every transfer with the whole signed zone, also the
	// IXFR requests.
	for _, k := range []*harness.TSIGKey{knotKey, bindKey, nsdKey} {
		if l := srv.LogLines(`(AXFR|IXFR from serial \d+ answered with the whole zone \(signed transfers are whole zones\)), signed to 127\.0\.0\.1 key ` + k.Name); len(l) < 3 {
			t.Errorf("dnspki logged %d signed transfers to %s, want >= 3", len(l), k.Name)
		}
	}
	if l := srv.LogLines(`IXFR to 127\.0\.0\.1`); len(l) > 0 {
		t.Errorf("incremental transfers to signed-transfer secondaries: %v", l)
	}
}

// expectValidated resolves through unbound and checks the rcode, the AD bit
// and that the answer holds a record of type want (0: no answer).
func expectValidated(t *testing.T, what string, u *harness.Unbound, name string, qtype uint16, rcode int, want uint16) {
	t.Helper()
	r, err := u.Resolve(name, qtype)
	if err != nil {
		t.Errorf("%s: %s/%s: %v", what, name, dns.TypeToString[qtype], err)
		return
	}
	has := false
	for _, rr := range r.Answer {
		if rr.Header().Rrtype == want {
			has = true
		}
	}
	if r.Rcode != rcode || !r.AuthenticatedData || (want == 0) != (len(r.Answer) == 0) || (want != 0 && !has) {
		t.Errorf("%s: %s/%s: rcode %s AD %v answer %v, want %s with AD and %s", what, name, dns.TypeToString[qtype],
			dns.RcodeToString[r.Rcode], r.AuthenticatedData, r.Answer, dns.RcodeToString[rcode], dns.TypeToString[want])
	}
}

// bindZone returns the zone BIND holds as a secondary (its zone file, raw
// format, converted to text by named-compilezone), once it has serial (0:
// any).
func bindZone(t *testing.T, p *harness.Peer, serial uint32, compile string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "bind.zone")
	var last string
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		for _, format := range []string{"raw", "text"} {
			res, err := harness.Run(t, time.Minute, "", compile, "-q", "-f", format, "-F", "text", "-s", "full", "-o", out, "example.test", filepath.Join(p.Dir, "example.test.zone"))
			last = res
			if err == nil && (serial == 0 && fileSerial(out) != 0 || fileSerial(out) == serial) {
				return out
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("BIND's zone file does not have serial %d: %s", serial, last)
	return ""
}

// knotZone returns the zone Knot holds as a secondary, flushed to a file.
func knotZone(t *testing.T, p *harness.Peer, serial uint32) string {
	t.Helper()
	outdir := t.TempDir()
	out := filepath.Join(outdir, "example.test.zone")
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		p.Knotc(t, "zone-flush", "example.test.", "+outdir", outdir)
		if fileSerial(out) == serial {
			return out
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("Knot's flushed zone does not have serial %d", serial)
	return ""
}

// fileSerial is the SOA serial of a text zone file (0 if none).
func fileSerial(path string) uint32 {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	zp := dns.NewZoneParser(f, "example.test.", path)
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		if s, ok := rr.(*dns.SOA); ok {
			return s.Serial
		}
	}
	return 0
}

// TestSignedTransferZSKRollover: a ZSK rollover (pre-publish, short timings)
// of a zone a BIND secondary gets by signed transfer. When the new ZSK
// takes over, no record of the zone changes, yet dnspki gives the zone a new
// serial so that BIND gets the zone signed by the new key; when the old key
// leaves, the DNSKEY change is a new serial anyway. unbound, asking BIND
// all along, validates every answer (positive and NXDOMAIN), and BIND's copy
// verifies at the end.
func TestSignedTransferZSKRollover(t *testing.T) {
	bins := harness.Need(t, "named", "unbound", "dnssec-verify", "named-compilezone")
	dir := t.TempDir()
	zf := filepath.Join(dir, "example.test.zone")
	writeAtomic(t, zf, `$ORIGIN example.test.
$TTL 1
@   IN SOA ns1 hostmaster 1 3600 600 1209600 1
    IN NS  ns1
ns1 IN A   127.0.0.1
www IN A   192.0.2.10
`)
	port, bindPort := harness.FreePort(t), harness.FreePort(t)
	primary := harness.Addr(port)
	keys := filepath.Join(dir, "keys")
	srv := startDnspkiWith(t, dir, port, []string{fmt.Sprintf(`onlinesign example.test {
        keys %s
        scheme split
        dnskey-ttl 2s
        propagation 1s
        zsk-lifetime 5s
    }`, keys)},
		"file "+zf, keyLine(bindKey),
		"transfer to 127.0.0.1 key bind-key. signed",
		fmt.Sprintf("notify 127.0.0.1:%d key bind-key.", bindPort),
	)
	serial := harness.WaitServes(t, primary, zone, 0, 30*time.Second, srv.Proc)
	bind := harness.StartBind(t, bindPort, harness.PeerZone{Name: zone, Primary: primary, PrimaryKey: bindKey})
	harness.WaitServes(t, bind.Addr, zone, serial, 30*time.Second, bind.Proc)
	u := harness.StartUnbound(t, harness.UnboundConfig{
		TrustAnchorFiles: []string{filepath.Join(keys, "example.test.trust-anchor")},
		Stubs:            map[string][]string{zone: {bind.Addr}},
	})
	zsk := func() []string {
		var st struct {
			Keys []struct {
				Key  string `json:"key"`
				Role string `json:"role"`
			} `json:"keys"`
		}
		b, err := os.ReadFile(filepath.Join(keys, "example.test.keystate"))
		if err == nil {
			err = json.Unmarshal(b, &st)
		}
		if err != nil {
			t.Fatalf("key state: %v", err)
		}
		var out []string
		for _, k := range st.Keys {
			if k.Role == "zsk" {
				out = append(out, k.Key)
			}
		}
		return out
	}
	first := zsk()
	if len(first) != 1 {
		t.Fatalf("ZSKs at start: %v", first)
	}
	// Until the first ZSK has left the zone (one whole rollover) and 30
	// rounds more, ask unbound every 100 ms.
	var failures []string
	queries := 0
	deadline := time.Now().Add(45 * time.Second)
	gone := time.Time{}
	roundsAfter := 0
	for time.Now().Before(deadline) && roundsAfter < 30 {
		if !gone.IsZero() {
			roundsAfter++
		}
		for _, q := range []struct {
			name  string
			rcode int
		}{{"www.example.test.", dns.RcodeSuccess}, {fmt.Sprintf("nx%d.example.test.", queries), dns.RcodeNameError}} {
			r, err := u.Resolve(q.name, dns.TypeA)
			queries++
			switch {
			case err != nil:
				failures = append(failures, fmt.Sprintf("%s: %v", q.name, err))
			case r.Rcode != q.rcode || !r.AuthenticatedData:
				failures = append(failures, fmt.Sprintf("%s: %s AD %v", q.name, dns.RcodeToString[r.Rcode], r.AuthenticatedData))
			}
		}
		if gone.IsZero() && !slices.Contains(zsk(), first[0]) {
			gone = time.Now()
		}
		time.Sleep(100 * time.Millisecond)
	}
	if gone.IsZero() {
		t.Fatalf("the first ZSK %s did not leave the zone within 45 s", first[0])
	}
	if len(failures) > 0 {
		t.Errorf("%d of %d answers through BIND did not validate:\n%s", len(failures), queries, strings.Join(failures, "\n"))
	}
	if l := srv.LogLines(`the signing keys or the chain changed for the signed transfers: new serial`); len(l) == 0 {
		t.Error("dnspki did not give the zone a new serial when the new ZSK took over")
	}
	f := bindZone(t, bind, 0, bins[3])
	if out, err := harness.Run(t, time.Minute, "", bins[2], "-o", "example.test", f); err != nil || !strings.Contains(out, "Zone fully signed") {
		t.Errorf("dnssec-verify rejects the zone BIND holds after the rollover: %v\n%s", err, out)
	}
}
