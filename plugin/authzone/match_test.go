package authzone

import (
	"testing"

	"github.com/dnspki/dnspki/plugin/pkg/zonemodel"
)

// TestMatch: the zone of a name is the longest enclosing origin among the
// configured zones and the members of consumed catalogs; names in no zone
// match nothing, unless the root is a zone.
func TestMatch(t *testing.T) {
	zs := func(o string) *zoneState { return &zoneState{zone: zonemodel.New(zonemodel.Config{Origin: o})} }
	a := &AuthZone{zones: map[string]*zoneState{"example.test.": zs("example.test."), "sub.example.test.": zs("sub.example.test.")}}
	members := map[string]*zoneState{"member.test.": zs("member.test."), "deep.sub.example.test.": zs("deep.sub.example.test.")}
	a.members.Store(&members)
	for name, want := range map[string]string{
		"example.test.":                 "example.test.",
		"www.example.test.":             "example.test.",
		"sub.example.test.":             "sub.example.test.",
		"a.b.sub.example.test.":         "sub.example.test.",
		"x.deep.sub.example.test.":      "deep.sub.example.test.",
		"member.test.":                  "member.test.",
		"www.member.test.":              "member.test.",
		`a\.b.example.test.`:            "example.test.",
		"test.":                         "",
		"other.":                        "",
		".":                             "",
		"notexample.test.":              "",
		"xsub.example.test.":            "example.test.",
		"www.member.test.example.":      "",
		"www.example.test.member.test.": "member.test.",
	} {
		got := ""
		if z := a.match(name); z != nil {
			got = z.zone.Origin
		}
		if got != want {
			t.Errorf("match(%q) = %q, want %q", name, got, want)
		}
	}
	a.zones["."] = zs(".")
	if z := a.match("anything.else."); z == nil || z.zone.Origin != "." {
		t.Errorf("with the root zone, anything.else. matched %v", z)
	}
	if z := a.match("."); z == nil || z.zone.Origin != "." {
		t.Errorf("the root itself matched %v", z)
	}
}
