package authzone

import (
	"testing"

	"github.com/dnspki/dnspki/plugin/pkg/zonemodel"
	"github.com/miekg/dns"
)

// TestConsumerForgetsDroppedMembers: members a catalog dropped while dnspki
// was down lose their stored state after the first catalog processed; a
// member the catalog still lists keeps it even when it is not served.
func TestConsumerForgetsDroppedMembers(t *testing.T) {
	dir := t.TempDir()
	for _, z := range []string{"gone.test.", "listed.test."} {
		storeZone(t, dir, z)
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
	if ok, err := zonemodel.HasState(dir, "gone.test."); ok || err != nil {
		t.Errorf("gone.test.'s state is still there: %v, %v", ok, err)
	}
	if ok, err := zonemodel.HasState(dir, "listed.test."); !ok || err != nil {
		t.Errorf("listed.test.'s state was removed: %v, %v", ok, err)
	}
	if cn.stored != nil {
		t.Error("the stored list is still consulted after the first catalog")
	}
	if got, _ := loadMembers(cn.file()); len(got) != 0 {
		t.Errorf("member list after: %v, want the served members (none)", got)
	}
}

// storeZone gives zone stored state in dir: opened once with an SOA and NS.
func storeZone(t *testing.T, dir, zone string) {
	t.Helper()
	z := zonemodel.New(zonemodel.Config{Origin: zone, StateDir: dir})
	base, err := z.AddSource("file", zonemodel.SourceOptions{Base: true})
	if err != nil {
		t.Fatal(err)
	}
	var rrs []dns.RR
	for _, s := range []string{zone + " 60 IN SOA ns." + zone + " h. 1 60 60 60 60", zone + " 60 IN NS ns." + zone} {
		rr, err := dns.NewRR(s)
		if err != nil {
			t.Fatal(err)
		}
		rrs = append(rrs, rr)
	}
	if err := base.SetInitial(nil, rrs); err != nil {
		t.Fatal(err)
	}
	if err := z.Open(); err != nil {
		t.Fatal(err)
	}
	z.Close()
}
