package persist

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/dnspki/dnspki/plugin/pkg/persist"
	"github.com/dnspki/dnspki/test/harness"
)

// TestPebble: Pebble v2.10.3, with dnspki as its -dnsserver, issues
// certificates through lego's dns-persist-01 client against the records
// dnspki publishes (from the Corefile, and from a host's own UPDATE), with no
// DNS change at issuance; and refuses a record for another account, an
// expired one, and one without policy=wildcard for a wildcard name.
func TestPebble(t *testing.T) {
	// Pebble must know dnspki's address, and dnspki the account URI that
	// only Pebble gives: port first, then Pebble and the account, then dnspki.
	port := harness.FreePort(t)
	pebble := harness.StartPebble(t, harness.PebbleOpts{DNSServer: harness.Addr(port)})
	newClient := func(t *testing.T) *harness.ACMEClient {
		return harness.NewACMEClient(t, harness.ACMEClientOpts{Directory: pebble.Directory, Roots: pebble.RootPool(t), DNS: harness.Addr(port)})
	}
	acct := newClient(t)
	s := example(t, port, acct.AccountURI())
	addr := s.Addr

	// obtain orders names with account c and checks that dnspki saw no
	// UPDATE and no change meanwhile, and that Pebble asked it (over TCP).
	obtain := func(t *testing.T, c *harness.ACMEClient, o harness.DNSPersistOpts, names ...string) ([]byte, error) {
		t.Helper()
		c.UseDNSPersist(t, o)
		s0 := harness.MustSerial(t, addr, zone)
		mark := s.LogMark()
		res, err := c.Obtain(t, names...)
		if got := harness.MustSerial(t, addr, zone); got != s0 {
			t.Errorf("the serial moved from %d to %d during issuance", s0, got)
		}
		if l := s.LogSince(mark, `plugin/acmechallenge: .*UPDATE`); len(l) > 0 {
			t.Errorf("UPDATEs reached dnspki during issuance: %v", l)
		}
		if l := s.LogSince(mark, `"TXT IN _validation-persist\.[^ ]+ tcp `); len(l) == 0 {
			t.Errorf("Pebble did not look up a validation record")
		}
		if res == nil {
			return nil, err
		}
		return res.Certificate, err
	}

	t.Run("name-and-wildcard", func(t *testing.T) {
		chain, err := obtain(t, acct, harness.DNSPersistOpts{}, "intra.example.test", "*.intra.example.test")
		if err != nil {
			t.Fatal(err)
		}
		pebble.VerifyCertificate(t, chain, "intra.example.test", "anything.intra.example.test")
	})

	t.Run("name-below", func(t *testing.T) {
		// Pebble reads _validation-persist.<exact name> only: the
		// authorization's `also` puts the record there too. A CA that
		// honours policy=wildcard at the parent uses the parent's record,
		// which is served as well.
		for _, name := range []string{intraVP, hostVP} {
			vals := harness.TXTValues(t, addr, name)
			if len(vals) != 1 {
				t.Fatalf("%s: %v", name, vals)
			}
			r, err := persist.Parse(vals[0])
			if err != nil || r.Issuer != issuer || r.AccountURI != acct.AccountURI() || r.Policy != "wildcard" {
				t.Fatalf("%s: %q %v", name, vals[0], err)
			}
		}
		chain, err := obtain(t, acct, harness.DNSPersistOpts{}, "host.intra.example.test")
		if err != nil {
			t.Fatal(err)
		}
		pebble.VerifyCertificate(t, chain, "host.intra.example.test")
	})

	t.Run("published-by-the-host", func(t *testing.T) {
		// mail.example.test published its record once, with its own key.
		mustNsupdate(t, addr, fmt.Sprintf("update add %s 3600 TXT %s", mailVP, quoteTXT(issuer+"; accounturi="+acct.AccountURI())))
		chain, err := obtain(t, acct, harness.DNSPersistOpts{}, "mail.example.test")
		if err != nil {
			t.Fatal(err)
		}
		pebble.VerifyCertificate(t, chain, "mail.example.test")
	})

	// Pebble's verdicts on records lego would not use (Force: lego asks
	// Pebble to validate anyway).
	refused := func(t *testing.T, c *harness.ACMEClient, o harness.DNSPersistOpts, want string, names ...string) {
		t.Helper()
		o.Force = true
		_, err := obtain(t, c, o, names...)
		if err == nil {
			t.Fatalf("Pebble issued for %v", names)
		}
		if !strings.Contains(err.Error(), "urn:ietf:params:acme:error:unauthorized") || !strings.Contains(err.Error(), want) {
			t.Fatalf("not refused by Pebble for %q: %v", want, err)
		}
	}

	t.Run("no-wildcard-policy", func(t *testing.T) {
		// The host's record has no policy=wildcard.
		refused(t, acct, harness.DNSPersistOpts{}, "policy mismatch", "*.mail.example.test")
	})

	t.Run("another-account", func(t *testing.T) {
		other := newClient(t)
		refused(t, other, harness.DNSPersistOpts{}, "accounturi mismatch", "intra.example.test")
	})

	t.Run("expired", func(t *testing.T) {
		// dnspki refuses a persistUntil already past, so the record is
		// published while valid, with a persistUntil a few seconds ahead,
		// and asked for once that has passed (a bounded wait).
		until := time.Now().Add(8 * time.Second).Truncate(time.Second)
		mustNsupdate(t, addr,
			"update delete "+mailVP+" TXT",
			fmt.Sprintf("update add %s 3600 TXT %s", mailVP, quoteTXT(fmt.Sprintf("%s; accounturi=%s; persistUntil=%d", issuer, acct.AccountURI(), until.Unix()))))
		time.Sleep(time.Until(until.Add(1500 * time.Millisecond)))
		refused(t, acct, harness.DNSPersistOpts{PersistUntil: until}, "is after persistUntil", "mail.example.test")
	})
}
