package dane

import (
	"crypto/ecdsa"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/dnspki/dnspki/test/harness"
)

// certbotLineage writes versions of a certbot lineage (archive/NAME/KINDn.pem)
// and points live/NAME/KIND.pem at them the way certbot 2.x does: a
// previous_KIND.pem link for recovery, then for each of cert, privkey, chain,
// fullchain an unlink and a new symlink, then the previous links go.
type certbotLineage struct {
	t             *testing.T
	ca            *harness.TestCA
	live, archive string
}

func (l *certbotLineage) write(v int, key *ecdsa.PrivateKey) {
	chain := l.ca.Issue(l.t, key, 0, "www.example.test", "mail.example.test")
	files := map[string][]byte{
		"cert": harness.CertsPEM(chain[0]), "chain": harness.CertsPEM(chain[1]),
		"fullchain": harness.CertsPEM(chain...), "privkey": harness.KeyPEM(l.t, key),
	}
	for kind, data := range files {
		harness.WriteFile(l.t, filepath.Join(l.archive, fmt.Sprintf("%s%d.pem", kind, v)), data)
	}
}

var allFour = []string{"cert", "privkey", "chain", "fullchain"}

// swap points the links at version v, calling step after every file system
// operation.
func (l *certbotLineage) swap(v int, step func(what string)) {
	target := func(kind string, v int) string {
		return filepath.Join("..", "..", "archive", "www", fmt.Sprintf("%s%d.pem", kind, v))
	}
	must := func(err error) {
		if err != nil {
			l.t.Fatal(err)
		}
	}
	for _, kind := range allFour {
		cur, err := os.Readlink(filepath.Join(l.live, kind+".pem"))
		must(err)
		must(os.Symlink(cur, filepath.Join(l.live, "previous_"+kind+".pem")))
		step("previous_" + kind + " link")
	}
	for _, kind := range allFour {
		link := filepath.Join(l.live, kind+".pem")
		must(os.Remove(link))
		step(kind + ".pem unlinked")
		must(os.Symlink(target(kind, v), link))
		step(kind + ".pem -> version " + fmt.Sprint(v))
	}
	for _, kind := range allFour {
		must(os.Remove(filepath.Join(l.live, "previous_"+kind+".pem")))
	}
	step("previous links removed")
}

func (l *certbotLineage) link(v int) {
	for _, kind := range allFour {
		os.Symlink(filepath.Join("..", "..", "archive", "www", fmt.Sprintf("%s%d.pem", kind, v)), filepath.Join(l.live, kind+".pem"))
	}
}

// A certbot lineage with danebot-style key rollover (the next key staged in
// staging/NAME/nextkey.pem): the next key is published before use; during
// certbot's symlink swap the set always holds the served key and the next
// one; tlsa-ready holds the deploy hook for the hold-down; the old key goes
// after the hold-down; a restart during a hold-down keeps the old key.
func TestCertbotRenewal(t *testing.T) {
	dir := t.TempDir()
	top := filepath.Join(dir, "letsencrypt")
	l := &certbotLineage{t: t, ca: harness.NewTestCA(t, "dane test"),
		live: filepath.Join(top, "live", "www"), archive: filepath.Join(top, "archive", "www")}
	os.MkdirAll(l.live, 0o755)
	staged := filepath.Join(top, "staging", "www", "nextkey.pem")
	ka, kb, kc := harness.NewKey(t), harness.NewKey(t), harness.NewKey(t)
	l.write(1, ka)
	l.link(1)
	e := start(t, dir, "letsencrypt/live/www", filepath.Join(l.live, "fullchain.pem"), filepath.Join(l.live, "privkey.pem"), "")
	A, B, C := harness.SPKI311(ka.Public()), harness.SPKI311(kb.Public()), harness.SPKI311(kc.Public())
	e.expect("initial", A)
	e.verify("initial")
	mon := e.monitor()

	// danebot newkey: a next key is staged; it is published at once, and it
	// is not ready until the hold-down has passed.
	// (stagedAt is before the key can have been published: "ready" is
	// wrong unless more than the hold-down has passed since.)
	stagedAt := time.Now()
	harness.WriteFile(t, staged, harness.KeyPEM(t, kb))
	e.waitFor("the staged key published", 10*time.Second, A, B)
	if code, out := e.ready(staged); code != 1 {
		if code != 0 || time.Since(stagedAt) < holdDown {
			t.Fatalf("a key staged just now is ready (exit %d):\n%s", code, out)
		}
		t.Logf("tlsa-ready ran %s after the key was staged: too late to see it not ready", time.Since(stagedAt))
	}

	// certbot renews with the staged key and swaps the links; at every step
	// dnspki publishes the served key and the next one.
	l.write(2, kb)
	var swapped time.Time // when fullchain.pem pointed at the new version
	l.swap(2, func(what string) {
		if what == "fullchain.pem -> version 2" {
			swapped = time.Now()
		}
		e.readNow(what)
		e.expect("certbot swap, after "+what, A, B)
	})
	e.waitRole("the new certificate current, the old one retiring", map[string]string{A: "retiring", B: "current"})
	// The deploy hook waits for tlsa-ready, then reloads the servers.
	e.switchWhenReady(mon, kb.Public(), filepath.Join(l.live, "fullchain.pem"))
	e.verify("after the renewal")
	os.Remove(staged) // danebot drops the staged key once it is in use
	e.waitFor("the old key removed after the hold-down", holdDown+10*time.Second, B)
	if d := time.Since(swapped); d < holdDown-300*time.Millisecond {
		t.Fatalf("the old key went %s after the swap; the hold-down is %s", d, holdDown)
	}

	// Next rollover, with dnspki restarted during the hold-down, before the
	// servers reload: the key they still serve stays published.
	harness.WriteFile(t, staged, harness.KeyPEM(t, kc))
	e.waitFor("the second staged key published", 10*time.Second, B, C)
	l.write(3, kc)
	var retired time.Time
	l.swap(3, func(what string) {
		if what == "fullchain.pem -> version 3" {
			retired = time.Now()
		}
	})
	e.waitRole("the second renewal read", map[string]string{B: "retiring", C: "current"})
	e.expect("after the second swap", B, C)
	e.srv.Stop()
	e.srv.Restart()
	harness.WaitDNS(t, e.srv.Addr, zone, 30*time.Second, e.srv.Proc)
	e.expect("after a restart during the hold-down", B, C)
	e.switchWhenReady(mon, kc.Public(), filepath.Join(l.live, "fullchain.pem"))
	e.verify("after the second renewal")
	os.Remove(staged)
	e.waitFor("the second old key removed after the hold-down", holdDown+15*time.Second, C)
	if d := time.Since(retired); d < holdDown-300*time.Millisecond {
		t.Fatalf("the old key went %s after it retired (a restart in between); the hold-down is %s", d, holdDown)
	}
	mon.finish()
}

// acme.sh renews in place: it copies NAME.key.next over NAME.key (cat >),
// empties NAME.key.next, makes a new next key, then writes the certificate
// files; here the certificate is even written in two halves. At every step
// the set holds the served key and the key about to be used.
func TestInPlaceRenewal(t *testing.T) {
	dir := t.TempDir()
	ca := harness.NewTestCA(t, "dane test")
	folder := filepath.Join(dir, "acme", "www.example.test_ecc")
	p := func(n string) string { return filepath.Join(folder, n) }
	ka, kb, kc := harness.NewKey(t), harness.NewKey(t), harness.NewKey(t)
	inPlace := func(name string, data []byte) {
		if err := os.WriteFile(p(name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	os.MkdirAll(folder, 0o755)
	chain := ca.Issue(t, ka, 0, "www.example.test", "mail.example.test")
	inPlace("www.example.test.key", harness.KeyPEM(t, ka))
	inPlace("www.example.test.cer", harness.CertsPEM(chain[0]))
	inPlace("ca.cer", harness.CertsPEM(chain[1]))
	inPlace("fullchain.cer", harness.CertsPEM(chain...))
	inPlace("www.example.test.key.next", harness.KeyPEM(t, kb))
	e := start(t, dir, "acme/www.example.test_ecc", p("fullchain.cer"), p("www.example.test.key"), "")
	A, B, C := harness.SPKI311(ka.Public()), harness.SPKI311(kb.Public()), harness.SPKI311(kc.Public())
	e.expect("initial", A, B)
	e.verify("initial")
	mon := e.monitor()

	step := func(what string, want ...string) {
		e.readNow(what)
		e.expect(what, want...)
	}
	next, _ := os.ReadFile(p("www.example.test.key.next"))
	inPlace("www.example.test.key", next)
	step("the next key copied over the key", A, B)
	inPlace("www.example.test.key.next", []byte("\n"))
	step("the next key file emptied", A, B)
	inPlace("www.example.test.key.next", harness.KeyPEM(t, kc))
	step("a new next key", A, B, C)
	chain = ca.Issue(t, kb, 0, "www.example.test", "mail.example.test")
	inPlace("www.example.test.cer", harness.CertsPEM(chain[0]))
	inPlace("ca.cer", harness.CertsPEM(chain[1]))
	full := harness.CertsPEM(chain...)
	inPlace("fullchain.cer", full[:len(full)*2/3])
	step("half of the new full chain written", A, B, C)
	inPlace("fullchain.cer", full)
	step("the new full chain written", A, B, C)
	e.waitRole("the new certificate current", map[string]string{A: "retiring", B: "current", C: "next"})
	e.switchWhenReady(mon, kb.Public(), p("fullchain.cer"))
	e.verify("after the renewal")
	e.waitFor("the old key removed after the hold-down", holdDown+10*time.Second, B, C)
	mon.finish()
}
