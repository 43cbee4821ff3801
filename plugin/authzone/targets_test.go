package authzone

import (
	"path/filepath"
	"testing"
)

func TestNotifyTargets(t *testing.T) {
	dir := t.TempDir()
	zf := filepath.Join(dir, "db")
	writeZone(t, zf, testZoneText(1, ""))
	ts := startTest(t, dir, `file `+zf+`
		state STATE
		views inside outside
		key `+testKey+` hmac-sha256 `+testSecret+`
		notify 127.0.0.1:5301 key `+testKey+`
		notify 127.0.0.1:5302 view inside`, "")
	z := ts.zone()
	got := NotifyTargets(z)
	want := []NotifyTarget{{Addr: "127.0.0.1:5301", View: "outside", Key: testKey}, {Addr: "127.0.0.1:5302", View: "inside"}}
	if len(got) != len(want) {
		t.Fatalf("targets %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("target %d: %+v, want %+v", i, got[i], want[i])
		}
	}
	ts.stop()
	if got := NotifyTargets(z); got != nil {
		t.Fatalf("targets of a stopped zone: %+v", got)
	}
}
