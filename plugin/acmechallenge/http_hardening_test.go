package acmechallenge

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// postFrom is post with the client's address.
func postFrom(t *testing.T, h http.HandlerFunc, remote, body string, hdr map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/x", strings.NewReader(body))
	req.RemoteAddr = remote
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h(w, req)
	return w
}

// Every spelling of a name is one name for the grant check, the per-name
// limit, cleanup and expiry; spellings that are another name on the wire
// (escapes) or no host name at all are refused before anything else.
func TestHTTPNamesCanonical(t *testing.T) {
	f := newFixture(t, "grant lego subdomain sub.example.test\nmax_values 2")
	api := f.a.api
	auth := basic("lego", "lego-pass")
	const owner = "_acme-challenge.host.sub.example.test."
	present := func(fqdn, value string) *httptest.ResponseRecorder {
		return post(t, api.lego(true), `{"fqdn":"`+fqdn+`","value":"`+value+`"}`, auth)
	}
	if w := present("_acme-challenge.host.sub.example.test", v1); w.Code != 200 || !strings.Contains(w.Body.String(), `"`+owner+`"`) {
		t.Fatalf("present: %d %s", w.Code, w.Body)
	}
	if w := present("_ACME-challenge.HOST.Sub.example.TEST.", v2); w.Code != 200 || !strings.Contains(w.Body.String(), `"`+owner+`"`) {
		t.Fatalf("present in upper case: %d %s", w.Code, w.Body)
	}
	if got := f.txt(owner); len(got) != 2 {
		t.Fatalf("served at %s: %v", owner, got)
	}
	// The per-name limit counts both spellings.
	if w := present("_acme-challenge.Host.sub.example.test", v3); w.Code != http.StatusTooManyRequests {
		t.Fatalf("third value in another spelling: %d %s, want 429 (max_values 2)", w.Code, w.Body)
	}
	s0 := f.serial()
	for _, c := range []struct{ name, fqdn, want string }{
		// \104 is 'h': the same name on the wire as host.sub, a second
		// name in the model (and a way round max_values) if taken.
		{"decimal escape", `_acme-challenge.\\104ost.sub.example.test`, "backslash"},
		{"upper-case escape", `_acme-challenge.\\072OST.sub.example.test`, "backslash"},
		{"escaped dot", `_acme-challenge.a\\.host.sub.example.test`, "backslash"},
		{"trailing space", "_acme-challenge.host.sub.example.test ", "whitespace"},
		{"leading space", " _acme-challenge.host.sub.example.test", "whitespace"},
		{"inner space", "_acme-challenge.ho st.sub.example.test", "whitespace"},
		{"tab", `_acme-challenge.host.sub.example.test\t`, "whitespace"},
		{"newline", `_acme-challenge.ho\nst.sub.example.test`, "whitespace"},
		{"IDN", "_acme-challenge.bücher.sub.example.test", "A-label"},
		{"empty label", "_acme-challenge..sub.example.test", "empty label"},
		{"wildcard", "_acme-challenge.*.sub.example.test", "not allowed"},
		{"long label", "_acme-challenge." + strings.Repeat("a", 64) + ".sub.example.test", "longer than 63"},
	} {
		w := present(c.fqdn, v3)
		if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), c.want) {
			t.Errorf("%s: %d %s, want 400 %q", c.name, w.Code, strings.TrimSpace(w.Body.String()), c.want)
		}
	}
	if f.serial() != s0 {
		t.Fatal("refused names changed the zone")
	}
	// acme-dns: the subdomain in any case is the same name.
	hdr := map[string]string{"X-Api-User": "lego", "X-Api-Key": "lego-pass"}
	if w := post(t, api.acmeDNS, `{"subdomain":"HOST.SUB.EXAMPLE.TEST","txt":"`+v3+`"}`, hdr); w.Code != 200 {
		t.Fatalf("acme-dns in upper case: %d %s", w.Code, w.Body)
	}
	if got := f.txt(owner); len(got) != 2 || !slices.Contains(got, v3) || slices.Contains(got, v1) {
		t.Fatalf("acme-dns kept %v, want the two newest (v2, v3)", got)
	}
	if w := post(t, api.acmeDNS, `{"subdomain":"host.sub.example.test\\u0000","txt":"`+v3+`"}`, hdr); w.Code != 400 || !strings.Contains(w.Body.String(), "bad_subdomain") {
		t.Fatalf("acme-dns with a NUL: %d %s", w.Code, w.Body)
	}
	// Cleanup in another spelling removes the record.
	if w := post(t, api.lego(false), `{"fqdn":"_ACME-CHALLENGE.HOST.SUB.EXAMPLE.TEST","value":"`+v2+`"}`, auth); w.Code != 200 {
		t.Fatalf("cleanup: %d %s", w.Code, w.Body)
	}
	if got := f.txt(owner); !slices.Equal(got, []string{v3}) {
		t.Fatalf("after cleanup: %v", got)
	}
	// The grant check: a name grant matches any spelling.
	if w := present("_ACME-CHALLENGE.API.EXAMPLE.TEST", v1); w.Code != 200 {
		t.Fatalf("name grant in upper case: %d %s", w.Code, w.Body)
	}
	// Expiry knows every record, whatever its spelling was.
	f.z.expire(time.Now().Add(2 * time.Hour))
	if n := f.z.count(); n != 0 {
		t.Fatalf("%d records left after expiry", n)
	}
	if got := f.txt(owner); len(got) != 0 {
		t.Fatalf("served after expiry: %v", got)
	}
}

func TestCanonicalName(t *testing.T) {
	for in, want := range map[string]string{
		"_ACME-challenge.WWW.example.test":  "_acme-challenge.www.example.test.",
		"_acme-challenge.www.example.test.": "_acme-challenge.www.example.test.",
		"xn--bcher-kva.example.test":        "xn--bcher-kva.example.test.",
	} {
		if got, err := canonicalName(in); err != nil || got != want {
			t.Errorf("%q: %q %v, want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", ".", "..", "a..b", ".a", "a b", "a\\.b", "\\065", "ä.test", "a\x00b", "a/b", strings.Repeat("a.", 127) + "a"} {
		if got, err := canonicalName(in); err == nil {
			t.Errorf("%q: accepted as %q", in, got)
		}
	}
}

// After throttleMax failed logins from an address or for a user within the
// window, requests from that address or for that user get 429 with
// Retry-After, the password unchecked, until the window has passed.
func TestHTTPThrottle(t *testing.T) {
	f := newFixture(t, "user other other-pass\ngrant other name www.example.test")
	api := f.a.api
	now := time.Unix(1_000_000_000, 0)
	api.throttle = newAuthThrottle(func() time.Time { return now })
	present := api.lego(true)
	body := func(v string) string { return `{"fqdn":"` + apiCh + `","value":"` + v + `"}` }
	failures0 := testutil.ToFloat64(authFailures)
	byAddr0 := testutil.ToFloat64(authThrottled.WithLabelValues("address"))
	byUser0 := testutil.ToFloat64(authThrottled.WithLabelValues("user"))

	// Per address: unknown users' failures count for the address.
	for i := 0; i < throttleMax; i++ {
		if w := postFrom(t, present, "192.0.2.7:4000", body(v1), basic("who", "guess-"+strconv.Itoa(i))); w.Code != 401 {
			t.Fatalf("failure %d: %d", i, w.Code)
		}
	}
	if got := testutil.ToFloat64(authFailures) - failures0; got != throttleMax {
		t.Fatalf("auth failures counted %v, want %d", got, throttleMax)
	}
	w := postFrom(t, present, "192.0.2.7:4001", body(v1), basic("lego", "lego-pass"))
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") != strconv.Itoa(int(throttleWindow/time.Second)) {
		t.Fatalf("right password from a throttled address: %d Retry-After %q", w.Code, w.Header().Get("Retry-After"))
	}
	if got := testutil.ToFloat64(authThrottled.WithLabelValues("address")) - byAddr0; got != 1 {
		t.Fatalf("throttled by address counted %v", got)
	}
	if got := f.txt(apiCh); len(got) != 0 {
		t.Fatalf("a throttled request changed the zone: %v", got)
	}
	// Another address, and the user (who never failed), are not throttled.
	if w := postFrom(t, present, "192.0.2.8:4000", body(v1), basic("lego", "lego-pass")); w.Code != 200 {
		t.Fatalf("other address: %d %s", w.Code, w.Body)
	}
	// acme-dns answers the same way.
	hdr := map[string]string{"X-Api-User": "lego", "X-Api-Key": "lego-pass"}
	if w := postFrom(t, api.acmeDNS, "192.0.2.7:4002", `{"subdomain":"api.example.test","txt":"`+v2+`"}`, hdr); w.Code != 429 || !strings.Contains(w.Body.String(), "too_many_failures") || w.Header().Get("Retry-After") == "" {
		t.Fatalf("acme-dns from a throttled address: %d %s", w.Code, w.Body)
	}
	// One second before the window ends: still throttled; then free.
	now = now.Add(throttleWindow - time.Second)
	if w := postFrom(t, present, "192.0.2.7:4003", body(v2), basic("lego", "lego-pass")); w.Code != 429 || w.Header().Get("Retry-After") != "1" {
		t.Fatalf("before the window's end: %d Retry-After %q", w.Code, w.Header().Get("Retry-After"))
	}
	now = now.Add(time.Second)
	if w := postFrom(t, present, "192.0.2.7:4004", body(v2), basic("lego", "lego-pass")); w.Code != 200 {
		t.Fatalf("after the window: %d %s", w.Code, w.Body)
	}

	// Per user: failures from many addresses (an IPv6 /64 is one address).
	for i := 0; i < throttleMax; i++ {
		remote := "[2001:db8:" + strconv.Itoa(i) + "::1]:4000"
		if w := postFrom(t, present, remote, body(v1), basic("other", "wrong")); w.Code != 401 {
			t.Fatalf("user failure %d: %d", i, w.Code)
		}
	}
	if w := postFrom(t, present, "192.0.2.9:4000", body(v1), basic("other", "other-pass")); w.Code != 429 {
		t.Fatalf("throttled user with the right password: %d", w.Code)
	}
	if got := testutil.ToFloat64(authThrottled.WithLabelValues("user")) - byUser0; got != 1 {
		t.Fatalf("throttled by user counted %v", got)
	}
	if w := postFrom(t, present, "192.0.2.9:4001", body(v3), basic("lego", "lego-pass")); w.Code != 200 {
		t.Fatalf("another user from the same address: %d %s", w.Code, w.Body)
	}
	// Two hosts of one /64 share their count.
	for i := 0; i < throttleMax; i++ {
		postFrom(t, present, "[2001:db8:ff::"+strconv.Itoa(i+1)+"]:4000", body(v1), basic("who", "x"))
	}
	if w := postFrom(t, present, "[2001:db8:ff::ffff]:4000", body(v1), basic("lego", "lego-pass")); w.Code != 429 {
		t.Fatalf("another host of a throttled /64: %d", w.Code)
	}

	// Requests without credentials are not guesses.
	for i := 0; i < 2*throttleMax; i++ {
		if w := postFrom(t, present, "192.0.2.10:4000", body(v1), nil); w.Code != 401 {
			t.Fatalf("no credentials: %d", w.Code)
		}
	}
	if w := postFrom(t, present, "192.0.2.10:4000", body(v1), basic("lego", "lego-pass")); w.Code != 200 {
		t.Fatalf("after requests without credentials: %d %s", w.Code, w.Body)
	}
}

// The throttle's table is bounded: when full, expired entries go first, then
// the oldest.
func TestThrottleBounded(t *testing.T) {
	now := time.Unix(1_000_000_000, 0)
	th := newAuthThrottle(func() time.Time { return now })
	th.capacity = 5
	for i := 0; i < 20; i++ {
		now = now.Add(time.Second)
		th.fail(addrKey("192.0.2." + strconv.Itoa(i) + ":1"))
		if n := th.size(); n > th.capacity {
			t.Fatalf("%d entries, capacity %d", n, th.capacity)
		}
	}
	// The newest are kept, the oldest went.
	if _, ok := th.entries[addrKey("192.0.2.19:1")]; !ok {
		t.Fatal("newest entry evicted")
	}
	if _, ok := th.entries[addrKey("192.0.2.0:1")]; ok {
		t.Fatal("oldest entry kept")
	}
	// Entries whose window passed are dropped before a live one.
	th.entries = map[string]*failures{}
	for i := 0; i < 4; i++ {
		th.fail(addrKey("198.51.100." + strconv.Itoa(i) + ":1"))
	}
	now = now.Add(throttleWindow)
	th.fail(addrKey("203.0.113.1:1"))
	th.fail(addrKey("203.0.113.2:1"))
	if n := th.size(); n != 2 {
		t.Fatalf("%d entries, want the 2 live ones", n)
	}
}

// Plain HTTP only on loopback: the passwords must not cross a network in
// the clear. The error names the file and line and the fix.
func TestPlainHTTPOnlyOnLoopback(t *testing.T) {
	block := func(line string) string {
		return "acmechallenge example.test {\nuser lego lego-pass\ngrant lego name api.example.test\n" + line + "\n}"
	}
	for _, line := range []string{"http 0.0.0.0:8053", "http :8053", "http 192.0.2.1:8053", "http [2001:db8::1]:8053", "http [::]:8053", "http dns.example.test:8053"} {
		_, err := parse(newController(block(line)))
		if err == nil || !strings.Contains(err.Error(), "Testfile:4 ") || !strings.Contains(err.Error(), "tls CERT KEY") {
			t.Errorf("%s: %v, want an error at Testfile:4 naming the fix", line, err)
		}
	}
	for _, line := range []string{"http 127.0.0.1:0", "http 127.0.0.2:8053", "http [::1]:0", "http localhost:0", "http [::ffff:127.0.0.1]:0", "http 0.0.0.0:8053 tls cert.pem key.pem", "http 192.0.2.1:8053 tls cert.pem key.pem"} {
		if _, err := parse(newController(block(line))); err != nil {
			t.Errorf("%s: %v", line, err)
		}
	}
}
