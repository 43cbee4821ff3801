package acmechallenge

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coredns/coredns/plugin/tsig"
	"github.com/miekg/dns"
)

func TestParse(t *testing.T) {
	dir := t.TempDir()
	keyfile := filepath.Join(dir, "k.key")
	os.WriteFile(keyfile, []byte(`key "file-key." { algorithm hmac-sha512; secret "`+wwwSecret+`"; };`), 0o600)
	a, err := parse(newController(`acmechallenge example.test example.org {
		key acme-www. hmac-sha256 ` + wwwSecret + `
		keyfile ` + keyfile + `
		grant acme-www. name www.example.test www.example.org
		grant file-key. subdomain example.org
		grant file-key. challenge name www.example.test
		grant file-key. persist subdomain intra.example.test
		view a b
		persist_view b
		persist_ttl 600
		ttl 30
		expire 2h
		values any
		max_values 3
		max_records 7
		max_size 1024
	}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(a.origins) != 2 || a.cfg.ttl != 30 || a.cfg.expire.Hours() != 2 || !a.cfg.anyValue || a.cfg.maxValues != 3 || a.cfg.maxRecords != 7 || a.cfg.maxSize != 1024 || len(a.cfg.views) != 2 || a.api != nil {
		t.Fatalf("config: %+v", a.cfg)
	}
	if a.policy.Find("file-key.", "_acme-challenge.x.example.org.", dns.TypeTXT) == nil {
		t.Fatal("key file grant missing")
	}
	if a.policy.Find("acme-www.", "_acme-challenge.www.example.org.", dns.TypeTXT) == nil {
		t.Fatal("second domain of a grant missing")
	}
	if a.policy.Find("file-key.", "_acme-challenge.www.example.test.", dns.TypeTXT) == nil {
		t.Fatal("explicit challenge grant missing")
	}
	if g := a.policy.Find("file-key.", "_validation-persist.h.intra.example.test.", dns.TypeTXT); g == nil || g.Validate == nil {
		t.Fatalf("persist grant: %v", g)
	}
	if a.policy.Find("file-key.", "_acme-challenge.h.intra.example.test.", dns.TypeTXT) != nil || a.policy.Find("acme-www.", "_validation-persist.www.example.test.", dns.TypeTXT) != nil {
		t.Fatal("a grant of one kind covers the other")
	}
	if a.cfg.persistTTL != 600 || len(a.cfg.persistViews) != 1 {
		t.Fatalf("persist config: %+v", a.cfg)
	}
	// Server block zone.
	c := newController(`acmechallenge {
		key k. hmac-sha1 ` + wwwSecret + `
		grant k. name www.example.test
	}`)
	c.ServerBlockKeys = []string{"example.test:1053"}
	if a, err := parse(c); err != nil || a.origins[0] != "example.test." {
		t.Fatal(a, err)
	}
}

func TestParseErrors(t *testing.T) {
	key := "key k. hmac-sha256 " + wwwSecret + "\n"
	for _, c := range []struct{ body, want string }{
		{"grant k. name www.example.test", "no key and no user"},
		{"key j. hmac-sha256 " + wwwSecret + "\ngrant k. name www.example.test", "no key or user named k."},
		{key, "no grant"},
		{key + "grant k. name www.example.org", "in none of the zones"},
		{key + "grant k. self", "in none of the zones"},
		{key + "grant k. name", "which domains"},
		{key + "grant k. self www.example.test", "takes no domains"},
		{key + "grant k. wildcard www.example.test", "unknown grant kind"},
		{key + "grant k. name *.example.test", "wildcards"},
		{"key k. hmac-foo " + wwwSecret, "unknown TSIG algorithm"},
		{"key k. hmac-sha256 !!!", "not base64"},
		{key + "key k. hmac-sha512 " + wwwSecret, "defined twice"},
		{key + "user u short\ngrant k. name www.example.test\nhttp 127.0.0.1:1", "shorter than 8"},
		{key + "user u long-enough\ngrant u name www.example.test", "no 'http'"},
		{key + "grant k. name www.example.test\nhttp 127.0.0.1:1", "without any 'user'"},
		{key + "grant k. name www.example.test\nhttp nope", "HOST:PORT"},
		{key + "grant k. name www.example.test\nexpire soon", "want a duration"},
		{key + "grant k. name www.example.test\nvalues some", "digest or any"},
		{key + "grant k. name www.example.test\nmax_size 10", "from 512"},
		{key + "grant k. name www.example.test\nfoo", "unknown property"},
		{key + "user k. long-enough\ngrant k. name www.example.test\nhttp 127.0.0.1:1", "both a key and a user"},
		{key + "user u long-enough\ngrant u self\nhttp 127.0.0.1:1", "only TSIG keys"},
		{key + "keyfile /nonexistent/file", "keyfile"},
		{key + "grant k. persist", "want name, subdomain or self"},
		{key + "grant k. persist name", "which domains"},
		{key + "grant k. persist self www.example.test", "takes no domains"},
		{key + "user u long-enough\ngrant u persist name www.example.test\nhttp 127.0.0.1:1", "only TSIG keys can set validation records"},
		{key + "grant k. name www.example.test\npersist_ttl 0", "from 1"},
		{key + "grant k. name www.example.test\npersist_view", "Wrong argument count"},
	} {
		_, err := parse(newController("acmechallenge example.test {\n" + c.body + "\n}"))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: got %v, want %q", c.body, err, c.want)
		}
	}
	if _, err := parse(newController("acmechallenge example.test {\n" + key + "grant k. name www.example.test\n}\nacmechallenge example.org {\n}")); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Errorf("two directives: %v", err)
	}
}

// CoreDNS's tsig plugin in front of a zone of the plugin would strip the TSIG
// of every UPDATE (and check no algorithm binding): refused at startup.
func TestTsigPluginCoveringAZoneRefused(t *testing.T) {
	a, err := parse(newController(`acmechallenge example.test {
		key acme-www. hmac-sha256 ` + wwwSecret + `
		grant acme-www. name www.example.test
	}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.checkTsigPlugin(nil); err != nil {
		t.Fatalf("no tsig plugin: %v", err)
	}
	if err := a.checkTsigPlugin(a); err != nil {
		t.Fatalf("another handler: %v", err)
	}
	for zones, bad := range map[string]bool{
		".":                 true,
		"test.":             true,
		"example.test.":     true,
		"sub.example.test.": false, // UPDATEs name example.test.
		"example.org.":      false,
	} {
		err := a.checkTsigPlugin(&tsig.TSIGServer{Zones: []string{zones}})
		if bad && (err == nil || !strings.Contains(err.Error(), "covered by the tsig plugin (zone "+zones+")") || !strings.Contains(err.Error(), "Testfile:1 - Error during parsing")) {
			t.Errorf("tsig for %s: %v", zones, err)
		}
		if !bad && err != nil {
			t.Errorf("tsig for %s: %v", zones, err)
		}
	}
}
