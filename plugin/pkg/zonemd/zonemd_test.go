package zonemd

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

func readZone(t testing.TB, path string) []dns.RR {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zp := dns.NewZoneParser(f, "example.", path)
	var out []dns.RR
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		out = append(out, rr)
	}
	if err := zp.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func apexDigest(rrs []dns.RR, alg uint8) string {
	for _, rr := range rrs {
		if md, ok := rr.(*dns.ZONEMD); ok && md.Hdr.Name == "example." && md.Scheme == SchemeSimple && md.Hash == alg {
			return strings.ToLower(md.Digest)
		}
	}
	return ""
}

// The RFC 8976 Appendix A examples: the digests computed here are the
// RFC's (A.1 simple; A.2 occluded data, duplicates, out-of-zone data,
// uppercase owners and RDATA names, wildcards, a non-apex ZONEMD; A.3
// SHA384 and SHA512 beside unsupported schemes and algorithms).
func TestRFC8976Examples(t *testing.T) {
	for _, tc := range []struct {
		file string
		algs []uint8
	}{
		{"testdata/rfc8976-a1.zone", []uint8{HashSHA384}},
		{"testdata/rfc8976-a2.zone", []uint8{HashSHA384}},
		{"testdata/rfc8976-a3.zone", []uint8{HashSHA384, HashSHA512}},
	} {
		rrs := readZone(t, tc.file)
		for _, alg := range tc.algs {
			got, err := Compute("example.", rrs, alg)
			if err != nil {
				t.Fatalf("%s: %v", tc.file, err)
			}
			want := apexDigest(rrs, alg)
			if want == "" || Record("example.", 86400, 2018031900, alg, got).Digest != want {
				t.Errorf("%s %s: computed %x, the RFC says %s", tc.file, HashName(alg), got, want)
			}
		}
		if err := Verify("example.", rrs); err != nil {
			t.Errorf("%s: Verify: %v", tc.file, err)
		}
	}
}

func TestVerifyRefuses(t *testing.T) {
	base := readZone(t, "testdata/rfc8976-a1.zone")
	// A changed record: mismatch.
	changed := append([]dns.RR{}, base...)
	for i, rr := range changed {
		if a, ok := rr.(*dns.A); ok {
			c := dns.Copy(a).(*dns.A)
			c.A[3]++
			changed[i] = c
		}
	}
	var m *Mismatch
	if err := Verify("example.", changed); !errors.As(err, &m) {
		t.Errorf("changed zone: %v, want a mismatch", err)
	}
	// A record added: mismatch.
	extra, _ := dns.NewRR("new.example. 60 IN TXT \"x\"")
	if err := Verify("example.", append(append([]dns.RR{}, base...), extra)); !errors.As(err, &m) {
		t.Errorf("added record: %v, want a mismatch", err)
	}
	// A record outside the zone changes nothing.
	out, _ := dns.NewRR("foo.test. 60 IN TXT \"x\"")
	if err := Verify("example.", append(append([]dns.RR{}, base...), out)); err != nil {
		t.Errorf("out-of-zone record: %v", err)
	}
	// The serial of the ZONEMD differs from the SOA's: mismatch.
	serial := append([]dns.RR{}, base...)
	for i, rr := range serial {
		if s, ok := rr.(*dns.SOA); ok {
			c := dns.Copy(s).(*dns.SOA)
			c.Serial++
			serial[i] = c
		}
	}
	if err := Verify("example.", serial); !errors.As(err, &m) || !strings.Contains(err.Error(), "serial") {
		t.Errorf("serial mismatch: %v", err)
	}
	// Two records with the same scheme and hash: mismatch.
	var dup []dns.RR
	for _, rr := range base {
		dup = append(dup, rr)
		if md, ok := rr.(*dns.ZONEMD); ok {
			c := dns.Copy(md).(*dns.ZONEMD)
			c.Digest = strings.Repeat("00", 48)
			dup = append(dup, c)
		}
	}
	if err := Verify("example.", dup); !errors.As(err, &m) {
		t.Errorf("duplicate scheme/hash: %v", err)
	}
	// Nothing to verify.
	var none, unsup []dns.RR
	for _, rr := range base {
		if md, ok := rr.(*dns.ZONEMD); ok {
			c := dns.Copy(md).(*dns.ZONEMD)
			c.Hash = 240
			unsup = append(unsup, c)
			continue
		}
		none = append(none, rr)
		unsup = append(unsup, rr)
	}
	if err := Verify("example.", none); !errors.Is(err, ErrNoZONEMD) {
		t.Errorf("no ZONEMD: %v", err)
	}
	if err := Verify("example.", unsup); !errors.Is(err, ErrUnsupported) {
		t.Errorf("unsupported hash: %v", err)
	}
}

// The order of the records does not change the digest; a Digester fed the
// RRsets in canonical order gives what Compute gives.
func TestDigesterMatchesCompute(t *testing.T) {
	rrs := readZone(t, "testdata/rfc8976-a2.zone")
	want, _ := Compute("example.", rrs, HashSHA384)
	rev := make([]dns.RR, len(rrs))
	for i, rr := range rrs {
		rev[len(rrs)-1-i] = rr
	}
	got, _ := Compute("example.", rev, HashSHA384)
	if string(got) != string(want) {
		t.Fatalf("order changes the digest")
	}
	d, _ := NewDigester("example.", HashSHA384)
	for _, set := range canonicalSets("example.", rrs) {
		d.AddRRset(set)
	}
	if string(d.Sum()) != string(want) {
		t.Fatalf("Digester differs from Compute")
	}
}

func TestCompareNames(t *testing.T) {
	// RFC 4034 §6.1's example order.
	names := []string{"example.", "a.example.", "yljkjljk.a.example.", "Z.a.example.", "zABC.a.EXAMPLE.", "z.example.", "\\001.z.example.", "*.z.example.", "\\200.z.example."}
	for i := 1; i < len(names); i++ {
		if CompareNames(wireLabels(names[i-1]), wireLabels(names[i])) >= 0 {
			t.Errorf("%s not before %s", names[i-1], names[i])
		}
	}
}
