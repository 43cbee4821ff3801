// Package security is dnspki's adversarial end-to-end suite (issue 14: one
// TSIG identity end to end, views that cannot be crossed). Each attack is a
// named test against the real dnspki binary, sent by a real client where
// one can send it (nsupdate, dig, kdig) and crafted with miekg/dns where no
// client would (two TSIG records, truncated MACs, replays, malformed
// messages). Every refused message must leave the zone, its serials and its
// journals exactly as they were, and the log must say which key, which name
// and why. docs/SECURITY.md maps the threat model to these tests.
package security

import (
	"crypto/hmac"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/dnspki/dnspki/plugin/pkg/tsigkey"
	"github.com/dnspki/dnspki/test/harness"
)

const zone = "example.test."

// The keys of the fixture. acme-www. and acme-md5. are ACME clients' keys
// (as in corefile-examples/acme-dns01.Corefile), acme-512. a third client's;
// xfr-internal. selects the internal view and transfers it, xfr-external.
// transfers the external view.
var (
	keyWWW = &harness.TSIGKey{Name: "acme-www.", Algorithm: "hmac-sha256", Secret: "c2VjcmV0LWFjbWUtd3d3LWtleS0wMTIzNDU2Nzg5YWI="}
	keyMD5 = &harness.TSIGKey{Name: "acme-md5.", Algorithm: "hmac-md5", Secret: "bWQ1LWtleS1mb3ItY2VydGJvdC10ZXN0cy0wMTIzNDU="}
	key512 = &harness.TSIGKey{Name: "acme-512.", Algorithm: "hmac-sha512", Secret: "YWNtZS01MTItc2VjdXJpdHktdGVzdC1rZXktMDEyMzQ1Njc4OWFiY2RlZg=="}
	keyInt = &harness.TSIGKey{Name: "xfr-internal.", Algorithm: "hmac-sha256", Secret: "eGZyLWludGVybmFsLXNlY3VyaXR5LXRlc3QtMDEyMzQ="}
	keyExt = &harness.TSIGKey{Name: "xfr-external.", Algorithm: "hmac-sha256", Secret: "eGZyLWV4dGVybmFsLXNlY3VyaXR5LXRlc3QtMDEyMzQ="}
)

// ACME dns-01 values are 43 base64url characters.
const (
	val1 = "securityvalue000000000000000000000000000001"
	val2 = "securityvalue000000000000000000000000000002"
)

// The public zone (the base file of both views).
const publicZone = `$ORIGIN example.test.
$TTL 3600
@       IN SOA  ns1.example.test. hostmaster.example.test. 2026010100 3600 600 1209600 60
        IN NS   ns1.example.test.
        IN A    192.0.2.1
        IN MX   10 mail.example.test.
        IN TXT  "v=spf1 mx -all"
ns1     IN A    192.0.2.53
www     IN A    192.0.2.10
        IN AAAA 2001:db8::10
mail    IN A    192.0.2.25
api     IN A    192.0.2.30
*.apps  IN A    192.0.2.80
_sip._udp IN SRV 10 60 5060 www
sub     IN NS   ns.sub.example.test.
ns.sub  IN A    192.0.2.99
`

// The internal view's file: labels, words and addresses (10/8, fd00::/8)
// that no public record has.
const internalZone = `$ORIGIN example.test.
$TTL 300
www.intra      IN A     10.1.2.3
               IN AAAA  fd00::3
db.intra       IN A     10.1.2.4
vault.intra    IN A     10.1.2.9
               IN TXT   "vaultsecretword"
_acme-challenge.vault.intra IN TXT "internalonlychallenge"
payrollzq.hr.intra IN A 10.1.3.1
mail           IN A     10.1.2.25
vpnzq          IN A     10.0.0.1
               IN AAAA  fd00::1
alias-vpnzq    IN CNAME vpnzq
corpzq         IN NS    ns1.corpzq
ns1.corpzq     IN A     10.20.0.53
build.apps     IN A     10.4.0.1
`

// secrets of the fixture's zone (what an external client must never see).
func zoneSecrets(t testing.TB) *harness.Secrets {
	return harness.NewSecrets(t, harness.SecretSpec{
		Zone:        zone,
		Public:      harness.ParseZone(t, zone, publicZone),
		PublicWords: []string{val1, val2, "_acme-challenge"},
		Internal:    harness.ParseZone(t, zone, internalZone),
	})
}

// fixtureCorefile: split horizon (internal: 127.0.0.1 and the key
// xfr-internal.; external: everyone else), ACME keys scoped to names, and
// transfers per view by key. extra goes into the authzone block, stock
// into the server block (stock plugins beside the views); stock may use
// the zone stock.test, served by the block too.
func fixtureCorefile(port, metricsPort int, extra, stock string) string {
	return fmt.Sprintf(`example.test:%[1]d stock.test:%[1]d {
    bind 127.0.0.1
    prometheus 127.0.0.1:%[2]d
    errors
%[3]s
    horizon {
        view internal {
            source 127.0.0.1
            key %[4]s
        }
        view external
    }
    acmechallenge example.test {
        key %[5]s %[6]s %[7]s
        key %[8]s %[9]s %[10]s
        key %[11]s %[12]s %[13]s
        grant %[5]s name www.example.test
        grant %[5]s subdomain intra.example.test
        grant %[8]s name mail.example.test
        grant %[11]s name api.example.test
    }
    authzone example.test {
        file public.zone
        file internal.zone view internal
        views internal external
        key %[4]s %[14]s %[15]s
        key %[16]s %[17]s %[18]s
        transfer to * key %[4]s view internal
        transfer to * key %[16]s view external
%[19]s
    }
    authzone stock.test {
        file stock.zone
    }
}
`, port, metricsPort, stock, keyInt.Name,
		keyWWW.Name, keyWWW.Algorithm, keyWWW.Secret,
		keyMD5.Name, keyMD5.Algorithm, keyMD5.Secret,
		key512.Name, key512.Algorithm, key512.Secret,
		keyInt.Algorithm, keyInt.Secret,
		keyExt.Name, keyExt.Algorithm, keyExt.Secret, extra)
}

// fixture is a running dnspki with the fixture's configuration, and its
// two clients: in (127.0.0.1, the internal view) and ext (127.0.0.2, the
// external view).
type fixture struct {
	*harness.Server
	metrics string // http://127.0.0.1:PORT/metrics
	in, ext harness.Client
	logs    pacer
}

// startFixture writes the zone files and the Corefile and starts dnspki.
func startFixture(t *testing.T, extra string) *fixture {
	t.Helper()
	return startFixtureWith(t, extra, "")
}

func startFixtureWith(t *testing.T, extra, stock string) *fixture {
	t.Helper()
	dir := t.TempDir()
	write(t, filepath.Join(dir, "public.zone"), publicZone)
	write(t, filepath.Join(dir, "internal.zone"), internalZone)
	write(t, filepath.Join(dir, "stock.zone"), zoneFile("stock.test."))
	port, mp := harness.FreePort(t), harness.FreePort(t)
	s := harness.StartDnspki(t, dir, fixtureCorefile(port, mp, extra, stock), port)
	harness.WaitDNS(t, s.Addr, zone, 30*time.Second, s.Proc)
	return &fixture{
		Server:  s,
		metrics: fmt.Sprintf("http://127.0.0.1:%d/metrics", mp),
		in:      harness.NewClient("127.0.0.1", port),
		ext:     harness.NewClient("127.0.0.2", port),
	}
}

func write(t testing.TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// ---- TSIG by hand ----

// tkey is k as dnspki's key type (whose Provider computes every HMAC,
// hmac-md5 included).
func tkey(t testing.TB, k *harness.TSIGKey) tsigkey.Key {
	t.Helper()
	tk, err := tsigkey.New(k.Name, k.Algorithm, k.Secret)
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

// sign packs m signed with k at time at (the TSIG record named as k.Name is
// spelled, with k's algorithm) and returns the bytes and the MAC. m's
// additional section may already hold records (a forged TSIG included):
// the MAC covers them.
func sign(t testing.TB, m *dns.Msg, k *harness.TSIGKey, at time.Time) ([]byte, string) {
	t.Helper()
	return signWith(t, m, k, at, tkey(t, k).Provider())
}

// signWith is sign with the MAC computed by p.
func signWith(t testing.TB, m *dns.Msg, k *harness.TSIGKey, at time.Time, p dns.TsigProvider) ([]byte, string) {
	t.Helper()
	tk := tkey(t, k)
	c := m.Copy()
	c.Extra = append(c.Extra, &dns.TSIG{
		Hdr:       dns.RR_Header{Name: k.Name, Rrtype: dns.TypeTSIG, Class: dns.ClassANY},
		Algorithm: tk.Algorithm, Fudge: 300, TimeSigned: uint64(at.Unix()), OrigId: c.Id,
	})
	b, mac, err := dns.TsigGenerateWithProvider(c, p, "", false)
	if err != nil {
		t.Fatal(err)
	}
	return b, mac
}

// signNow is sign at the current time.
func signNow(t testing.TB, m *dns.Msg, k *harness.TSIGKey) ([]byte, string) {
	return sign(t, m, k, time.Now())
}

// forgedTSIG is a TSIG record naming key k with a MAC of the right length
// that nobody computed.
func forgedTSIG(t testing.TB, k *harness.TSIGKey) *dns.TSIG {
	tk := tkey(t, k)
	n := map[string]int{dns.HmacMD5: 16, dns.HmacSHA256: 32, dns.HmacSHA512: 64}[tk.Algorithm]
	return &dns.TSIG{Hdr: dns.RR_Header{Name: k.Name, Rrtype: dns.TypeTSIG, Class: dns.ClassANY}, Algorithm: tk.Algorithm,
		TimeSigned: uint64(time.Now().Unix()), Fudge: 300, MACSize: uint16(n), MAC: strings.Repeat("5a", n)}
}

// twoTSIG is the attack of issue 14: m correctly signed with the key the
// attacker holds, and a second TSIG record naming the key the attacker
// wants to be taken for. validFirst appends the forged record after the
// signed message, whose MAC was computed with the header's additional count
// already counting it: a server that verifies the first TSIG record
// (removing it from the count, RFC 8945 §4.3.1) finds a valid MAC, while
// one that reads the last takes the forged key. Otherwise the forged record
// goes before the valid TSIG, inside what its MAC covers.
func twoTSIG(t testing.TB, m *dns.Msg, holds, wants *harness.TSIGKey, validFirst bool) []byte {
	t.Helper()
	if validFirst {
		b, _ := signWith(t, m, holds, time.Now(), countOneMore{tkey(t, holds).Provider()})
		return appendRR(t, b, forgedTSIG(t, wants))
	}
	c := m.Copy()
	c.Extra = append(c.Extra, forgedTSIG(t, wants))
	b, _ := signNow(t, c, holds)
	return b
}

// countOneMore computes MACs over the message with one more additional
// record in its header than it has.
type countOneMore struct{ dns.TsigProvider }

func (p countOneMore) Generate(msg []byte, t *dns.TSIG) ([]byte, error) {
	c := append([]byte(nil), msg...)
	ar := int(c[10])<<8 | int(c[11]) + 1
	c[10], c[11] = byte(ar>>8), byte(ar)
	return p.TsigProvider.Generate(c, t)
}

// appendRR adds rr after the last record of the packed message b.
func appendRR(t testing.TB, b []byte, rr dns.RR) []byte {
	t.Helper()
	buf := make([]byte, dns.Len(rr)+64)
	n, err := dns.PackRR(rr, buf, 0, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	out := append(append([]byte(nil), b...), buf[:n]...)
	ar := int(out[10])<<8 | int(out[11])
	ar++
	out[10], out[11] = byte(ar>>8), byte(ar)
	return out
}

// verifyingProvider records whether a MAC verified (miekg/dns checks the
// time after the MAC, so ErrTime alone says the MAC was right).
type verifyingProvider struct {
	dns.TsigProvider
	ok bool
}

func (p *verifyingProvider) Verify(msg []byte, t *dns.TSIG) error {
	err := p.TsigProvider.Verify(msg, t)
	p.ok = err == nil
	return err
}

// verifyReply checks that the answer b is signed with k and covers the
// request's MAC (RFC 8945 §5.3). The time is not checked: a BADTIME answer
// carries the request's Time Signed. miekg/dns does not verify NOTAUTH
// answers, so those are checked by macOK.
func verifyReply(t testing.TB, b []byte, k *harness.TSIGKey, reqMAC string) error {
	if len(b) > 3 && int(b[3]&0xF) == dns.RcodeNotAuth {
		return macOK(t, b, k, reqMAC)
	}
	p := &verifyingProvider{TsigProvider: tkey(t, k).Provider()}
	err := dns.TsigVerifyWithProvider(b, p, reqMAC, false)
	if err == nil || errors.Is(err, dns.ErrTime) && p.ok {
		return nil
	}
	return err
}

// macOK checks the MAC of the answer b (its last record is its TSIG) as
// RFC 8945 §4.3.3 defines it: the request's MAC, the message without the
// TSIG record (original ID, additional count less one), then the TSIG
// variables.
func macOK(t testing.TB, b []byte, k *harness.TSIGKey, reqMAC string) error {
	m := new(dns.Msg)
	if err := m.Unpack(b); err != nil {
		return err
	}
	ts := m.IsTsig()
	if ts == nil {
		return errors.New("no TSIG record")
	}
	// The offset of the last record.
	off := 12
	for range m.Question {
		_, o, err := dns.UnpackDomainName(b, off)
		if err != nil {
			return err
		}
		off = o + 4
	}
	last := off
	for range len(m.Answer) + len(m.Ns) + len(m.Extra) {
		last = off
		_, o, err := dns.UnpackRR(b, off)
		if err != nil {
			return err
		}
		off = o
	}
	raw, err := hex.DecodeString(reqMAC)
	if err != nil {
		return err
	}
	var buf []byte
	buf = binary.BigEndian.AppendUint16(buf, uint16(len(raw)))
	buf = append(buf, raw...)
	msg := append([]byte(nil), b[:last]...)
	binary.BigEndian.PutUint16(msg[0:], ts.OrigId)
	binary.BigEndian.PutUint16(msg[10:], binary.BigEndian.Uint16(msg[10:])-1)
	buf = append(buf, msg...)
	name := func(n string) []byte {
		nb := make([]byte, 256)
		l, _ := dns.PackDomainName(strings.ToLower(n), nb, 0, nil, false)
		return nb[:l]
	}
	buf = append(buf, name(ts.Hdr.Name)...)
	buf = binary.BigEndian.AppendUint16(buf, dns.ClassANY)
	buf = binary.BigEndian.AppendUint32(buf, 0)
	buf = append(buf, name(ts.Algorithm)...)
	buf = append(buf, byte(ts.TimeSigned>>40), byte(ts.TimeSigned>>32), byte(ts.TimeSigned>>24), byte(ts.TimeSigned>>16), byte(ts.TimeSigned>>8), byte(ts.TimeSigned))
	buf = binary.BigEndian.AppendUint16(buf, ts.Fudge)
	buf = binary.BigEndian.AppendUint16(buf, ts.Error)
	other, _ := hex.DecodeString(ts.OtherData)
	buf = binary.BigEndian.AppendUint16(buf, uint16(len(other)))
	buf = append(buf, other...)
	want, err := tkey(t, k).Provider().Generate(buf, ts)
	if err != nil {
		return err
	}
	if got, _ := hex.DecodeString(ts.MAC); !hmac.Equal(got, want) {
		return fmt.Errorf("MAC of the %s answer does not verify with %s", dns.RcodeToString[m.Rcode], k.Name)
	}
	return nil
}

func unpack(t testing.TB, b []byte) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	if err := m.Unpack(b); err != nil {
		t.Fatalf("answer does not parse: %v", err)
	}
	return m
}

// rawExchange sends bytes from c and returns the parsed answer and its
// bytes.
func rawExchange(t testing.TB, c harness.Client, b []byte, tcp bool) (*dns.Msg, []byte) {
	t.Helper()
	out, err := c.Raw(b, tcp)
	if err != nil {
		t.Fatalf("no answer from %s (from %s, tcp=%v): %v", c.Server, c.Src, tcp, err)
	}
	return unpack(t, out), out
}

// describe is an answer in one line, for messages.
func describe(m *dns.Msg) string {
	s := dns.RcodeToString[m.Rcode]
	if ts := m.IsTsig(); ts != nil {
		s += fmt.Sprintf(" (TSIG %s error %s, MAC %d octets)", ts.Hdr.Name, tsigErr(ts.Error), ts.MACSize)
	}
	return fmt.Sprintf("%s, %d answers, %d authority, %d additional", s, len(m.Answer), len(m.Ns), len(m.Extra))
}

func tsigErr(e uint16) string {
	if s, ok := dns.RcodeToString[int(e)]; ok {
		return s
	}
	return fmt.Sprint(e)
}

// ---- messages ----

func updateMsg(rrs ...string) *dns.Msg {
	m := new(dns.Msg)
	m.SetUpdate(zone)
	for _, s := range rrs {
		rr, err := dns.NewRR(s)
		if err != nil {
			panic(err)
		}
		m.Insert([]dns.RR{rr})
	}
	return m
}

func addTXT(owner, value string) *dns.Msg {
	return updateMsg(fmt.Sprintf("%s 60 IN TXT %q", owner, value))
}

func queryMsg(name string, qtype uint16) *dns.Msg {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	m.RecursionDesired = false
	m.SetEdns0(1232, false)
	return m
}

func axfrMsg() *dns.Msg {
	m := new(dns.Msg)
	m.SetAxfr(zone)
	return m
}

func ixfrMsg(serial uint32) *dns.Msg {
	m := new(dns.Msg)
	m.SetIxfr(zone, serial, "ns1.example.test.", "hostmaster.example.test.")
	return m
}

// ---- the zone's state ----

// watched are the RRsets the attacks aim at, read in both views.
var watched = []struct {
	name  string
	qtype uint16
}{
	{"_acme-challenge.www.example.test.", dns.TypeTXT},
	{"_acme-challenge.mail.example.test.", dns.TypeTXT},
	{"_acme-challenge.api.example.test.", dns.TypeTXT},
	{"_acme-challenge.db.intra.example.test.", dns.TypeTXT},
	{"_acme-challenge.vault.intra.example.test.", dns.TypeTXT},
	{"www.example.test.", dns.TypeA},
	{"www.example.test.", dns.TypeTXT},
	{"mail.example.test.", dns.TypeA},
	{"www.intra.example.test.", dns.TypeA},
	{zone, dns.TypeTXT},
}

// zoneState is what a refused message must not change: each view's serial
// and watched RRsets, and the number of committed changes.
type zoneState struct {
	serials map[string]uint32
	records map[string]string
	changes float64
}

func (f *fixture) views() map[string]harness.Client {
	return map[string]harness.Client{"internal": f.in, "external": f.ext}
}

func (f *fixture) viewKey(view string) *harness.TSIGKey {
	if view == "internal" {
		return keyInt
	}
	return keyExt
}

// state reads the zone's state from outside: serials and records by
// queries from each view's client, changes from the metrics.
func (f *fixture) state(t testing.TB) zoneState {
	t.Helper()
	st := zoneState{serials: map[string]uint32{}, records: map[string]string{}}
	for view, c := range f.views() {
		st.serials[view] = serialOf(t, c)
		for _, w := range watched {
			r, err := c.Exchange(queryMsg(w.name, w.qtype), true)
			if err != nil {
				t.Fatalf("%s/%s from %s: %v", w.name, dns.TypeToString[w.qtype], c.Src, err)
			}
			var rrs []string
			for _, rr := range r.Answer {
				rrs = append(rrs, rr.String())
			}
			sort.Strings(rrs)
			st.records[view+" "+w.name+"/"+dns.TypeToString[w.qtype]] = dns.RcodeToString[r.Rcode] + " " + strings.Join(rrs, " | ")
		}
	}
	st.changes = harness.Metric(t, f.metrics, "coredns_dnspki_zone_changes_total", map[string]string{"zone": zone})
	return st
}

func serialOf(t testing.TB, c harness.Client) uint32 {
	t.Helper()
	r, err := c.Exchange(queryMsg(zone, dns.TypeSOA), false)
	if err != nil || len(r.Answer) == 0 {
		t.Fatalf("SOA from %s: %v %v", c.Src, r, err)
	}
	return r.Answer[0].(*dns.SOA).Serial
}

// unchanged asserts that the zone is exactly as in before: the serial of
// each view, the watched records, no committed change (metric), and each
// view's journal: an IXFR from the serial before, signed with the view's
// transfer key, is "up to date" (one SOA).
func (f *fixture) unchanged(t testing.TB, before zoneState, what string) {
	t.Helper()
	after := f.state(t)
	for v, s := range before.serials {
		if after.serials[v] != s {
			t.Errorf("%s: the %s serial moved %d -> %d", what, v, s, after.serials[v])
		}
	}
	for k, v := range before.records {
		if after.records[k] != v {
			t.Errorf("%s: %s changed:\n  before %s\n  after  %s", what, k, v, after.records[k])
		}
	}
	if after.changes != before.changes {
		t.Errorf("%s: coredns_dnspki_zone_changes_total %v -> %v", what, before.changes, after.changes)
	}
	for v, s := range before.serials {
		rrs, err := f.views()[v].Transfer(ixfrMsg(s), f.viewKey(v))
		if err != nil {
			t.Errorf("%s: IXFR of the %s view from %d: %v", what, v, s, err)
			continue
		}
		if len(rrs) != 1 || rrs[0].Header().Rrtype != dns.TypeSOA || rrs[0].(*dns.SOA).Serial != s {
			t.Errorf("%s: the %s journal moved: IXFR from %d is %v", what, v, s, rrs)
		}
	}
}

// ---- the log ----

// pacer keeps a test's refusals under the gate's log limit (20 lines a
// second, by the Unix second; the rest are only counted): before a batch
// that would cross it, it waits for the next second, so that every refusal
// of the test is logged and can be asserted.
type pacer struct {
	mu     sync.Mutex
	second int64
	n      int
}

const logBudget = 15

func (p *pacer) take(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	if now.Unix() != p.second {
		p.second, p.n = now.Unix(), 0
	}
	if p.n+n > logBudget {
		time.Sleep(time.Until(time.Unix(now.Unix()+1, 0)))
		p.second, p.n = time.Now().Unix(), 0
	}
	p.n += n
}

// logged waits for n lines printed after mark that match every pattern
// (regular expressions) and fails the test with the log's tail otherwise.
func logged(t testing.TB, p *harness.Proc, mark, n int, patterns ...string) {
	t.Helper()
	res := make([]*regexp.Regexp, len(patterns))
	for i, s := range patterns {
		res[i] = regexp.MustCompile(s)
	}
	var got []string
	deadline := time.Now().Add(10 * time.Second)
	for {
		got = got[:0]
		out := p.Output()
		if mark > len(out) {
			mark = len(out)
		}
		for _, l := range strings.Split(out[mark:], "\n") {
			if slices.IndexFunc(res, func(re *regexp.Regexp) bool { return !re.MatchString(l) }) < 0 {
				got = append(got, l)
			}
		}
		if len(got) >= n || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(got) < n {
		out := p.Output()[mark:]
		if len(out) > 4000 {
			out = out[len(out)-4000:]
		}
		t.Errorf("%d log lines matching %q, want %d; the log since:\n%s", len(got), patterns, n, out)
	}
}

// src is the address part of a client, as the log prints it.
func src(c harness.Client) string { return regexp.QuoteMeta(c.Src) + `:\d+` }

// hostPort splits a server address.
func hostPort(addr string) (string, string) {
	h, p, _ := net.SplitHostPort(addr)
	return h, p
}
