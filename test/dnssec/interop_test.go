package dnssec

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/dnspki/dnspki/test/harness"
)

const interopZone = `$ORIGIN example.test.
$TTL 300
@    IN SOA ns1 hostmaster 1 3600 600 1209600 60
     IN NS  ns1
ns1  IN A   127.0.0.1
www  IN A   192.0.2.10
     IN TXT "interop"
`

func startSigned(t testing.TB, dir, signOpts string) *harness.Server {
	t.Helper()
	write(t, filepath.Join(dir, "example.test.zone"), interopZone)
	port := harness.FreePort(t)
	s := harness.StartDnspki(t, dir, fmt.Sprintf(`example.test:%d {
    bind 127.0.0.1
    authzone example.test {
        file example.test.zone
    }
    onlinesign example.test {
        keys keys
%s
    }
}
`, port, signOpts), port)
	harness.WaitDNS(t, s.Addr, "example.test.", 30*time.Second, s.Proc)
	return s
}

// TestBindKeyIsAdopted: a KSK made by BIND's dnssec-keygen in the key
// directory is adopted as the zone's CSK; delv validates with the .key file
// as trust anchor.
func TestBindKeyIsAdopted(t *testing.T) {
	bins := harness.Need(t, "dnssec-keygen", "delv")
	dir := t.TempDir()
	keys := filepath.Join(dir, "keys")
	os.MkdirAll(keys, 0o700)
	base := strings.TrimSpace(harness.MustRun(t, time.Minute, keys, bins[0], "-q", "-K", keys, "-a", "ECDSAP256SHA256", "-f", "KSK", "-n", "ZONE", "example.test"))
	s := startSigned(t, dir, "")
	pub, err := os.ReadFile(filepath.Join(keys, base+".key"))
	if err != nil {
		t.Fatal(err)
	}
	var want *dns.DNSKEY
	zp := dns.NewZoneParser(strings.NewReader(string(pub)), "", "")
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		if k, ok := rr.(*dns.DNSKEY); ok {
			want = k
		}
	}
	r, err := harness.Query(s.Addr, "example.test", dns.TypeDNSKEY, false, true)
	if err != nil {
		t.Fatal(err)
	}
	var tags []uint16
	for _, rr := range r.Answer {
		if k, ok := rr.(*dns.DNSKEY); ok {
			tags = append(tags, k.KeyTag())
		}
	}
	if want == nil || len(tags) != 1 || tags[0] != want.KeyTag() {
		t.Fatalf("served DNSKEY tags %v, want only dnssec-keygen's %v", tags, want)
	}
	anchor := filepath.Join(dir, "bind.anchor")
	write(t, anchor, want.String()+"\n")
	for _, q := range [][2]string{{"www.example.test", "TXT"}, {"nothere.example.test", "A"}, {"example.test", "CDS"}} {
		if out, ok := harness.Delv(t, s.Addr, anchor, "example.test", q[0], q[1]); !ok {
			t.Errorf("delv %v with dnssec-keygen's key:\n%s", q, out)
		}
	}
}

// TestKeysWorkInBindAndKnot: the key files dnspki makes sign a zone with
// BIND's dnssec-signzone (checked by dnssec-verify) and import into Knot's
// KASP database with "keymgr import-bind" (same DS).
func TestKeysWorkInBindAndKnot(t *testing.T) {
	bins := harness.Need(t, "dnssec-signzone", "dnssec-verify", "keymgr")
	dir := t.TempDir()
	s := startSigned(t, dir, "        scheme split\n        algorithm ED25519")
	s.Stop()
	keys := filepath.Join(dir, "keys")
	bases, _ := filepath.Glob(filepath.Join(keys, "Kexample.test.+015+*.private"))
	if len(bases) != 2 {
		t.Fatalf("want a KSK and a ZSK, got %v", bases)
	}
	signed := filepath.Join(dir, "signed.zone")
	out := harness.MustRun(t, time.Minute, dir, bins[0], "-S", "-K", keys, "-o", "example.test", "-f", signed, filepath.Join(dir, "example.test.zone"))
	t.Logf("dnssec-signzone: %s", out)
	out = harness.MustRun(t, time.Minute, dir, bins[1], "-o", "example.test", signed)
	if !strings.Contains(out, "Zone fully signed") {
		t.Errorf("dnssec-verify: %s", out)
	}
	b, _ := os.ReadFile(signed)
	for _, p := range bases {
		tag := strings.TrimSuffix(filepath.Base(p), ".private")[len("Kexample.test.+015+"):]
		if !strings.Contains(string(b), " 15 ") || !strings.Contains(string(b), fmt.Sprintf(" %d ", atoi(tag))) {
			t.Errorf("signed zone does not use key %s", tag)
		}
	}

	kasp := filepath.Join(dir, "kasp")
	os.MkdirAll(kasp, 0o700)
	ds := dnspkiDS(t, dir, "-keys", keys, "example.test")
	for _, p := range bases {
		harness.MustRun(t, time.Minute, dir, bins[2], "-D", kasp, "example.test.", "import-bind", p)
	}
	list := harness.MustRun(t, time.Minute, dir, bins[2], "-D", kasp, "example.test.", "list")
	var kskTag string
	for _, l := range strings.Split(list, "\n") {
		if f := strings.Fields(l); len(f) > 2 && f[2] == "KSK" {
			kskTag = f[1]
		}
	}
	knotDS := harness.MustRun(t, time.Minute, dir, bins[2], "-D", kasp, "example.test.", "ds", kskTag)
	dsRR, err := dns.NewRR(strings.TrimSpace(ds))
	if err != nil {
		t.Fatalf("dnspki ds %q: %v", ds, err)
	}
	if !strings.Contains(strings.ToUpper(knotDS), dsRR.(*dns.DS).Digest) {
		t.Errorf("Knot's DS for the imported KSK:\n%s\ndnspki's: %s", knotDS, ds)
	}
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}
