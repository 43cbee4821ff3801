package tlsa

import (
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/dnspki/dnspki/plugin/pkg/testdns"
	"github.com/dnspki/dnspki/plugin/pkg/zonemodel"
	"github.com/dnspki/dnspki/test/harness"
)

const testZone = `$ORIGIN example.test.
$TTL 3600
@ IN SOA ns1 hostmaster 1 3600 600 86400 60
  IN NS ns1
ns1 IN A 127.0.0.1
www IN A 127.0.0.1
`

const (
	www  = "_443._tcp.www.example.test."
	mail = "_25._tcp.mail.example.test."
)

// fixture runs a manager on a real zone model with a fake clock.
type fixture struct {
	t       *testing.T
	state   string // zone state directory
	dir     string // certificate folder
	ca      *harness.TestCA
	zoneTxt string
	views   []string
	inside  string            // records only the first view has (a per-view file)
	extra   *zonemodel.Source // with inside: a dynamic source for later changes
	reread  time.Duration     // the manager's re-read interval (0: off)
	// noEvents: file events are unavailable (the watcher cannot be made).
	noEvents bool

	clock *testdns.Clock

	cfgs []CertConfig
	z    *zonemodel.Zone
	m    *Manager
}

func newFixture(t *testing.T) *fixture {
	return &fixture{t: t, state: t.TempDir(), dir: t.TempDir(), ca: harness.NewTestCA(t, "tlsa test"), zoneTxt: testZone,
		clock: testdns.NewClock(time.Unix(1_800_000_000, 0))}
}

func (f *fixture) now() time.Time { return f.clock.Now() }

func (f *fixture) advance(d time.Duration) { f.clock.Advance(d) }

// cfg is the usual certificate: the folder's fullchain.pem, both names,
// TTL 60, hold-down 120 s.
func (f *fixture) cfg() CertConfig {
	return CertConfig{ID: "www", Path: filepath.Join(f.dir, "fullchain.pem"), Names: []string{www, mail}, TTL: 60, HoldDown: 120 * time.Second}
}

func (f *fixture) open(cfgs ...CertConfig) {
	t := f.t
	t.Helper()
	f.cfgs = cfgs
	f.z = zonemodel.New(zonemodel.Config{Origin: "example.test.", StateDir: f.state, Views: f.views})
	base, err := f.z.AddSource("file", zonemodel.SourceOptions{Base: true})
	if err != nil {
		t.Fatal(err)
	}
	zd, err := zonemodel.ParseZone(strings.NewReader(f.zoneTxt), "example.test.", "test")
	if err != nil {
		t.Fatal(err)
	}
	base.SetInitial(nil, zd.RRs)
	if f.inside != "" {
		in, err := f.z.AddSource("file:"+f.views[0], zonemodel.SourceOptions{Views: f.views[:1], Override: true})
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(t.TempDir(), "inside.zone")
		harness.WriteFile(t, p, []byte(f.inside))
		zd, err := zonemodel.ReadZoneFragment(p, "example.test.")
		if err != nil {
			t.Fatal(err)
		}
		in.SetInitial(nil, zd.RRs)
		if f.extra, err = f.z.AddSource("extra", zonemodel.SourceOptions{Dynamic: true}); err != nil {
			t.Fatal(err)
		}
	}
	f.m = newManager("example.test.")
	f.m.now = f.now
	f.m.reread = f.reread
	if f.noEvents {
		f.m.newWatcher = func() (*fsnotify.Watcher, error) { return nil, errors.New("inotify instances exhausted (test)") }
	}
	for _, c := range cfgs {
		if err := f.m.Add(c); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.m.attach(f.z); err != nil {
		t.Fatal(err)
	}
	if err := f.z.Open(); err != nil {
		t.Fatal(err)
	}
	if err := f.m.start(f.z); err != nil {
		t.Fatal(err)
	}
	m, z := f.m, f.z
	t.Cleanup(func() { m.stop(); z.Close() })
}

func (f *fixture) restart(cfgs ...CertConfig) {
	f.m.stop()
	f.z.Close()
	f.open(cfgs...)
}

func (f *fixture) refresh() {
	f.t.Helper()
	if err := f.m.Refresh(); err != nil {
		f.t.Fatal(err)
	}
}

// served is the TLSA RRset served at name in view, as sorted "u s m hex".
func (f *fixture) served(view, name string) []string {
	set := f.z.View(view).Snapshot().Get(name, dns.TypeTLSA)
	var out []string
	if set != nil {
		for _, rr := range set.RRs {
			t := rr.(*dns.TLSA)
			out = append(out, rdata{t.Usage, t.Selector, t.MatchingType, strings.ToLower(t.Certificate)}.String())
		}
	}
	sort.Strings(out)
	return out
}

func (f *fixture) expect(view string, want ...string) {
	f.t.Helper()
	sort.Strings(want)
	for _, n := range []string{www, mail} {
		got := f.served(view, n)
		if strings.Join(got, ",") != strings.Join(want, ",") {
			f.t.Fatalf("%s in view %q:\n got  %v\n want %v", n, view, got, want)
		}
	}
}

func (f *fixture) write(name string, data []byte) {
	harness.WriteFile(f.t, filepath.Join(f.dir, name), data)
}

// install writes a certificate for key as fullchain.pem and the key as
// privkey.pem.
func (f *fixture) install(key crypto.Signer) []*x509.Certificate {
	chain := f.ca.Issue(f.t, key, 0, "www.example.test", "mail.example.test")
	f.write("fullchain.pem", harness.CertsPEM(chain...))
	f.write("privkey.pem", harness.KeyPEM(f.t, key))
	return chain
}

func spki311(key crypto.Signer) string {
	der, _ := x509.MarshalPKIXPublicKey(key.Public())
	s := sha256.Sum256(der)
	return "3 1 1 " + hex.EncodeToString(s[:])
}

// series returns the values of a gauge vector's series for the certificate
// id, keyed "name view role [record]" (the labels the vector has).
func series(t *testing.T, g *prometheus.GaugeVec, id string) map[string]float64 {
	t.Helper()
	ch := make(chan prometheus.Metric, 64)
	go func() { g.Collect(ch); close(ch) }()
	out := map[string]float64{}
	for m := range ch {
		var d dto.Metric
		if err := m.Write(&d); err != nil {
			t.Fatal(err)
		}
		l := map[string]string{}
		for _, p := range d.Label {
			l[p.GetName()] = p.GetValue()
		}
		if l["cert"] != id {
			continue
		}
		key := strings.TrimSpace(strings.Join([]string{l["name"], l["view"], l["role"], l["record"]}, " "))
		out[key] = d.GetGauge().GetValue()
	}
	return out
}

// expectSeries compares a gauge vector's series for certificate "www" with
// want.
func expectSeries(t *testing.T, what string, g *prometheus.GaugeVec, want map[string]float64) {
	t.Helper()
	got := series(t, g, "www")
	if len(got) != len(want) {
		t.Errorf("%s: %d series, want %d:\n got  %v\n want %v", what, len(got), len(want), got, want)
		return
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s %q: %v (present %v), want %v\n all: %v", what, k, g, ok, v, got)
		}
	}
}

// records is the expected tlsa_record_published_timestamp_seconds series
// of both names: role -> record -> since.
func published(roles map[string]map[string]time.Time) map[string]float64 {
	out := map[string]float64{}
	for _, n := range []string{www, mail} {
		for role, recs := range roles {
			for rec, since := range recs {
				out[n+" default "+role+" "+rec] = float64(since.Unix())
			}
		}
	}
	return out
}

// counts is the expected tlsa_records series of both names.
func counts(roles map[string]int) map[string]float64 {
	out := map[string]float64{}
	for _, n := range []string{www, mail} {
		for role, c := range roles {
			out[n+" default "+role] = float64(c)
		}
	}
	return out
}

func errCount(reason string) float64 {
	return testutil.ToFloat64(errorsTotal.WithLabelValues("www", reason))
}

func TestPublishCurrentAndNext(t *testing.T) {
	f := newFixture(t)
	ka, kb := harness.NewKey(t), harness.NewKey(t)
	f.install(ka)
	f.write("privkey.next.pem", harness.KeyPEM(t, kb))
	f.open(f.cfg())
	f.expect("default", spki311(ka), spki311(kb))
	if ttl := f.z.View("").Snapshot().Get(www, dns.TypeTLSA).TTL(); ttl != 60 {
		t.Fatalf("TTL %d, want 60", ttl)
	}
	st := f.m.Status()
	if len(st) != 1 || len(st[0].Records) != 4 {
		t.Fatalf("status: %+v", st)
	}
	for _, r := range st[0].Records {
		if !r.Since.Equal(f.now()) {
			t.Fatalf("record %s since %s, want %s", r.Record, r.Since, f.now())
		}
	}
	// Metrics: every record with its role and publication time, the count
	// per name and role, the time of the last change, the expiry.
	start := f.now()
	expectSeries(t, "tlsa_record_published_timestamp_seconds", recordGauge, published(map[string]map[string]time.Time{
		RoleCurrent: {spki311(ka): start},
		RoleNext:    {spki311(kb): start},
	}))
	expectSeries(t, "tlsa_records", recordsGauge, counts(map[string]int{RoleCurrent: 1, RoleNext: 1}))
	if got := testutil.ToFloat64(lastChangeGauge.WithLabelValues("www")); got != float64(start.Unix()) {
		t.Errorf("tlsa_last_change_timestamp_seconds %v, want %d", got, start.Unix())
	}
	if got := testutil.ToFloat64(expiryGauge.WithLabelValues("www")); got <= float64(start.Unix()) {
		t.Errorf("tlsa_certificate_expiry_timestamp_seconds %v, want the certificate's notAfter", got)
	}

	// A refresh that changes nothing changes no metric.
	f.advance(time.Minute)
	f.refresh()
	expectSeries(t, "tlsa_record_published_timestamp_seconds after a no-op", recordGauge, published(map[string]map[string]time.Time{
		RoleCurrent: {spki311(ka): start},
		RoleNext:    {spki311(kb): start},
	}))
	if got := testutil.ToFloat64(lastChangeGauge.WithLabelValues("www")); got != float64(start.Unix()) {
		t.Errorf("tlsa_last_change_timestamp_seconds after a no-op %v, want %d", got, start.Unix())
	}
}

func TestRolloverHoldDown(t *testing.T) {
	f := newFixture(t)
	ka, kb, kc := harness.NewKey(t), harness.NewKey(t), harness.NewKey(t)
	f.install(ka)
	f.write("privkey.next.pem", harness.KeyPEM(t, kb))
	f.open(f.cfg())
	serial := f.z.View("").Snapshot().Serial

	// Renewal: the staged key is used, a new one is staged.
	f.advance(time.Hour)
	f.install(kb)
	f.write("privkey.next.pem", harness.KeyPEM(t, kc))
	f.refresh()
	f.expect("default", spki311(ka), spki311(kb), spki311(kc))
	if s := f.z.View("").Snapshot().Serial; s == serial {
		t.Fatal("serial did not move")
	}
	// kb was published without a gap since the start.
	for _, r := range f.m.Status()[0].Records {
		if r.Record == spki311(kb) && r.Role != RoleCurrent {
			t.Fatalf("kb role %s", r.Role)
		}
		if r.Record == spki311(kb) && !r.Since.Equal(f.now().Add(-time.Hour)) {
			t.Fatalf("kb since %s: the gapless publication time was lost", r.Since)
		}
		if r.Record == spki311(ka) && (r.Role != RoleRetiring || !r.Until.Equal(f.now().Add(120*time.Second))) {
			t.Fatalf("ka: %+v", r)
		}
	}
	// Metrics: kb current since the start, kc next since the renewal, ka
	// retiring (still published since the start).
	start, renewal := f.now().Add(-time.Hour), f.now()
	expectSeries(t, "tlsa_record_published_timestamp_seconds", recordGauge, published(map[string]map[string]time.Time{
		RoleCurrent:  {spki311(kb): start},
		RoleNext:     {spki311(kc): renewal},
		RoleRetiring: {spki311(ka): start},
	}))
	expectSeries(t, "tlsa_records", recordsGauge, counts(map[string]int{RoleCurrent: 1, RoleNext: 1, RoleRetiring: 1}))
	if got := testutil.ToFloat64(lastChangeGauge.WithLabelValues("www")); got != float64(renewal.Unix()) {
		t.Errorf("tlsa_last_change_timestamp_seconds %v, want %d (the renewal)", got, renewal.Unix())
	}
	f.advance(119 * time.Second)
	f.refresh()
	f.expect("default", spki311(ka), spki311(kb), spki311(kc))
	f.advance(time.Second)
	f.refresh()
	f.expect("default", spki311(kb), spki311(kc))
	// The retired record's series are gone; the change is recorded.
	expectSeries(t, "tlsa_record_published_timestamp_seconds after the hold-down", recordGauge, published(map[string]map[string]time.Time{
		RoleCurrent: {spki311(kb): start},
		RoleNext:    {spki311(kc): renewal},
	}))
	expectSeries(t, "tlsa_records after the hold-down", recordsGauge, counts(map[string]int{RoleCurrent: 1, RoleNext: 1}))
	if got := testutil.ToFloat64(lastChangeGauge.WithLabelValues("www")); got != float64(f.now().Unix()) {
		t.Errorf("tlsa_last_change_timestamp_seconds after the hold-down %v, want %d", got, f.now().Unix())
	}
}

// Without a staged next key the new certificate's digest appears only when
// its files do; a deploy hook switches the server when it is ready, a
// hold-down later. The old digest stays a hold-down beyond that.
func TestOldKeyOutlivesReadiness(t *testing.T) {
	f := newFixture(t)
	ka, kb := harness.NewKey(t), harness.NewKey(t)
	f.install(ka)
	f.open(f.cfg())
	f.advance(time.Hour)
	f.install(kb)
	f.refresh()
	f.expect("default", spki311(ka), spki311(kb))
	f.advance(120 * time.Second)
	if r, _ := f.m.Ready("www", nil); !r.Ready {
		t.Fatalf("new certificate not ready after the hold-down: %+v", r)
	}
	f.refresh()
	f.expect("default", spki311(ka), spki311(kb))
	f.advance(119 * time.Second)
	f.refresh()
	f.expect("default", spki311(ka), spki311(kb))
	f.advance(time.Second)
	f.refresh()
	f.expect("default", spki311(kb))
}

func TestBrokenFilesKeepRecords(t *testing.T) {
	f := newFixture(t)
	ka, kb := harness.NewKey(t), harness.NewKey(t)
	chain := f.install(ka)
	f.open(f.cfg())
	f.expect("default", spki311(ka))
	good := harness.CertsPEM(chain...)

	for _, c := range []struct {
		reason string
		data   []byte
	}{
		{reasonIncomplete, good[:len(good)/2]},
		{reasonIncomplete, good[:len(good)-10]},
		{reasonGarbage, []byte("this is not a certificate\n")},
		{reasonGarbage, []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")},
		{reasonEmpty, nil},
		{reasonNoCert, harness.KeyPEM(t, kb)},
	} {
		before := errCount(c.reason)
		f.write("fullchain.pem", c.data)
		f.refresh()
		f.expect("default", spki311(ka))
		if errCount(c.reason) != before+1 {
			t.Fatalf("reason %s not counted: %v -> %v (%s)", c.reason, before, errCount(c.reason), f.m.Status()[0].Problem)
		}
		// The same bad file again is not counted again.
		f.refresh()
		if errCount(c.reason) != before+1 {
			t.Fatalf("reason %s counted twice for the same file", c.reason)
		}
	}
	// A missing file.
	os.Remove(filepath.Join(f.dir, "fullchain.pem"))
	f.refresh()
	f.expect("default", spki311(ka))

	// An expired certificate is refused too.
	expired := f.ca.IssueAt(t, kb, f.now().Add(-100*24*time.Hour), 90*24*time.Hour, "www.example.test")
	before := errCount(reasonExpired)
	f.write("fullchain.pem", harness.CertsPEM(expired...))
	f.write("privkey.pem", harness.KeyPEM(t, kb))
	f.refresh()
	f.expect("default", spki311(ka))
	if errCount(reasonExpired) != before+1 {
		t.Fatal("expired not counted")
	}
	// Good again: the new certificate is current, the old one retires.
	f.install(kb)
	f.refresh()
	f.expect("default", spki311(ka), spki311(kb))
}

func TestKeyMismatch(t *testing.T) {
	f := newFixture(t)
	ka, kx := harness.NewKey(t), harness.NewKey(t)
	f.install(ka)
	f.open(f.cfg())
	before := errCount(reasonKeyMismatch)
	// The key file is replaced first (acme.sh copies the next key in place,
	// then obtains the certificate): the certificate stays, the new key is
	// published as pending.
	f.write("privkey.pem", harness.KeyPEM(t, kx))
	f.refresh()
	f.expect("default", spki311(ka), spki311(kx))
	if errCount(reasonKeyMismatch) != before+1 {
		t.Fatal("mismatch not counted")
	}
	r, err := f.m.Ready("www", nil)
	if err != nil || r.Ready || !strings.Contains(r.Reason, "not consistent") {
		t.Fatalf("ready while the files disagree: %+v %v", r, err)
	}
	// The certificate arrives.
	f.install(kx)
	f.refresh()
	f.expect("default", spki311(ka), spki311(kx))
	roles := map[string]string{}
	for _, rs := range f.m.Status()[0].Records {
		roles[rs.Record] = rs.Role
	}
	if roles[spki311(kx)] != RoleCurrent || roles[spki311(ka)] != RoleRetiring {
		t.Fatalf("roles %v", roles)
	}
}

func TestRestartMidHoldDown(t *testing.T) {
	f := newFixture(t)
	ka, kb := harness.NewKey(t), harness.NewKey(t)
	f.install(ka)
	f.write("privkey.next.pem", harness.KeyPEM(t, kb))
	f.open(f.cfg())
	f.advance(10 * time.Minute)
	f.install(kb)
	os.Remove(filepath.Join(f.dir, "privkey.next.pem"))
	f.refresh()
	f.expect("default", spki311(ka), spki311(kb))

	// Restart 60 s into the hold-down: ka stays until its end.
	f.advance(60 * time.Second)
	f.restart(f.cfg())
	f.expect("default", spki311(ka), spki311(kb))
	f.advance(59 * time.Second)
	f.refresh()
	f.expect("default", spki311(ka), spki311(kb))
	f.advance(time.Second)
	f.refresh()
	f.expect("default", spki311(kb))

	// kb kept its publication time across the restart.
	r, err := f.m.Ready("www", nil)
	if err != nil || !r.Ready {
		t.Fatalf("kb published 12 minutes ago is not ready: %+v %v", r, err)
	}
}

func TestBrokenCertificateAtStartKeepsLastGood(t *testing.T) {
	f := newFixture(t)
	ka := harness.NewKey(t)
	f.install(ka)
	f.open(f.cfg())
	f.m.stop()
	f.z.Close()
	f.write("fullchain.pem", []byte("-----BEGIN CERTIFICATE-----\nMIIB"))
	f.advance(time.Hour)
	f.open(f.cfg())
	f.expect("default", spki311(ka))
	if p := f.m.Status()[0].Problem; !strings.Contains(p, "incomplete") {
		t.Fatalf("problem %q", p)
	}
	// A missing file at start too.
	f.restart(f.cfg())
	f.expect("default", spki311(ka))
}

func TestFirstStartWithoutCertificate(t *testing.T) {
	f := newFixture(t)
	f.open(f.cfg())
	f.expect("default")
	ka := harness.NewKey(t)
	f.install(ka)
	f.refresh()
	f.expect("default", spki311(ka))
}

func TestReady(t *testing.T) {
	f := newFixture(t)
	ka, kb, kz := harness.NewKey(t), harness.NewKey(t), harness.NewKey(t)
	f.install(ka)
	f.open(f.cfg())
	f.advance(30 * time.Second)
	f.write("privkey.next.pem", harness.KeyPEM(t, kb))
	f.refresh()
	next, _ := KeyMaterial(kb.Public())
	r, err := f.m.Ready("www", &next)
	if err != nil || r.Ready || r.Wait != 120*time.Second {
		t.Fatalf("fresh next key: %+v %v", r, err)
	}
	if len(r.Checks) != 2 {
		t.Fatalf("checks %+v", r.Checks)
	}
	// Without an id: found through its records.
	if r, _ := f.m.Ready("", &next); r.Ready || r.Wait != 120*time.Second {
		t.Fatalf("by material: %+v", r)
	}
	f.advance(119 * time.Second)
	if r, _ := f.m.Ready("www", &next); r.Ready || r.Wait != time.Second {
		t.Fatalf("1 s before: %+v", r)
	}
	f.advance(time.Second)
	if r, _ := f.m.Ready("www", &next); !r.Ready {
		t.Fatalf("after the hold-down: %+v", r)
	}
	// A certificate for the next key is ready too (3 1 1 matches its SPKI).
	chain := f.ca.Issue(t, kb, 0, "www.example.test")
	cm, _ := ChainMaterial(chain)
	if r, _ := f.m.Ready("www", &cm); !r.Ready {
		t.Fatalf("certificate of the next key: %+v", r)
	}
	// A key never published is not, and waiting will not help.
	other, _ := KeyMaterial(kz.Public())
	if r, _ := f.m.Ready("www", &other); r.Ready || r.Wait != 0 {
		t.Fatalf("unknown key: %+v", r)
	}
	if r, _ := f.m.Ready("", &other); r.Ready || !strings.Contains(r.Reason, "no certificate") {
		t.Fatalf("unknown key without id: %+v", r)
	}
	if _, err := f.m.Ready("nope", &other); err != ErrUnknownCert {
		t.Fatalf("unknown id: %v", err)
	}
}

// With 3 1 1 and 3 1 2 published, a client that prefers SHA2-512 uses only
// the 3 1 2 records: a key is ready when both are old enough.
func TestReadyPerMatchingType(t *testing.T) {
	f := newFixture(t)
	ka, kb := harness.NewKey(t), harness.NewKey(t)
	f.install(ka)
	c := f.cfg()
	c.Forms = []Form{{3, 1, 1}, {3, 1, 2}}
	f.write("privkey.next.pem", harness.KeyPEM(t, kb))
	f.open(c)
	if got := f.served("default", www); len(got) != 4 {
		t.Fatalf("want 3 1 1 and 3 1 2 of both keys: %v", got)
	}
	next, _ := KeyMaterial(kb.Public())
	f.advance(120 * time.Second)
	r, _ := f.m.Ready("www", &next)
	if !r.Ready || len(r.Checks) != 4 {
		t.Fatalf("%+v", r)
	}
}

func TestDaneTAForm(t *testing.T) {
	f := newFixture(t)
	ka := harness.NewKey(t)
	chain := f.install(ka)
	c := f.cfg()
	c.Forms = []Form{{3, 1, 1}, {2, 1, 1}}
	f.open(c)
	s := sha256.Sum256(chain[1].RawSubjectPublicKeyInfo)
	f.expect("default", spki311(ka), "2 1 1 "+hex.EncodeToString(s[:]))

	// Only the leaf in the file: no 2 1 1, a warning is counted, 3 1 1 stays.
	f.advance(time.Hour)
	before := errCount(reasonNoIssuer)
	f.write("fullchain.pem", harness.CertsPEM(chain[0]))
	f.refresh()
	f.expect("default", spki311(ka), "2 1 1 "+hex.EncodeToString(s[:])) // retiring, hold-down
	if errCount(reasonNoIssuer) != before+1 {
		t.Fatal("no_issuer not counted")
	}
	f.advance(120 * time.Second)
	f.refresh()
	f.expect("default", spki311(ka))
}

func TestViews(t *testing.T) {
	f := newFixture(t)
	f.views = []string{"inside", "outside"}
	ka := harness.NewKey(t)
	f.install(ka)
	c := f.cfg()
	c.Views = []string{"outside"}
	f.open(c)
	f.expect("outside", spki311(ka))
	f.expect("inside")
	// The metrics carry the view.
	expectSeries(t, "tlsa_records", recordsGauge, map[string]float64{www + " outside current": 1, mail + " outside current": 1})

	// A view the zone does not have is refused.
	m := newManager("example.test.")
	bad := f.cfg()
	bad.ID = "bad"
	bad.Views = []string{"nope"}
	m.Add(bad)
	if err := m.attach(zonemodel.New(zonemodel.Config{Origin: "example.test.", StateDir: t.TempDir(), Views: f.views})); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Fatalf("unknown view: %v", err)
	}
}

// Without a view option, a name is published in the views where its host
// has records: an internal-only host's TLSA stays internal (from the first
// start on: nothing is served or journaled outside), and follows the host
// when it appears in another view.
func TestViewsPerHost(t *testing.T) {
	f := newFixture(t)
	f.views = []string{"inside", "outside"}
	f.inside = "mail 60 IN A 10.0.0.25\n"
	ka := harness.NewKey(t)
	f.install(ka)
	f.open(f.cfg())
	want := spki311(ka)
	for _, c := range []struct {
		view, name string
		want       []string
	}{
		{"inside", www, []string{want}},
		{"outside", www, []string{want}},
		{"inside", mail, []string{want}},
		{"outside", mail, nil},
	} {
		if got := f.served(c.view, c.name); strings.Join(got, ",") != strings.Join(c.want, ",") {
			t.Fatalf("%s in %s: %v, want %v", c.name, c.view, got, c.want)
		}
	}
	if n := f.z.View("outside").JournalLen(); n != 0 {
		t.Fatalf("the outside view journaled %d changes", n)
	}
	r, err := f.m.Ready("www", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range r.Checks {
		if c.View == "outside" && c.Name == mail {
			t.Fatalf("readiness checks %s in the outside view: %+v", mail, c)
		}
	}

	// The host appears outside (another source): its TLSA follows.
	f.m.mu.Lock()
	f.m.debounce = 10 * time.Millisecond
	f.m.mu.Unlock()
	err = f.extra.Update([]string{"outside"}, func(tx *zonemodel.Tx) error {
		rr, _ := dns.NewRR("mail.example.test. 60 IN A 192.0.2.25")
		tx.Add(rr)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(f.served("outside", mail)) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%s not published outside after mail appeared there", mail)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestRemovedCertificateRetires(t *testing.T) {
	f := newFixture(t)
	ka := harness.NewKey(t)
	f.install(ka)
	f.open(f.cfg())
	f.advance(time.Minute)
	f.restart() // the certificate is no longer configured
	f.expect("default", spki311(ka))
	expectSeries(t, "tlsa_records while retiring", recordsGauge, counts(map[string]int{RoleRetiring: 1}))
	f.advance(120 * time.Second)
	f.refresh()
	f.expect("default")
	if len(f.m.Status()) != 0 {
		t.Fatalf("state left: %+v", f.m.Status())
	}
	// A certificate no longer published has no metrics left.
	for name, g := range map[string]*prometheus.GaugeVec{"published": recordGauge, "records": recordsGauge, "last change": lastChangeGauge, "expiry": expiryGauge} {
		if got := series(t, g, "www"); len(got) != 0 {
			t.Errorf("%s: series left for a removed certificate: %v", name, got)
		}
	}
	if m, _ := f.z.StoredMeta(SourceName); len(m) != 0 {
		t.Fatalf("meta left: %v", m)
	}
}

func TestZoneFileTLSAIsShadowed(t *testing.T) {
	f := newFixture(t)
	f.zoneTxt = testZone + "_443._tcp.www IN TLSA 3 1 2 " + strings.Repeat("ab", 64) + "\n"
	ka := harness.NewKey(t)
	f.install(ka)
	f.open(f.cfg())
	f.expect("default", spki311(ka))
}

func TestStageAPI(t *testing.T) {
	f := newFixture(t)
	ka, kb := harness.NewKey(t), harness.NewKey(t)
	f.install(ka)
	c := f.cfg()
	c.Next = []string{} // no next-key files
	f.write("privkey.next.pem", harness.KeyPEM(t, harness.NewKey(t)))
	f.open(c)
	f.expect("default", spki311(ka))
	mat, _ := KeyMaterial(kb.Public())
	if err := f.m.Stage("www", "acme", mat); err != nil {
		t.Fatal(err)
	}
	f.expect("default", spki311(ka), spki311(kb))
	// Staged material survives a restart.
	f.restart(c)
	f.expect("default", spki311(ka), spki311(kb))
	f.advance(time.Hour)
	if err := f.m.Unstage("www", "acme"); err != nil {
		t.Fatal(err)
	}
	f.advance(120 * time.Second)
	f.refresh()
	f.expect("default", spki311(ka))
	if err := f.m.Stage("nope", "x", mat); err != ErrUnknownCert {
		t.Fatalf("unknown id: %v", err)
	}
}

// A certificate set through the Go API only (no files).
func TestSetCurrentAPI(t *testing.T) {
	f := newFixture(t)
	ka := harness.NewKey(t)
	f.open(CertConfig{ID: "api", Names: []string{www, mail}, TTL: 60})
	chain := f.ca.Issue(t, ka, 0, "www.example.test")
	cm, _ := ChainMaterial(chain)
	if err := f.m.SetCurrent("api", cm); err != nil {
		t.Fatal(err)
	}
	f.expect("default", spki311(ka))
}

// The periodic re-read alone picks up a renewal that no file event reports
// (file events unavailable: inotify instances exhausted; the same path
// covers a file system without events, like NFS): the new certificate is
// published within a few intervals, and nothing is watched.
func TestPeriodicReread(t *testing.T) {
	f := newFixture(t)
	f.reread = 100 * time.Millisecond
	f.noEvents = true
	ka, kb := harness.NewKey(t), harness.NewKey(t)
	f.install(ka)
	f.open(f.cfg())
	f.expect("default", spki311(ka))
	f.m.mu.Lock()
	watched := len(f.m.watches)
	f.m.mu.Unlock()
	if watched != 0 {
		t.Fatalf("%d folders watched without file events", watched)
	}

	f.install(kb)
	harness.Eventually(t, 10*time.Second, "the re-read to publish the renewed certificate as current", func() bool {
		for _, c := range f.m.Status() {
			for _, r := range c.Records {
				if r.Record == spki311(kb) && r.Role == RoleCurrent {
					return true
				}
			}
		}
		return false
	})
	// The old key stays for its hold-down (the fixture's clock stands still).
	f.expect("default", spki311(ka), spki311(kb))
}

// A certificate from a new issuer (its CA's intermediate replaced, e.g.
// after a revocation) for a key whose 3 1 1 has long been served is not
// ready while 2 1 1 pins the old issuer: staged, its 2 1 1 is published
// beside the old one and it becomes ready a hold-down later; a bare key is
// still judged by its DANE-EE records alone.
func TestNewIssuerReadiness(t *testing.T) {
	f := newFixture(t)
	ka := harness.NewKey(t)
	oldChain := f.install(ka)
	c := f.cfg()
	c.Forms = []Form{{3, 1, 1}, {2, 1, 1}}
	f.open(c)
	f.advance(time.Hour)
	ta := func(ca *x509.Certificate) string {
		s := sha256.Sum256(ca.RawSubjectPublicKeyInfo)
		return "2 1 1 " + hex.EncodeToString(s[:])
	}
	newCA := harness.NewTestCA(t, "replacement")
	newChain := newCA.Issue(t, ka, 0, "www.example.test", "mail.example.test")
	mat, err := ChainMaterial(newChain)
	if err != nil {
		t.Fatal(err)
	}
	r, _ := f.m.Ready("www", &mat)
	if r.Ready || !strings.Contains(r.Reason, "usage 2") {
		t.Fatalf("a chain of a new issuer is ready before its 2 1 1 is published: %+v", r)
	}
	key, _ := KeyMaterial(ka.Public())
	if r, _ := f.m.Ready("www", &key); !r.Ready {
		t.Fatalf("the key alone: %+v", r)
	}
	if err := f.m.Stage("www", "obtained", mat); err != nil {
		t.Fatal(err)
	}
	f.expect("default", spki311(ka), ta(oldChain[1]), ta(newChain[1]))
	if r, _ := f.m.Ready("www", &mat); r.Ready || r.Wait != 120*time.Second {
		t.Fatalf("just staged: %+v", r)
	}
	f.advance(120 * time.Second)
	if r, _ := f.m.Ready("www", &mat); !r.Ready {
		t.Fatalf("a hold-down after staging: %+v", r)
	}
	// Switched to: the old issuer's pin retires (hold-down), then goes.
	if err := os.WriteFile(filepath.Join(f.dir, "fullchain.pem"), harness.CertsPEM(newChain...), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := f.m.Unstage("www", "obtained"); err != nil {
		t.Fatal(err)
	}
	f.refresh()
	f.expect("default", spki311(ka), ta(oldChain[1]), ta(newChain[1]))
	f.advance(120 * time.Second)
	f.refresh()
	f.expect("default", spki311(ka), ta(newChain[1]))
}

// TestNextKeyUnreadable: a next-key file that exists but that dnspki
// cannot read (its user lacks the permission; here a directory stands in,
// since the tests run as root) is an error with the reason "unreadable",
// never taken for "no next key": the next key's records stay published.
// A file that is gone withdraws them.
func TestNextKeyUnreadable(t *testing.T) {
	f := newFixture(t)
	ka, kb := harness.NewKey(t), harness.NewKey(t)
	f.install(ka)
	f.write("privkey.next.pem", harness.KeyPEM(t, kb))
	f.open(f.cfg())
	f.expect("default", spki311(ka), spki311(kb))
	before := testutil.ToFloat64(errorsTotal.WithLabelValues("www", reasonUnreadable))

	next := filepath.Join(f.dir, "privkey.next.pem")
	if err := os.Remove(next); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(next, 0o700); err != nil {
		t.Fatal(err)
	}
	f.advance(time.Minute)
	f.refresh()
	f.expect("default", spki311(ka), spki311(kb))
	if got := testutil.ToFloat64(errorsTotal.WithLabelValues("www", reasonUnreadable)); got != before+1 {
		t.Errorf("tlsa_errors_total{reason=unreadable} %v, want %v", got, before+1)
	}
	for _, r := range f.m.Status()[0].Records {
		if r.Record == spki311(kb) && r.Role != RoleNext {
			t.Errorf("the next key's record is %s, want still %s", r.Role, RoleNext)
		}
	}
	if _, err := readPEMFile(next); err == nil || !strings.Contains(err.Error(), "Who reads which files") {
		t.Errorf("error %v does not say where to look", err)
	}

	if err := os.Remove(next); err != nil {
		t.Fatal(err)
	}
	f.advance(time.Minute)
	f.refresh()
	f.advance(time.Hour)
	f.refresh()
	f.expect("default", spki311(ka))
}
