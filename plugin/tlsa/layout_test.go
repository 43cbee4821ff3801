package tlsa

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dnspki/dnspki/test/harness"
)

func touch(t *testing.T, p string) {
	t.Helper()
	harness.WriteFile(t, p, []byte("x"))
}

func TestDetectLayouts(t *testing.T) {
	top := t.TempDir()
	// certbot: live/NAME/*.pem are symlinks into archive/NAME/.
	archive := filepath.Join(top, "letsencrypt", "archive", "www")
	live := filepath.Join(top, "letsencrypt", "live", "www")
	os.MkdirAll(live, 0o755)
	for _, n := range []string{"cert", "chain", "fullchain", "privkey"} {
		touch(t, filepath.Join(archive, n+"1.pem"))
		os.Symlink(filepath.Join("..", "..", "archive", "www", n+"1.pem"), filepath.Join(live, n+".pem"))
	}
	// dehydrated: certs/NAME/ with timestamped files and the rollover key.
	dh := filepath.Join(top, "dehydrated", "certs", "mail")
	touch(t, filepath.Join(dh, "cert-1700000000.pem"))
	touch(t, filepath.Join(dh, "fullchain.pem"))
	touch(t, filepath.Join(dh, "privkey.pem"))
	// acme.sh: NAME_ecc/ with NAME.cer, NAME.key, fullchain.cer.
	as := filepath.Join(top, ".acme.sh", "example.test_ecc")
	touch(t, filepath.Join(as, "example.test.cer"))
	touch(t, filepath.Join(as, "example.test.key"))
	touch(t, filepath.Join(as, "fullchain.cer"))
	// any folder
	plain := filepath.Join(top, "plain")
	touch(t, filepath.Join(plain, "fullchain.pem"))

	cases := []struct {
		path, layout, cert, key string
		next                    []string
	}{
		{live, LayoutCertbot, "live/www/fullchain.pem", "live/www/privkey.pem",
			[]string{"live/www/privkey.next.pem", "letsencrypt/staging/www/nextkey.pem", "letsencrypt/staging/www/ready.pem"}},
		{dh, LayoutDehydrated, "certs/mail/fullchain.pem", "certs/mail/privkey.pem", []string{"certs/mail/privkey.roll.pem", "certs/mail/privkey.next.pem"}},
		{as, LayoutAcmeSh, "example.test_ecc/fullchain.cer", "example.test_ecc/example.test.key", []string{"example.test_ecc/example.test.key.next"}},
		{plain, LayoutFolder, "plain/fullchain.pem", "plain/privkey.pem", []string{"plain/privkey.next.pem"}},
		// A file: the key and next key beside it, as its folder's layout names them.
		{filepath.Join(live, "fullchain.pem"), LayoutCertbot, "live/www/fullchain.pem", "live/www/privkey.pem", nil},
		{filepath.Join(plain, "fullchain.pem"), LayoutFolder, "plain/fullchain.pem", "plain/privkey.pem", []string{"plain/privkey.next.pem"}},
	}
	for _, c := range cases {
		in := resolveInputs(c.path, "", "", nil, false)
		if in.layout != c.layout || !strings.HasSuffix(in.cert, c.cert) || !strings.HasSuffix(in.key, c.key) {
			t.Errorf("%s: got %+v, want %s %s %s", c.path, in, c.layout, c.cert, c.key)
		}
		if c.next != nil {
			if len(in.next) != len(c.next) {
				t.Errorf("%s: next %v, want %v", c.path, in.next, c.next)
				continue
			}
			for i := range c.next {
				if !strings.HasSuffix(in.next[i], c.next[i]) {
					t.Errorf("%s: next %v, want %v", c.path, in.next, c.next)
				}
			}
		}
	}
	// Explicit key and next replace the detected ones; none turns them off.
	in := resolveInputs(plain, "", "none", []string{}, true)
	if in.key != "" || len(in.next) != 0 {
		t.Errorf("none: %+v", in)
	}
	in = resolveInputs(plain, LayoutDehydrated, "/k.pem", []string{"/n.pem"}, true)
	if in.layout != LayoutDehydrated || in.key != "/k.pem" || len(in.next) != 1 || in.next[0] != "/n.pem" {
		t.Errorf("explicit: %+v", in)
	}
}

// A certbot renewal swaps the live/ symlinks to the next archive version;
// the manager follows them.
func TestCertbotSymlinkSwap(t *testing.T) {
	f := newFixture(t)
	top := f.dir
	archive := filepath.Join(top, "archive", "www")
	live := filepath.Join(top, "live", "www")
	os.MkdirAll(live, 0o755)
	ka, kb := harness.NewKey(t), harness.NewKey(t)
	write := func(v int, key any) {
		chain := f.ca.Issue(t, ka, 0, "www.example.test")
		if key == kb {
			chain = f.ca.Issue(t, kb, 0, "www.example.test")
		}
		harness.WriteFile(t, filepath.Join(archive, "cert"+itoa(v)+".pem"), harness.CertsPEM(chain[0]))
		harness.WriteFile(t, filepath.Join(archive, "chain"+itoa(v)+".pem"), harness.CertsPEM(chain[1]))
		harness.WriteFile(t, filepath.Join(archive, "fullchain"+itoa(v)+".pem"), harness.CertsPEM(chain...))
		if key == kb {
			harness.WriteFile(t, filepath.Join(archive, "privkey"+itoa(v)+".pem"), harness.KeyPEM(t, kb))
		} else {
			harness.WriteFile(t, filepath.Join(archive, "privkey"+itoa(v)+".pem"), harness.KeyPEM(t, ka))
		}
	}
	link := func(v int, kind string) {
		tmp := filepath.Join(live, kind+".pem.new")
		os.Symlink(filepath.Join("..", "..", "archive", "www", kind+itoa(v)+".pem"), tmp)
		os.Rename(tmp, filepath.Join(live, kind+".pem"))
	}
	write(1, ka)
	for _, k := range []string{"cert", "privkey", "chain", "fullchain"} {
		link(1, k)
	}
	harness.WriteFile(t, filepath.Join(live, "privkey.next.pem"), harness.KeyPEM(t, kb))
	c := f.cfg()
	c.Path = live
	f.open(c)
	f.expect("default", spki311(ka), spki311(kb))
	f.advance(10 * time.Minute)
	write(2, kb)
	for _, k := range []string{"cert", "privkey", "chain", "fullchain"} {
		link(2, k)
		f.refresh()
		// At every step both keys are published.
		f.expect("default", spki311(ka), spki311(kb))
	}
	for _, r := range f.m.Status()[0].Records {
		if r.Record == spki311(kb) && r.Role != RoleCurrent || r.Record == spki311(ka) && r.Role != RoleRetiring {
			t.Fatalf("after the swap: %+v", r)
		}
	}
	f.advance(2 * time.Minute)
	f.refresh()
	f.expect("default", spki311(kb))
}

func itoa(i int) string { return string(rune('0' + i)) }
