package authzone

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/dnspki/dnspki/plugin/pkg/zonemodel"
)

// TestConsumerForgetsDroppedMembers: members a catalog dropped while dnspki
// was down lose their stored state after the first catalog processed; a
// member the catalog still lists keeps it even when it is not served.
func TestConsumerForgetsDroppedMembers(t *testing.T) {
	dir := t.TempDir()
	for _, z := range []string{"gone.test.", "listed.test."} {
		if err := os.MkdirAll(filepath.Join(dir, "zones"), 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "zones", z[:len(z)-1]+".db"), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cat := zonemodel.New(zonemodel.Config{Origin: testCatalog, StateDir: dir})
	cn := &consumer{a: &AuthZone{zones: map[string]*zoneState{}}, reg: zonemodel.NewRegistry(), cat: &zoneState{zone: cat},
		tmpl: &zoneSpec{cfg: zonemodel.Config{StateDir: dir}}, members: map[string]*consumedMember{}}
	if err := saveMembers(cn.file(), map[string]string{"gone.test.": "id1", "listed.test.": "id2"}); err != nil {
		t.Fatal(err)
	}
	stored, err := loadMembers(cn.file())
	if err != nil || len(stored) != 2 || stored["gone.test."] != "id1" {
		t.Fatalf("loaded %v, %v", stored, err)
	}
	cn.stored = stored
	cn.forgetDropped(map[string]catalogMember{"listed.test.": {Zone: "listed.test.", ID: "id2"}})
	if _, err := os.Stat(filepath.Join(dir, "zones", "gone.test.db")); !os.IsNotExist(err) {
		t.Errorf("gone.test.'s state is still there: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "zones", "listed.test.db")); err != nil {
		t.Errorf("listed.test.'s state was removed: %v", err)
	}
	if cn.stored != nil {
		t.Error("the stored list is still consulted after the first catalog")
	}
	if got, _ := loadMembers(cn.file()); len(got) != 0 {
		t.Errorf("member list after: %v, want the served members (none)", got)
	}
}
