package cookie

import (
	"encoding/hex"
	"net/netip"
	"testing"
	"time"
)

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustSecret(t *testing.T, s string) *Secret {
	t.Helper()
	var k Secret
	if copy(k[:], mustHex(t, s)) != len(k) {
		t.Fatalf("secret %s is not 16 octets", s)
	}
	return &k
}

func client(t *testing.T, s string) *[clientLen]byte {
	t.Helper()
	var c [clientLen]byte
	copy(c[:], mustHex(t, s))
	return &c
}

// TestRFC9018Vectors: the server cookies of RFC 9018 Appendix A, made and
// recognised: A.1 (a new cookie), A.2 (renewed, same client), A.3 (another
// client; the cookie it sent has reserved octets set, which the hash
// covers), A.4 (IPv6, after the secret rolled: the old cookie verifies with
// the old secret only).
func TestRFC9018Vectors(t *testing.T) {
	const s1 = "e5e973e5a6b2a43f48e7dc849e37bfcf"
	for _, v := range []struct {
		name, secret, client, ip string
		at                       uint32
		want                     string
	}{
		{"A.1", s1, "2464c4abcf10c957", "198.51.100.100", 1559731985, "010000005cf79f111f8130c3eee29480"},
		{"A.2", s1, "2464c4abcf10c957", "198.51.100.100", 1559734385, "010000005cf7a871d4a564a1442aca77"},
		{"A.3", s1, "fc93fc62807ddb86", "203.0.113.203", 1559734700, "010000005cf7a9acf73a7810aca2381e"},
		{"A.4", "445536bcd2513298075a5d379663c962", "22681ab97d52c298", "2001:db8:220:1:59de:d0f4:8769:82b8", 1559741961, "010000005cf7c609a6bb79d16625507a"},
	} {
		s, c, ip := mustSecret(t, v.secret), client(t, v.client), netip.MustParseAddr(v.ip)
		got := s.serverCookie(c, ip, v.at)
		if hex.EncodeToString(got[:]) != v.want {
			t.Errorf("%s: made %x, want %s", v.name, got, v.want)
		}
		if !s.matches(c, got[:], ip) {
			t.Errorf("%s: its own cookie does not match", v.name)
		}
	}
	for _, v := range []struct {
		name, secret, cookie, ip string
		want                     bool
	}{
		{"A.3 with reserved octets", s1, "fc93fc62807ddb8601abcdef5cf78f71a314227b6679ebf5", "203.0.113.203", true},
		{"A.3 from another address", s1, "fc93fc62807ddb8601abcdef5cf78f71a314227b6679ebf5", "203.0.113.204", false},
		{"A.4 old cookie, old secret", "dd3bdf9344b678b185a6f5cb60fca715", "22681ab97d52c298010000005cf7c57926556bd0934c72f8", "2001:db8:220:1:59de:d0f4:8769:82b8", true},
		{"A.4 old cookie, new secret", "445536bcd2513298075a5d379663c962", "22681ab97d52c298010000005cf7c57926556bd0934c72f8", "2001:db8:220:1:59de:d0f4:8769:82b8", false},
		{"A.2 as an IPv4-mapped address", s1, "2464c4abcf10c957010000005cf7a871d4a564a1442aca77", "::ffff:198.51.100.100", true},
		{"A.2 with another version", s1, "2464c4abcf10c957020000005cf7a871d4a564a1442aca77", "198.51.100.100", false},
		{"A.2 with a flipped hash bit", s1, "2464c4abcf10c957010000005cf7a871d4a564a1442aca76", "198.51.100.100", false},
	} {
		b := mustHex(t, v.cookie)
		o, err := Parse(b)
		if err != nil {
			t.Fatalf("%s: %v", v.name, err)
		}
		if got := mustSecret(t, v.secret).matches(&o.Client, o.Server, netip.MustParseAddr(v.ip)); got != v.want {
			t.Errorf("%s: matches %v, want %v", v.name, got, v.want)
		}
	}
}

// TestAge: the window of RFC 9018 §4.3 in serial number arithmetic.
func TestAge(t *testing.T) {
	const now = 1559731985
	for _, v := range []struct {
		name         string
		ts, at       uint32
		usable, worn bool
	}{
		{"this second", now, now, true, false},
		{"29 min 59 s", now - 1799, now, true, false},
		{"half an hour", now - 1800, now, true, true},
		{"an hour", now - 3600, now, true, true},
		{"an hour and a second", now - 3601, now, false, true},
		{"5 min ahead", now + 300, now, true, false},
		{"5 min 1 s ahead", now + 301, now, false, false},
		{"40 min across the 2106 wrap", 0xffffffff - 1199, 1200, true, true},
		{"2 min ahead across the wrap", 60, 0xffffffff - 59, true, false},
	} {
		if got := usable(v.ts, v.at); got != v.usable {
			t.Errorf("%s: usable %v, want %v", v.name, got, v.usable)
		}
		if got := worn(v.ts, v.at); got != v.worn {
			t.Errorf("%s: worn %v, want %v", v.name, got, v.worn)
		}
	}
}

// TestServerCookieExported: the exported form makes the A.1 vector.
func TestServerCookieExported(t *testing.T) {
	var client [clientLen]byte
	copy(client[:], mustHex(t, "2464c4abcf10c957"))
	got := ServerCookie(*mustSecret(t, "e5e973e5a6b2a43f48e7dc849e37bfcf"), client, netip.MustParseAddr("198.51.100.100"), time.Unix(1559731985, 0))
	if hex.EncodeToString(got[:]) != "010000005cf79f111f8130c3eee29480" {
		t.Fatalf("%x", got)
	}
}
