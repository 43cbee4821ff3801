package certs

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

// FuzzParseIssued reads arbitrary certificate and key files (fullchain.pem,
// privkey.pem): what is accepted is a chain whose leaf belongs to the key,
// and written out again (as the plugin writes them) it reads back as the
// same chain and key.
func FuzzParseIssued(f *testing.F) {
	now := time.Now()
	is := issue(f, newKey(f), now.Add(-time.Hour), now.Add(time.Hour), "www.example.test")
	f.Add(certsPEM(is.chain), keyPEM(is.key))
	f.Add(certsPEM(is.chain[:1]), keyPEM(is.key))
	f.Add(certsPEM(is.chain), keyPEM(newKey(f)))
	f.Add(append([]byte("junk\n"), certsPEM(is.chain)...), append(keyPEM(is.key), "trailing"...))
	f.Fuzz(func(t *testing.T, full, key []byte) {
		got, err := parseIssued(full, key, "fullchain.pem", "privkey.pem")
		if err != nil {
			return
		}
		if len(got.chain) == 0 || !samePublic(got.key.Public(), got.leaf().PublicKey) {
			t.Fatal("accepted a chain that is empty or not of the key")
		}
		again, err := parseIssued(certsPEM(got.chain), keyPEM(got.key), "fullchain.pem", "privkey.pem")
		if err != nil {
			t.Fatalf("written out, the files do not read back: %v", err)
		}
		if len(again.chain) != len(got.chain) || !samePublic(again.key.Public(), got.key.Public()) {
			t.Fatal("written out, the files read back as another chain or key")
		}
		for i := range got.chain {
			if !bytes.Equal(again.chain[i].Raw, got.chain[i].Raw) {
				t.Fatalf("certificate %d reads back as another", i)
			}
		}
	})
}

// FuzzDecodeState reads arbitrary state files (a certificate's and an
// account's): what is accepted is of this build's version and is saved and
// read back as the same state.
func FuzzDecodeState(f *testing.F) {
	f.Add([]byte(`{"v":1,"serial":"0a","renew_at":"2026-01-01T00:00:00Z","seen":{"a":"2026-01-01T00:00:00Z"},"failures":2}`))
	f.Add([]byte(`{"v":1,"directory":"https://ca.example/dir","uri":"https://ca.example/acct/1","issuers":["ca.example"]}`))
	f.Add([]byte(`{"v":99}`))
	f.Add([]byte(`{"v":1,"next_since":"not a time"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, mk := range []func() (any, *int){
			func() (any, *int) { st := &certState{Version: stateVersion}; return st, &st.Version },
			func() (any, *int) { st := &accountState{Version: stateVersion}; return st, &st.Version },
		} {
			st, v := mk()
			if err := decodeState(b, "state.json", st, v); err != nil {
				continue
			}
			if *v != stateVersion {
				t.Fatalf("accepted version %d", *v)
			}
			out, err := json.MarshalIndent(st, "", "  ")
			if err != nil {
				t.Fatalf("accepted state does not save: %v", err)
			}
			st2, v2 := mk()
			if err := decodeState(out, "state.json", st2, v2); err != nil {
				t.Fatalf("saved state does not read back: %v\n%s", err, out)
			}
			out2, _ := json.MarshalIndent(st2, "", "  ")
			if !bytes.Equal(out, out2) || !reflect.DeepEqual(normalizeTimes(st), normalizeTimes(st2)) {
				t.Fatalf("state changes when saved and read back:\n%s\n%s", out, out2)
			}
		}
	})
}

// normalizeTimes returns the JSON form of st, the form in which two states
// are compared (time.Time values that are equal instants may differ in
// their location).
func normalizeTimes(st any) string {
	b, _ := json.Marshal(st)
	return string(b)
}
