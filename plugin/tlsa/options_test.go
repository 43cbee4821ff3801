package tlsa

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha512"
	"crypto/x509"
	"encoding/hex"
	golog "log"
	"reflect"
	"strings"
	"testing"

	"github.com/coredns/caddy"
	"github.com/miekg/dns"
)

// The last release's `holddown` reads like `hold-down`, in a cert block and
// at the block's level, with a deprecation warning each.
func TestHoldDownSpelling(t *testing.T) {
	in := func(opt string) string {
		return "tlsa example.test {\ncert www f.pem {\nservice 443/tcp www\nttl 60\n" + opt + " 300s\n}\n" + opt + " 200s\n}"
	}
	var logs bytes.Buffer
	saved := golog.Writer()
	golog.SetOutput(&logs)
	t.Cleanup(func() { golog.SetOutput(saved) })
	cur, err := parse(caddy.NewTestController("dns", in("hold-down")))
	if err != nil {
		t.Fatal(err)
	}
	if logs.Len() != 0 {
		t.Fatalf("hold-down logged %q", logs.String())
	}
	old, err := parse(caddy.NewTestController("dns", in("holddown")))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(cur, old) || cur[0].certs[0].cfg.HoldDown.Seconds() != 300 {
		t.Fatalf("holddown %+v, hold-down %+v", old[0].certs[0].cfg, cur[0].certs[0].cfg)
	}
	if n := strings.Count(logs.String(), `option "holddown" is deprecated`); n != 2 {
		t.Fatalf("%d warnings in %q, want 2", n, logs.String())
	}
}

// Matches recognises exactly a key's DANE-EE SPKI records (3 1 1, 3 1 2),
// and KeyRecord names the key by its 3 1 1 data.
func TestMatchesKey(t *testing.T) {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	m, err := KeyMaterial(k.Public())
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(k.Public())
	s512 := sha512.Sum512(der)
	rr := func(s string) *dns.TLSA {
		r, err := dns.NewRR("x. 60 IN TLSA " + s)
		if err != nil {
			t.Fatal(err)
		}
		return r.(*dns.TLSA)
	}
	if m.KeyRecord() != spki311(k) {
		t.Fatalf("KeyRecord %s, want %s", m.KeyRecord(), spki311(k))
	}
	for s, want := range map[string]bool{
		spki311(k): true,
		"3 1 1 " + strings.ToUpper(strings.TrimPrefix(spki311(k), "3 1 1 ")): true,
		"3 1 2 " + hex.EncodeToString(s512[:]):                               true,
		"2 1 1 " + strings.TrimPrefix(spki311(k), "3 1 1 "):                  false,
		"3 0 1 " + strings.TrimPrefix(spki311(k), "3 1 1 "):                  false,
		"3 1 2 " + strings.TrimPrefix(spki311(k), "3 1 1 "):                  false,
		spki311(other): false,
	} {
		if got := Matches(m, rr(s)); got != want {
			t.Errorf("Matches(%s) = %v, want %v", s, got, want)
		}
	}
}
