package acmechallenge

import (
	"bytes"
	golog "log"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// The hyphenated options and the spellings of the last release (keyfile,
// persist_view, persist_ttl, max_values, max_records, max_size) give the
// same configuration; each old one is logged as deprecated, the new ones
// are not.
func TestDeprecatedSpellings(t *testing.T) {
	dir := t.TempDir()
	keyfile := filepath.Join(dir, "k.key")
	if err := os.WriteFile(keyfile, []byte(`key "file-key." { algorithm hmac-sha512; secret "`+wwwSecret+`"; };`), 0o600); err != nil {
		t.Fatal(err)
	}
	block := func(sep string) string {
		return "acmechallenge example.test {\n" +
			"key" + sep + "file " + keyfile + "\n" +
			"grant file-key. persist subdomain intra.example.test\n" +
			"view a b\n" +
			"persist" + sep + "view b\n" +
			"persist" + sep + "ttl 600\n" +
			"max" + sep + "values 3\n" +
			"max" + sep + "records 7\n" +
			"max" + sep + "size 1024\n}"
	}
	var logs bytes.Buffer
	saved := golog.Writer()
	golog.SetOutput(&logs)
	t.Cleanup(func() { golog.SetOutput(saved) })

	cur, err := parse(newController(block("-")))
	if err != nil {
		t.Fatal(err)
	}
	if logs.Len() != 0 {
		t.Fatalf("current spellings logged %q", logs.String())
	}
	old, err := parse(newController(strings.Replace(block("_"), "key_file", "keyfile", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(cur.cfg, old.cfg) || !reflect.DeepEqual(cur.ring.Names(), old.ring.Names()) {
		t.Fatalf("old spellings: %+v %v, hyphenated: %+v %v", old.cfg, old.ring.Names(), cur.cfg, cur.ring.Names())
	}
	if cur.cfg.maxValues != 3 || cur.cfg.maxRecords != 7 || cur.cfg.maxSize != 1024 || cur.cfg.persistTTL != 600 || len(cur.cfg.persistViews) != 1 {
		t.Fatalf("config %+v", cur.cfg)
	}
	for _, o := range []string{"keyfile", "persist_view", "persist_ttl", "max_values", "max_records", "max_size"} {
		if !strings.Contains(logs.String(), `option "`+o+`" is deprecated`) {
			t.Errorf("no deprecation warning for %s in %q", o, logs.String())
		}
	}
}
