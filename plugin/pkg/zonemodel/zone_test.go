package zonemodel

import (
	"errors"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

const testZone = `$ORIGIN example.test.
$TTL 3600
@ IN SOA ns1 hostmaster 100 3600 600 86400 300
  IN NS ns1
ns1 IN A 192.0.2.53
www IN A 192.0.2.10
alias IN CNAME www
`

func rr(t testing.TB, s string) dns.RR {
	t.Helper()
	r, err := dns.NewRR(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func parseTest(t testing.TB, text string) []dns.RR {
	t.Helper()
	zd, err := ParseZone(strings.NewReader(text), "example.test.", "test.zone")
	if err != nil {
		t.Fatal(err)
	}
	return zd.RRs
}

// openZone makes and opens a zone in dir with the base file content and, if
// given, a dynamic source "acme".
func openZone(t testing.TB, dir, text string, views ...string) (*Zone, *Source, *Source) {
	t.Helper()
	z := New(Config{Origin: "example.test", StateDir: dir, Views: views})
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
	t.Cleanup(z.Close)
	return z, base, acme
}

func TestOpenServesFileSerial(t *testing.T) {
	z, _, _ := openZone(t, t.TempDir(), testZone)
	s := z.View("").Snapshot()
	if s.Serial != 100 {
		t.Fatalf("serial %d, want the file's 100", s.Serial)
	}
	if got := s.Get("www.example.test.", dns.TypeA); got == nil || len(got.RRs) != 1 {
		t.Fatalf("www A missing: %v", got)
	}
	if z.View("").JournalLen() != 0 {
		t.Fatal("first load must not journal")
	}
}

func TestUpdateBumpsSerialAndJournals(t *testing.T) {
	z, _, acme := openZone(t, t.TempDir(), testZone)
	v := z.View("")
	txt := rr(t, `_acme-challenge.www.example.test. 60 IN TXT "token"`)
	if err := acme.Update(nil, func(tx *Tx) error { tx.Add(txt); return nil }); err != nil {
		t.Fatal(err)
	}
	s := v.Snapshot()
	if s.Serial != 101 {
		t.Fatalf("serial %d, want 101", s.Serial)
	}
	if s.Get("_acme-challenge.www.example.test.", dns.TypeTXT) == nil {
		t.Fatal("TXT not served")
	}
	// The TXT's name makes _acme-challenge an existing name and www's
	// descendant: no NXDOMAIN for it now.
	if r := s.Lookup("_acme-challenge.www.example.test.", dns.TypeA, Options{}); r.Rcode != dns.RcodeSuccess {
		t.Fatalf("rcode %d for a name that has a TXT", r.Rcode)
	}
	// No-op: same record again changes nothing.
	if err := acme.Update(nil, func(tx *Tx) error { tx.Add(txt); return nil }); err != nil {
		t.Fatal(err)
	}
	if v.Snapshot().Serial != 101 {
		t.Fatalf("no-op update moved the serial to %d", v.Snapshot().Serial)
	}
	if err := acme.Update(nil, func(tx *Tx) error { tx.Delete(txt); return nil }); err != nil {
		t.Fatal(err)
	}
	s = v.Snapshot()
	if s.Serial != 102 || s.Get("_acme-challenge.www.example.test.", dns.TypeTXT) != nil {
		t.Fatalf("delete: serial %d, TXT %v", s.Serial, s.Get("_acme-challenge.www.example.test.", dns.TypeTXT))
	}
	if n := s.Node("_acme-challenge.www.example.test."); n != nil {
		t.Fatal("empty name left behind after delete")
	}
	entries, ok, err := v.JournalSince(100)
	if err != nil || !ok || len(entries) != 2 {
		t.Fatalf("JournalSince(100) = %d entries, ok %v, err %v", len(entries), ok, err)
	}
	if entries[0].From != 100 || entries[0].To != 101 || len(entries[0].Add) != 1 || len(entries[0].Del) != 0 {
		t.Fatalf("entry 0: %+v", entries[0])
	}
	if entries[1].From != 101 || entries[1].To != 102 || len(entries[1].Del) != 1 {
		t.Fatalf("entry 1: %+v", entries[1])
	}
	if _, ok, _ := v.JournalSince(99); ok {
		t.Fatal("journal claims to reach a serial it never had")
	}
	if e, ok, _ := v.JournalSince(102); !ok || len(e) != 0 {
		t.Fatal("up-to-date serial should give no entries and ok")
	}
}

func TestRefusedChangeAppliesNothing(t *testing.T) {
	z, _, acme := openZone(t, t.TempDir(), testZone)
	v := z.View("")
	before := v.Snapshot()
	err := acme.Update(nil, func(tx *Tx) error {
		tx.Add(rr(t, `ok.example.test. 60 IN TXT "fine"`))
		tx.Add(rr(t, `alias.example.test. 60 IN TXT "beside a CNAME"`))
		return nil
	})
	if err == nil || !strings.Contains(err.Error(), "CNAME and other data") {
		t.Fatalf("want a CNAME conflict error, got %v", err)
	}
	if v.Snapshot() != before {
		t.Fatal("a refused change was applied")
	}
	if err := acme.Update(nil, func(tx *Tx) error {
		tx.Add(rr(t, `www.example.org. 60 IN TXT "elsewhere"`))
		return nil
	}); err == nil {
		t.Fatal("out-of-zone record accepted")
	}
	sentinel := errors.New("abort")
	if err := acme.Update(nil, func(tx *Tx) error {
		tx.Add(rr(t, `ok.example.test. 60 IN TXT "fine"`))
		return sentinel
	}); err != sentinel {
		t.Fatalf("fn error not returned: %v", err)
	}
	if v.Snapshot() != before {
		t.Fatal("an aborted transaction was applied")
	}
}

func TestPersistenceAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	z, _, acme := openZone(t, dir, testZone)
	if err := acme.Update(nil, func(tx *Tx) error {
		tx.Add(rr(t, `_acme-challenge.www.example.test. 60 IN TXT "kept"`))
		tx.SetMeta("added:_acme-challenge.www", []byte("12345"))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	z.Close()

	// Restart with the same file: serial and dynamic records survive.
	z2, _, acme2 := openZone(t, dir, testZone)
	s := z2.View("").Snapshot()
	if s.Serial != 101 {
		t.Fatalf("serial after restart %d, want 101", s.Serial)
	}
	if s.Get("_acme-challenge.www.example.test.", dns.TypeTXT) == nil {
		t.Fatal("dynamic record lost across restart")
	}
	if string(acme2.Meta("added:_acme-challenge.www")) != "12345" {
		t.Fatal("source metadata lost across restart")
	}
	z2.Close()

	// Restart with an edited file (same serial in the file): the change is
	// journaled and the serial moves past the stored one.
	edited := strings.Replace(testZone, "192.0.2.10", "192.0.2.11", 1)
	z3, _, _ := openZone(t, dir, edited)
	v := z3.View("")
	if v.Snapshot().Serial != 102 {
		t.Fatalf("serial after an edit while down: %d, want 102", v.Snapshot().Serial)
	}
	entries, ok, _ := v.JournalSince(100)
	if !ok || len(entries) != 2 || entries[1].Source != "startup" {
		t.Fatalf("journal after restart: ok %v, %d entries", ok, len(entries))
	}
	if len(entries[1].Del) != 1 || len(entries[1].Add) != 1 {
		t.Fatalf("edit entry: del %v add %v", entries[1].Del, entries[1].Add)
	}
	z3.Close()

	// A source no longer configured: its records are dropped at start.
	z4 := New(Config{Origin: "example.test", StateDir: dir})
	base, _ := z4.AddSource("file", SourceOptions{Base: true})
	base.SetInitial(nil, parseTest(t, edited))
	if err := z4.Open(); err != nil {
		t.Fatal(err)
	}
	defer z4.Close()
	s = z4.View("").Snapshot()
	if s.Get("_acme-challenge.www.example.test.", dns.TypeTXT) != nil {
		t.Fatal("records of a removed source still served")
	}
	if s.Serial != 103 {
		t.Fatalf("serial %d, want 103", s.Serial)
	}
}

func TestFileSerialAheadIsAdopted(t *testing.T) {
	dir := t.TempDir()
	z, base, _ := openZone(t, dir, testZone)
	bumped := strings.Replace(testZone, " 100 ", " 2026010100 ", 1)
	if err := base.Replace(nil, parseTest(t, bumped)); err != nil {
		t.Fatal(err)
	}
	if s := z.View("").Snapshot().Serial; s != 2026010100 {
		t.Fatalf("serial %d, want the file's 2026010100", s)
	}
	// A file serial behind the model's does not move it back.
	if err := base.Replace(nil, parseTest(t, strings.Replace(testZone, "192.0.2.10", "192.0.2.12", 1))); err != nil {
		t.Fatal(err)
	}
	if s := z.View("").Snapshot().Serial; s != 2026010101 {
		t.Fatalf("serial %d, want 2026010101", s)
	}
}

func TestJournalTrimFallsBack(t *testing.T) {
	dir := t.TempDir()
	z := New(Config{Origin: "example.test", StateDir: dir, JournalMaxEntries: 3})
	base, _ := z.AddSource("file", SourceOptions{Base: true})
	base.SetInitial(nil, parseTest(t, testZone))
	acme, _ := z.AddSource("acme", SourceOptions{Dynamic: true})
	if err := z.Open(); err != nil {
		t.Fatal(err)
	}
	defer z.Close()
	for i := 0; i < 5; i++ {
		if err := acme.Update(nil, func(tx *Tx) error {
			tx.Add(rr(t, "t.example.test. 60 IN TXT \""+string(rune('a'+i))+"\""))
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	v := z.View("")
	if n := v.JournalLen(); n != 3 {
		t.Fatalf("journal holds %d entries, want 3", n)
	}
	if _, ok, _ := v.JournalSince(100); ok {
		t.Fatal("trimmed journal still claims to reach serial 100")
	}
	if e, ok, _ := v.JournalSince(102); !ok || len(e) != 3 {
		t.Fatalf("JournalSince(102): ok %v, %d entries", ok, len(e))
	}
}

func TestViewsAndOverride(t *testing.T) {
	dir := t.TempDir()
	z := New(Config{Origin: "example.test", StateDir: dir, Views: []string{"internal", "external"}})
	base, _ := z.AddSource("file", SourceOptions{Base: true})
	base.SetInitial(nil, parseTest(t, testZone))
	in, _ := z.AddSource("file:internal", SourceOptions{Views: []string{"internal"}, Override: true})
	in.SetInitial(nil, []dns.RR{rr(t, "www.example.test. 300 IN A 10.1.2.3"), rr(t, "db.example.test. 300 IN A 10.1.2.4")})
	acme, _ := z.AddSource("acme", SourceOptions{Dynamic: true})
	if err := z.Open(); err != nil {
		t.Fatal(err)
	}
	defer z.Close()
	ins, ext := z.View("internal").Snapshot(), z.View("external").Snapshot()
	if got := ins.Get("www.example.test.", dns.TypeA).RRs; len(got) != 1 || got[0].(*dns.A).A.String() != "10.1.2.3" {
		t.Fatalf("internal www: %v", got)
	}
	if got := ext.Get("www.example.test.", dns.TypeA).RRs; len(got) != 1 || got[0].(*dns.A).A.String() != "192.0.2.10" {
		t.Fatalf("external www: %v", got)
	}
	if ext.Node("db.example.test.") != nil {
		t.Fatal("internal-only name in the external view")
	}
	if err := acme.Update(nil, func(tx *Tx) error {
		tx.Add(rr(t, `_acme-challenge.db.example.test. 60 IN TXT "x"`))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"internal", "external"} {
		s := z.View(name).Snapshot()
		if s.Get("_acme-challenge.db.example.test.", dns.TypeTXT) == nil {
			t.Fatalf("view %s lacks the challenge", name)
		}
		if s.Serial != 101 {
			t.Fatalf("view %s serial %d", name, s.Serial)
		}
	}
	// The external view must not learn db exists: _acme-challenge.db is there,
	// so db is an empty non-terminal externally — the split-horizon plugin
	// decides what to do about that; the model reports it faithfully.
	if n := z.View("external").Snapshot().Node("db.example.test."); n == nil || !n.Empty() {
		t.Fatal("want db as an empty non-terminal in the external view")
	}
}

func TestSupersededGenerationRefusesWrites(t *testing.T) {
	dir := t.TempDir()
	z1, _, acme1 := openZone(t, dir, testZone)
	z2, _, _ := openZone(t, dir, testZone)
	if err := acme1.Update(nil, func(tx *Tx) error { tx.Add(rr(t, `a.example.test. 60 IN TXT "x"`)); return nil }); err != ErrSuperseded {
		t.Fatalf("old generation wrote: %v", err)
	}
	z1.Close()
	if z2.View("").Snapshot().SOA() == nil {
		t.Fatal("new generation lost its zone")
	}
}

func TestDynamicBaseAdoptsStoredBase(t *testing.T) {
	dir := t.TempDir()
	z, _, _ := openZone(t, dir, testZone)
	serial := z.View("").Snapshot().Serial
	z.Close()

	// The zone file is replaced by a dynamic base (a primary to transfer from)
	// that has nothing stored yet: the last data keeps being served.
	open := func() (*Zone, *Source) {
		z := New(Config{Origin: "example.test", StateDir: dir})
		p, err := z.AddSource("primary", SourceOptions{Base: true, Dynamic: true})
		if err != nil {
			t.Fatal(err)
		}
		if err := z.Open(); err != nil {
			t.Fatal(err)
		}
		return z, p
	}
	z2, p := open()
	s := z2.View("").Snapshot()
	if s.SOA() == nil || s.Serial != serial || s.Get("www.example.test.", dns.TypeA) == nil {
		t.Fatalf("after switching to a dynamic base: serial %d, soa %v", s.Serial, s.SOA())
	}
	if n := z2.View("").JournalLen(); n != 0 {
		t.Fatalf("adoption journaled %d entries", n)
	}
	if len(p.Records("")) == 0 {
		t.Fatal("the dynamic base did not adopt the records")
	}
	z2.Close()
	// Stored under the new source: a restart serves them again.
	z3, _ := open()
	defer z3.Close()
	if s := z3.View("").Snapshot(); s.SOA() == nil || s.Serial != serial {
		t.Fatalf("after restart: serial %d", s.Serial)
	}
}

func TestPackRRsRoundTrip(t *testing.T) {
	in := []dns.RR{
		rr(t, `_acme-challenge.www.example.test. 60 IN TXT "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ"`),
		rr(t, "example.test. 3600 IN SOA ns1.example.test. hostmaster.example.test. 1 3600 900 1209600 60"),
		rr(t, "www.example.test. 300 IN A 192.0.2.1"),
		rr(t, "x.example.test. 300 IN TYPE65280 \\# 3 010203"),
	}
	b, err := packRRs(in)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) == 0 {
		t.Fatal("empty encoding")
	}
	out, err := unpackRRs(b)
	if err != nil || len(out) != len(in) {
		t.Fatalf("%v %v", out, err)
	}
	for i := range in {
		if out[i].String() != in[i].String() {
			t.Fatalf("%s != %s", out[i], in[i])
		}
	}
}

func TestHexRdataKeepsSerialAcrossRestart(t *testing.T) {
	// A digest written in uppercase unpacks from the store in lowercase: the
	// model must not see a change (and bump the serial) at every start.
	text := testZone + `sub IN NS ns1
sub IN DS 12345 13 2 0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF
_443._tcp.www IN TLSA 3 1 1 ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789
www IN SSHFP 4 2 123456789ABCDEF67890123456789ABCDEF67890123456789ABCDEF123456789
`
	dir := t.TempDir()
	z, _, _ := openZone(t, dir, text)
	serial := z.View("").Snapshot().Serial
	z.Close()
	z2, _, _ := openZone(t, dir, text)
	if got := z2.View("").Snapshot().Serial; got != serial {
		t.Fatalf("serial %d after a restart with the same file, want %d", got, serial)
	}
}

func TestBumpGivesNewSerialWithoutChanges(t *testing.T) {
	dir := t.TempDir()
	z, _, acme := openZone(t, dir, testZone)
	v := z.View("")
	before := v.Snapshot()
	var seen []Change
	z.Subscribe(func(c Change) { seen = append(seen, c) })
	if err := acme.Update(nil, func(tx *Tx) error { tx.Bump(); return nil }); err != nil {
		t.Fatal(err)
	}
	after := v.Snapshot()
	if after.Serial != before.Serial+1 {
		t.Fatalf("serial %d after a bump, want %d", after.Serial, before.Serial+1)
	}
	if after.SOA().RRs[0].(*dns.SOA).Serial != after.Serial {
		t.Fatal("the SOA does not carry the new serial")
	}
	if after.Get("www.example.test.", dns.TypeA) != before.Get("www.example.test.", dns.TypeA) {
		t.Fatal("a bump must share the unchanged RRsets")
	}
	if len(seen) != 1 || seen[0].Entry == nil || len(seen[0].Entry.Add)+len(seen[0].Entry.Del) != 0 {
		t.Fatalf("subscribers got %+v, want one change without differences", seen)
	}
	entries, ok, err := v.JournalSince(before.Serial)
	if err != nil || !ok || len(entries) != 1 {
		t.Fatalf("journal since %d: %v %v %v", before.Serial, entries, ok, err)
	}
	if e := entries[0]; e.OldSOA.(*dns.SOA).Serial != before.Serial || e.NewSOA.(*dns.SOA).Serial != after.Serial {
		t.Fatalf("journal entry %d -> %d", e.OldSOA.(*dns.SOA).Serial, e.NewSOA.(*dns.SOA).Serial)
	}
	// The serial survives a restart; a bump together with a change is one serial.
	z.Close()
	z2, _, acme2 := openZone(t, dir, testZone)
	if s := z2.View("").Snapshot().Serial; s != after.Serial {
		t.Fatalf("serial %d after restart, want %d", s, after.Serial)
	}
	txt := rr(t, `x.example.test. 60 IN TXT "x"`)
	if err := acme2.Update(nil, func(tx *Tx) error { tx.Add(txt); tx.Bump(); return nil }); err != nil {
		t.Fatal(err)
	}
	if s := z2.View("").Snapshot().Serial; s != after.Serial+1 {
		t.Fatalf("serial %d after a change with a bump, want %d", s, after.Serial+1)
	}
}

// A record another source also has (a zone file CAA identical to one
// dnspersist generates, even with another TTL) is served once; the RRset takes
// the TTL of the first source's records; removing it from one source leaves
// the other's.
func TestMergeDropsDuplicatesAcrossSources(t *testing.T) {
	z, _, acme := openZone(t, t.TempDir(), testZone+`www 300 IN CAA 0 issue "ca.example; accounturi=https://ca.example/acct/1; validationmethods=dns-01,dns-persist-01"
`)
	gen := []dns.RR{
		rr(t, `www.example.test. 3600 IN CAA 0 issue "ca.example; accounturi=https://ca.example/acct/1; validationmethods=dns-01,dns-persist-01"`),
		rr(t, `www.example.test. 3600 IN CAA 0 issuewild "ca.example; accounturi=https://ca.example/acct/1; validationmethods=dns-01,dns-persist-01"`),
	}
	if err := acme.Update(nil, func(tx *Tx) error {
		for _, r := range gen {
			tx.Add(r)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	set := z.View("").Snapshot().Get("www.example.test.", dns.TypeCAA)
	if set == nil || len(set.RRs) != 2 {
		t.Fatalf("served CAA: %v", set)
	}
	tags := map[string]bool{}
	for _, r := range set.RRs {
		tags[r.(*dns.CAA).Tag] = true
		if r.Header().Ttl != 300 {
			t.Fatalf("TTL %d, want the zone file's 300: %v", r.Header().Ttl, r)
		}
	}
	if !tags["issue"] || !tags["issuewild"] {
		t.Fatalf("served CAA: %v", set.RRs)
	}
	// The whole zone (what AXFR sends) has it once too.
	n := 0
	for _, r := range z.View("").Snapshot().RRs() {
		if r.Header().Rrtype == dns.TypeCAA && r.(*dns.CAA).Tag == "issue" {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("AXFR has %d CAA issue records", n)
	}
	if err := acme.Update(nil, func(tx *Tx) error { tx.Clear(); return nil }); err != nil {
		t.Fatal(err)
	}
	set = z.View("").Snapshot().Get("www.example.test.", dns.TypeCAA)
	if set == nil || len(set.RRs) != 1 || set.RRs[0].(*dns.CAA).Tag != "issue" {
		t.Fatalf("after the generated records are gone: %v", set)
	}
}
