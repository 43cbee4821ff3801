package authzone

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/plugin"
	"github.com/coredns/coredns/plugin/tsig"
	"github.com/dnspki/dnspki/plugin/pkg/tsigauth"
)

func TestParse(t *testing.T) {
	tests := []struct {
		input   string
		wantErr string
	}{
		{"authzone example.test {\nfile db\n}", ""},
		{`authzone example.test {
			file db
			file db.int view internal
			views internal external
			state /tmp/x
			serial unixtime
			journal 50 1MB
			reload 0
		}`, ""},
		{`authzone example.test`, "no 'file'"},
		{"authzone example.test example.org {\nfile db\n}", "one zone per directive"},
		{"authzone example.test {\nfile\n}", "Wrong argument count"},
		{"authzone example.test {\nfile db bogus\n}", "expected 'view NAME...'"},
		{"authzone example.test {\nfile db view nope\n}", "view \"nope\" is not declared"},
		{"authzone example.test {\nfile a\nfile b\n}", "exactly one zone file without 'view'"},
		{"authzone example.test {\nfile db\nserial sometimes\n}", "serial policy"},
		{"authzone example.test {\nfile db\njournal -1\n}", "journal entries"},
		{"authzone example.test {\nfile db\njournal 5 lots\n}", "journal size"},
		{"authzone example.test {\nfile db\nreload soon\n}", "reload interval"},
		{"authzone example.test {\nfile db\nviews a a\n}", "listed twice"},
		{"authzone example.test {\nfile db\nfrobnicate\n}", "unknown property"},
	}
	for i, tc := range tests {
		c := caddy.NewTestController("dns", tc.input)
		_, err := parse(c, tsigauth.ForBlock(c))
		if tc.wantErr == "" {
			if err != nil {
				t.Errorf("%d: unexpected error %v", i, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("%d: error %v, want it to contain %q", i, err, tc.wantErr)
		}
	}
}

func TestSetupReportsZoneFileErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "db")
	os.WriteFile(bad, []byte("$ORIGIN example.test.\n@ 3600 IN SOA ns1 host 1 2 3 4 5\n@ 3600 IN NS ns1\nns1 3600 IN A 300.1.1.1\n"), 0o644)
	c := caddy.NewTestController("dns", "authzone example.test {\nfile "+bad+"\n}")
	err := setup(c)
	if err == nil || !strings.Contains(err.Error(), bad+"") || !strings.Contains(err.Error(), "line: 4") {
		t.Fatalf("want the file and line 4 in the error, got %v", err)
	}
	os.WriteFile(bad, []byte("$ORIGIN example.test.\n@ 3600 IN NS ns1\nns1 3600 IN A 192.0.2.1\n"), 0o644)
	c = caddy.NewTestController("dns", "authzone example.test {\nfile "+bad+"\n}")
	if err := setup(c); err == nil || !strings.Contains(err.Error(), "no SOA") {
		t.Fatalf("missing SOA: %v", err)
	}
	os.WriteFile(bad, []byte("$ORIGIN example.test.\n@ 3600 IN SOA ns1 host 1 2 3 4 5\n@ 3600 IN NS ns1\nwww.example.org. 3600 IN A 192.0.2.1\n"), 0o644)
	c = caddy.NewTestController("dns", "authzone example.test {\nfile "+bad+"\n}")
	if err := setup(c); err == nil || !strings.Contains(err.Error(), bad+":4: www.example.org. is outside zone") {
		t.Fatalf("out of zone: %v", err)
	}
	if err := setup(caddy.NewTestController("dns", "authzone example.test {\nfile "+filepath.Join(dir, "missing")+"\n}")); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Fatalf("missing file: %v", err)
	}
}

func TestCheckTsigPlugin(t *testing.T) {
	dir := t.TempDir()
	zf := filepath.Join(dir, "db")
	os.WriteFile(zf, []byte("$ORIGIN example.test.\n@ 300 IN SOA ns hostmaster 1 7200 3600 1209600 300\n@ 300 IN NS ns\nns 300 IN A 192.0.2.1\n"), 0o644)
	build := func(extra string) *AuthZone {
		t.Helper()
		c := caddy.NewTestController("dns", "authzone example.test {\nfile "+zf+"\nstate "+t.TempDir()+"\n"+extra+"}")
		a, _, err := build(c)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	keyed := build("key xfr-key. hmac-sha256 eGZyLWtleS1zZWNyZXQtZm9yLXRlc3RzLTAxMjM0NTY=\ntransfer to * key xfr-key.\n")
	plain := build("transfer to 127.0.0.1\n")
	over := &tsig.TSIGServer{Zones: []string{"."}}
	other := &tsig.TSIGServer{Zones: []string{"other.test."}}
	if err := checkTsigPlugin(keyed, over); err == nil || !strings.Contains(err.Error(), "zone example.test. uses TSIG keys (xfr-key.) and is also covered by the tsig plugin (zone .)") {
		t.Errorf("keyed zone under the tsig plugin: %v", err)
	}
	for name, c := range map[string]struct {
		a *AuthZone
		h plugin.Handler
	}{"no tsig plugin": {keyed, nil}, "tsig plugin on another zone": {keyed, other}, "zone without keys": {plain, over}} {
		if err := checkTsigPlugin(c.a, c.h); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}
