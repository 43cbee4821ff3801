package persist

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/dnspki/dnspki/plugin/pkg/persist"
	"github.com/dnspki/dnspki/test/harness"
)

// TestNsupdate: a host publishes its own validation record with nsupdate
// (acmechallenge `grant mail.example.test. persist self`): a valid record is
// accepted, served, kept across a restart and deleted on request; a
// record the CA would refuse (each rule of the persist parser), a record at
// another name, a challenge, an unsigned UPDATE are all refused with the
// serial unchanged.
func TestNsupdate(t *testing.T) {
	const acct = "https://127.0.0.1:14000/my-account/1"
	s := example(t, 0, acct)
	addr := s.Addr
	good := issuer + "; accounturi=" + acct

	s0 := harness.MustSerial(t, addr, zone)
	mustNsupdate(t, addr, fmt.Sprintf("update add %s 3600 TXT %s", mailVP, quoteTXT(good)))
	if got := harness.TXTValues(t, addr, mailVP); !slices.Equal(got, []string{good}) {
		t.Fatalf("served %v", got)
	}
	if got := harness.MustSerial(t, addr, zone); got != s0+1 {
		t.Fatalf("serial %d, want %d", got, s0+1)
	}
	// A value over 255 octets in two character-strings (another CA).
	long := (&persist.Record{Issuer: "ca.example", AccountURI: "https://ca.example/acct/" + strings.Repeat("7", 260), Policy: "wildcard"}).String()
	mustNsupdate(t, addr, fmt.Sprintf("update add %s 3600 TXT %s", mailVP, quoteTXT(long)))
	if got := harness.TXTValues(t, addr, mailVP); !slices.Equal(got, []string{long, good}) {
		t.Fatalf("served %v", got)
	}
	before := harness.MustSerial(t, addr, zone)
	past := time.Now().Add(-time.Hour).Unix()
	refused := map[string]string{
		"no accounturi":          "update add " + mailVP + " 3600 TXT " + quoteTXT(issuer),
		"empty accounturi":       "update add " + mailVP + " 3600 TXT " + quoteTXT(issuer+"; accounturi="),
		"uppercase issuer":       "update add " + mailVP + " 3600 TXT " + quoteTXT("Pebble.letsencrypt.org; accounturi="+acct),
		"issuer trailing dot":    "update add " + mailVP + " 3600 TXT " + quoteTXT(issuer+".; accounturi="+acct),
		"http accounturi":        "update add " + mailVP + " 3600 TXT " + quoteTXT(issuer+"; accounturi=http://127.0.0.1:14000/my-account/1"),
		"relative accounturi":    "update add " + mailVP + " 3600 TXT " + quoteTXT(issuer+"; accounturi=my-account/1"),
		"duplicate tag":          "update add " + mailVP + " 3600 TXT " + quoteTXT(good+"; AccountURI="+acct),
		"trailing semicolon":     "update add " + mailVP + " 3600 TXT " + quoteTXT(good+";"),
		"not tag=value":          "update add " + mailVP + " 3600 TXT " + quoteTXT(good+"; policy"),
		"unknown policy":         "update add " + mailVP + " 3600 TXT " + quoteTXT(good+"; policy=subdomains"),
		"persistUntil not a int": "update add " + mailVP + " 3600 TXT " + quoteTXT(good+"; persistUntil=tomorrow"),
		"persistUntil past":      "update add " + mailVP + " 3600 TXT " + quoteTXT(fmt.Sprintf("%s; persistUntil=%d", good, past)),
		"space in a value":       "update add " + mailVP + " 3600 TXT " + quoteTXT(good+"; note=a b"),
		"a good and a bad one":   "update add " + mailVP + " 3600 TXT " + quoteTXT("ca2.example; accounturi="+acct) + "\nupdate add " + mailVP + " 3600 TXT " + quoteTXT("ca2.example"),
		"another host's name":    "update add _validation-persist.www.example.test. 3600 TXT " + quoteTXT(good),
		"a name below the host":  "update add _validation-persist.x.mail.example.test. 3600 TXT " + quoteTXT(good),
		"the host itself":        "update add mail.example.test. 3600 TXT " + quoteTXT(good),
		"a challenge":            "update add _acme-challenge.mail.example.test. 60 TXT LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0",
		"another type":           "check-names off\nupdate add " + mailVP + " 3600 A 192.0.2.1",
		"delete the zone's data": "update delete mail.example.test. A",
	}
	for name, cmd := range refused {
		out, err := nsupdate(t, addr, mailKey, cmd)
		if err == nil || !strings.Contains(out, "REFUSED") {
			t.Errorf("%s: not refused: %v\n%s", name, err, out)
		}
	}
	// Unsigned (nsupdate always signs with -y): miekg/dns.
	um := new(dns.Msg)
	um.SetUpdate(zone)
	um.Insert([]dns.RR{&dns.TXT{Hdr: dns.RR_Header{Name: mailVP, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 60}, Txt: []string{"ca3.example; accounturi=" + acct}}})
	if r, err := harness.Exchange(addr, um, true); err != nil || r.Rcode != dns.RcodeRefused {
		t.Fatalf("unsigned: %v %v", r, err)
	}
	if got := harness.MustSerial(t, addr, zone); got != before {
		t.Fatalf("refused UPDATEs moved the serial from %d to %d", before, got)
	}
	if got := harness.TXTValues(t, addr, mailVP); !slices.Equal(got, []string{long, good}) {
		t.Fatalf("refused UPDATEs changed %s: %v", mailVP, got)
	}
	if got := harness.TXTValues(t, addr, "_validation-persist.www.example.test."); got != nil {
		t.Fatalf("refused UPDATE published %v", got)
	}

	// Durable and not expired like a challenge: a restart serves them, same serial.
	s.Restart()
	harness.WaitDNS(t, addr, zone, 30*time.Second, s.Proc)
	if got := harness.TXTValues(t, addr, mailVP); !slices.Equal(got, []string{long, good}) {
		t.Fatalf("after restart: %v", got)
	}
	if got := harness.MustSerial(t, addr, zone); got != before {
		t.Fatalf("restart moved the serial from %d to %d", before, got)
	}
	// Deleted on request: one value, then the RRset.
	mustNsupdate(t, addr, fmt.Sprintf("update delete %s TXT %s", mailVP, quoteTXT(long)))
	if got := harness.TXTValues(t, addr, mailVP); !slices.Equal(got, []string{good}) {
		t.Fatalf("after deleting one: %v", got)
	}
	mustNsupdate(t, addr, "update delete "+mailVP+" TXT")
	if got := harness.TXTValues(t, addr, mailVP); got != nil {
		t.Fatalf("after deleting the RRset: %v", got)
	}
	// The Corefile's records are not the key's to delete.
	out, err := nsupdate(t, addr, mailKey, "update delete "+intraVP+" TXT")
	if err == nil || !strings.Contains(out, "REFUSED") {
		t.Fatalf("deleting the configured record: %v\n%s", err, out)
	}
	if got := harness.TXTValues(t, addr, intraVP); len(got) != 1 {
		t.Fatalf("configured record: %v", got)
	}
}
