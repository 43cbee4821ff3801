package zonemodel

import "testing"

// The default view is the last configured one, everywhere it is asked for:
// DefaultViewOf, Zone.DefaultView and Zone.View("").
func TestDefaultView(t *testing.T) {
	if got := DefaultViewOf([]string{"internal", "external"}); got != "external" {
		t.Fatalf("DefaultViewOf = %q, want external", got)
	}
	if got := DefaultViewOf([]string{DefaultView}); got != DefaultView {
		t.Fatalf("DefaultViewOf(one view) = %q", got)
	}
	if got := DefaultViewOf(nil); got != "" {
		t.Fatalf("DefaultViewOf(nil) = %q", got)
	}
	for _, c := range []struct {
		views []string
		want  string
	}{
		{nil, DefaultView},
		{[]string{"internal", "external"}, "external"},
		{[]string{"a", "b", "c"}, "c"},
	} {
		z := New(Config{Origin: "example.test.", Views: c.views})
		if v := z.DefaultView(); v == nil || v.Name != c.want {
			t.Fatalf("views %v: DefaultView %v, want %s", c.views, v, c.want)
		}
		if v := z.View(""); v != z.DefaultView() {
			t.Fatalf("views %v: View(\"\") is %s, not the default view %s", c.views, v.Name, c.want)
		}
		if z.View("nonexistent") != nil {
			t.Fatalf("views %v: an unknown view exists", c.views)
		}
	}
}
