package zonemodel

import "testing"

func TestDelegated(t *testing.T) {
	z, _, _ := openZone(t, t.TempDir(), testZone+`sub IN NS ns.sub
ns.sub IN A 192.0.2.99
deep.ns.sub IN A 192.0.2.98
other IN A 192.0.2.1
`)
	s := z.View("").Snapshot()
	for name, want := range map[string]bool{
		"example.test.":             false,
		"www.example.test.":         false,
		"sub.example.test.":         true,
		"ns.sub.example.test.":      true,
		"deep.ns.sub.example.test.": true,
		"x.other.example.test.":     false,
		"nothere.example.test.":     false,
	} {
		if got := s.Delegated(name); got != want {
			t.Errorf("Delegated(%s) = %v, want %v", name, got, want)
		}
	}
	z2, _, _ := openZone(t, t.TempDir(), testZone)
	if z2.View("").Snapshot().Delegated("www.example.test.") {
		t.Error("a zone without cuts has no delegated names")
	}
}
