package zonemodel

import (
	"testing"

	"github.com/miekg/dns"

	"github.com/dnspki/dnspki/plugin/pkg/zonemd"
)

func openDigestZone(t testing.TB, dir string, alg uint8, text string, views ...string) (*Zone, *Source) {
	t.Helper()
	z := New(Config{Origin: "example.test", StateDir: dir, Views: views, Digest: alg})
	base, err := z.AddSource("file", SourceOptions{Base: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := base.SetInitial(nil, parseTest(t, text)); err != nil {
		t.Fatal(err)
	}
	acme, err := z.AddSource("acme", SourceOptions{Dynamic: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := z.Open(); err != nil {
		t.Fatal(err)
	}
	return z, acme
}

// checkDigest: the view's snapshot carries one ZONEMD with its serial, and
// an independent computation over what an AXFR sends verifies it.
func checkDigest(t *testing.T, s *Snapshot) *dns.ZONEMD {
	t.Helper()
	md := s.Digest()
	if md == nil {
		t.Fatalf("serial %d: no ZONEMD with the SOA serial at the apex", s.Serial)
	}
	if err := zonemd.Verify(s.Origin, s.RRs()); err != nil {
		t.Fatalf("serial %d: %v", s.Serial, err)
	}
	return md
}

func TestDigestFollowsEveryChange(t *testing.T) {
	dir := t.TempDir()
	// A ZONEMD in the zone file is not what the model serves.
	z, acme := openDigestZone(t, dir, zonemd.HashSHA384, testZone+"@ IN ZONEMD 100 1 1 "+string(make([]byte, 0))+"000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000\n")
	v := z.View("")
	first := checkDigest(t, v.Snapshot())
	if first.Serial != 100 || len(v.Snapshot().Get("example.test.", dns.TypeZONEMD).RRs) != 1 {
		t.Fatalf("first ZONEMD %v", first)
	}
	old := v.Snapshot()
	txt := rr(t, `_acme-challenge.www.example.test. 60 IN TXT "token"`)
	if err := acme.Update(nil, func(tx *Tx) error { tx.Add(txt); return nil }); err != nil {
		t.Fatal(err)
	}
	cur := v.Snapshot()
	md := checkDigest(t, cur)
	if cur.Serial != 101 || md.Digest == first.Digest {
		t.Fatalf("after the change: serial %d, digest %s (was %s)", cur.Serial, md.Digest, first.Digest)
	}
	// IXFR gives what AXFR gives: the journal entry carries the ZONEMD.
	entries, ok, err := v.JournalSince(100)
	if err != nil || !ok || len(entries) != 1 {
		t.Fatalf("journal: %v %v %d", err, ok, len(entries))
	}
	applied := applyEntry(t, old.RRs(), entries[0])
	if err := zonemd.Verify("example.test.", applied); err != nil {
		t.Fatalf("the zone built from IXFR: %v", err)
	}
	// A change that alters nothing keeps serial and digest.
	if err := acme.Update(nil, func(tx *Tx) error { tx.Add(txt); return nil }); err != nil {
		t.Fatal(err)
	}
	if v.Snapshot() != cur {
		t.Fatal("a no-op change made a new snapshot")
	}
	z.Close()

	// Restart with the same setting: same serial, same digest, nothing
	// journaled.
	z, _ = openDigestZone(t, dir, zonemd.HashSHA384, testZone)
	v = z.View("")
	if s := v.Snapshot(); s.Serial != 101 || checkDigest(t, s).Digest != md.Digest || v.JournalLen() != 1 {
		t.Fatalf("after restart: serial %d, journal %d", s.Serial, v.JournalLen())
	}
	z.Close()

	// Digest off: the ZONEMD goes with a new serial, journaled.
	z, _ = openDigestZone(t, dir, 0, testZone)
	v = z.View("")
	if s := v.Snapshot(); s.Serial != 102 || s.Get("example.test.", dns.TypeZONEMD) != nil || v.JournalLen() != 2 {
		t.Fatalf("digest off: serial %d, ZONEMD %v, journal %d", s.Serial, s.Get("example.test.", dns.TypeZONEMD), v.JournalLen())
	}
	z.Close()

	// SHA-512: back with the next serial.
	z, _ = openDigestZone(t, dir, zonemd.HashSHA512, testZone)
	v = z.View("")
	if s := v.Snapshot(); s.Serial != 103 || checkDigest(t, s).Hash != zonemd.HashSHA512 {
		t.Fatalf("digest on again: serial %d", s.Serial)
	}
	z.Close()
}

func TestDigestPerView(t *testing.T) {
	z, acme := openDigestZone(t, t.TempDir(), zonemd.HashSHA384, testZone, "internal", "external")
	defer z.Close()
	if err := acme.Update([]string{"internal"}, func(tx *Tx) error {
		tx.Add(rr(t, `secret.example.test. 60 IN A 10.0.0.1`))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	in, ex := checkDigest(t, z.View("internal").Snapshot()), checkDigest(t, z.View("external").Snapshot())
	if in.Digest == ex.Digest || ex.Serial != 100 || in.Serial != 101 {
		t.Fatalf("views: internal %d %s, external %d %s", in.Serial, in.Digest, ex.Serial, ex.Digest)
	}
}

// applyEntry applies an RFC 1995 difference sequence to a zone's records.
func applyEntry(t *testing.T, rrs []dns.RR, e *JournalEntry) []dns.RR {
	t.Helper()
	var out []dns.RR
	for _, rr := range rrs {
		if rr.Header().Rrtype == dns.TypeSOA {
			continue
		}
		if !containsRdata(e.Del, rr) {
			out = append(out, rr)
		}
	}
	out = append(out, e.NewSOA)
	return append(out, e.Add...)
}

// The canonical order a snapshot derives from the previous one's equals a
// full sort, through additions, removals (empty non-terminals going too)
// and changes.
func TestDerivedOrderMatchesSort(t *testing.T) {
	z, acme := openDigestZone(t, t.TempDir(), zonemd.HashSHA384, testZone)
	defer z.Close()
	v := z.View("")
	steps := []func(tx *Tx){
		func(tx *Tx) { tx.Add(rr(t, `a.b.c.example.test. 60 IN TXT "1"`)) },
		func(tx *Tx) {
			tx.Add(rr(t, `Z.example.test. 60 IN TXT "2"`))
			tx.Add(rr(t, `\001.example.test. 60 IN TXT "3"`))
		},
		func(tx *Tx) {
			tx.Add(rr(t, `*.example.test. 60 IN TXT "4"`))
			tx.Add(rr(t, `www.example.test. 60 IN TXT "5"`))
		},
		func(tx *Tx) { tx.DeleteName("a.b.c.example.test.") },
		func(tx *Tx) { tx.Add(rr(t, `b.c.example.test. 60 IN TXT "6"`)); tx.DeleteName("z.example.test.") },
	}
	for i, step := range steps {
		if err := acme.Update(nil, func(tx *Tx) error { step(tx); return nil }); err != nil {
			t.Fatal(err)
		}
		s := v.Snapshot()
		var want []string
		for name := range s.nodes {
			want = append(want, name)
		}
		sortNames(want)
		got := s.Sorted()
		if len(got) != len(want) {
			t.Fatalf("step %d: %d nodes in order, %d in the snapshot", i, len(got), len(want))
		}
		for j := range got {
			if got[j].Name != want[j] || got[j] != s.nodes[want[j]] {
				t.Fatalf("step %d: position %d is %s, want %s", i, j, got[j].Name, want[j])
			}
		}
		checkDigest(t, s)
	}
}

func sortNames(names []string) {
	for i := 1; i < len(names); i++ {
		for j := i; j > 0 && CanonicalCompare(names[j-1], names[j]) > 0; j-- {
			names[j-1], names[j] = names[j], names[j-1]
		}
	}
}
