package zonemodel

import (
	"testing"

	"github.com/miekg/dns"
)

// A static source with different content per view changes every view in one
// transaction with ReplaceIn, and stores metadata with it.
func TestReplaceInPerView(t *testing.T) {
	dir := t.TempDir()
	z := New(Config{Origin: "example.test", StateDir: dir, Views: []string{"inside", "outside"}})
	base, _ := z.AddSource("file", SourceOptions{Base: true})
	if err := base.SetInitial(nil, parseTest(t, testZone)); err != nil {
		t.Fatal(err)
	}
	src, err := z.AddSource("tlsa", SourceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := z.Open(); err != nil {
		t.Fatal(err)
	}
	in := rr(t, "_443._tcp.www.example.test. 60 IN TLSA 3 1 1 aaaa")
	out := rr(t, "_443._tcp.www.example.test. 60 IN TLSA 3 1 1 bbbb")
	err = src.Update(nil, func(tx *Tx) error {
		tx.ReplaceIn("inside", []dns.RR{in})
		tx.ReplaceIn("outside", []dns.RR{in, out})
		tx.SetMeta("k", []byte("v1"))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := z.View("inside").Snapshot().Get("_443._tcp.www.example.test.", dns.TypeTLSA); got == nil || len(got.RRs) != 1 {
		t.Fatalf("inside: %v", got)
	}
	if got := z.View("outside").Snapshot().Get("_443._tcp.www.example.test.", dns.TypeTLSA); got == nil || len(got.RRs) != 2 {
		t.Fatalf("outside: %v", got)
	}
	// A view outside the transaction fails it; nothing changes.
	before := z.View("inside").Snapshot()
	err = src.Update([]string{"inside"}, func(tx *Tx) error {
		tx.ReplaceIn("inside", nil)
		tx.ReplaceIn("outside", nil)
		return nil
	})
	if err == nil {
		t.Fatal("ReplaceIn of a view outside the transaction accepted")
	}
	if z.View("inside").Snapshot() != before {
		t.Fatal("a failed transaction was applied")
	}
	z.Close()

	// StoredMeta reads the metadata before the next Open.
	z2 := New(Config{Origin: "example.test", StateDir: dir, Views: []string{"inside", "outside"}})
	m, err := z2.StoredMeta("tlsa")
	if err != nil {
		t.Fatal(err)
	}
	if string(m["k"]) != "v1" {
		t.Fatalf("stored meta before open: %q", m)
	}
	if m, err := z2.StoredMeta("nothing"); err != nil || len(m) != 0 {
		t.Fatalf("meta of an unknown source: %v %v", m, err)
	}
}

// StoredMeta of a zone that never ran is empty, not an error.
func TestStoredMetaFresh(t *testing.T) {
	z := New(Config{Origin: "example.test", StateDir: t.TempDir()})
	m, err := z.StoredMeta("tlsa")
	if err != nil || len(m) != 0 {
		t.Fatalf("fresh: %v %v", m, err)
	}
}

// HasData answers from the staged static content before Open and from the
// snapshot after it, per view.
func TestHasData(t *testing.T) {
	z := New(Config{Origin: "example.test", StateDir: t.TempDir(), Views: []string{"inside", "outside"}})
	base, _ := z.AddSource("file", SourceOptions{Base: true})
	if err := base.SetInitial(nil, parseTest(t, testZone)); err != nil {
		t.Fatal(err)
	}
	in, _ := z.AddSource("file:inside", SourceOptions{Views: []string{"inside"}, Override: true})
	if err := in.SetInitial(nil, []dns.RR{rr(t, "a.b.intra.example.test. 60 IN A 10.0.0.1")}); err != nil {
		t.Fatal(err)
	}
	check := func(when string) {
		t.Helper()
		for _, c := range []struct {
			view, name string
			want       bool
		}{
			{"inside", "A.b.Intra.example.test", true},
			{"outside", "a.b.intra.example.test.", false},
			{"inside", "b.intra.example.test.", false}, // an empty non-terminal
			{"outside", "www.example.test.", true},
			{"inside", "www.example.test.", true},
			{"nope", "www.example.test.", false},
		} {
			if got := z.HasData(c.view, c.name); got != c.want {
				t.Errorf("%s: HasData(%s, %s) = %v", when, c.view, c.name, got)
			}
		}
	}
	check("before Open")
	if err := z.Open(); err != nil {
		t.Fatal(err)
	}
	defer z.Close()
	check("after Open")
}
