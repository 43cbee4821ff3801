package horizon

import (
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/dnspki/dnspki/plugin/pkg/zonemodel"
	"github.com/dnspki/dnspki/test/harness"
)

var probeTypes = harness.ProbeTypes

// probe is one query of the leak test and what its answer must equal.
type probe struct {
	name  string
	qtype uint16
	md    mode
	cl    client
	// ctl: the name whose (normalized) answer this one must equal: a name
	// that never existed (a sibling), or an empty non-terminal; "" none
	// (a public name: only the leak check).
	ctl string
}

// TestNoLeak is the split-horizon acceptance test: an external client
// (source 127.0.0.2, and ::1) asks every type for every internal name and
// its neighbours, walks NSEC chains, asks CH TXT, tries AXFR and IXFR with
// no key and with the external key and probes with UPDATE prerequisites.
// No internal name, label or address may appear anywhere in any answer;
// internal-only names must be answered exactly like names that never
// existed, internal names with public validation records exactly like any
// other empty non-terminal, and the validation records must be public.
// Then an internal-only change moves the internal serial and journal only.
func TestNoLeak(t *testing.T) {
	harness.Need(t, "nsupdate")
	s := startServer(t, 0, "")
	sec := newSecrets(t, internalZone(""))
	if len(sec.Names) < 50 || len(sec.Tokens) < 50 {
		t.Fatalf("test zone too small: %d internal names, %d secret words", len(sec.Names), len(sec.Tokens))
	}
	ext := newClient("127.0.0.2", s.Port)
	in := newClient("127.0.0.1", s.Port)
	var ext6 *client
	if s.v6 {
		c := newClient("::1", s.Port)
		ext6 = &c
	} else if harness.CI() {
		t.Log("no IPv6 loopback: the ::1 probes are not run")
	}

	// An ACME client sets a challenge for an internal name from outside.
	if out, err := nsupdate(t, ext.server, "127.0.0.2", keyACME, "update add _acme-challenge.git.intra.example.test. 60 TXT "+acmeValue); err != nil {
		t.Fatalf("nsupdate: %v\n%s", err, out)
	}
	t0 := time.Now()

	// The internal view has the internal data (so the test means something).
	t.Run("internal view has the data", func(t *testing.T) {
		for _, c := range []struct {
			name  string
			qtype uint16
			want  string
		}{
			{"vpn.example.test.", dns.TypeA, "10.0.0.1"},
			{"www.intra.example.test.", dns.TypeAAAA, "fd00::1:3"},
			{"wiki.intra.example.test.", dns.TypeA, "10.1.2.7"},
			{"host17.hostpool.intra.example.test.", dns.TypeA, "10.3.0.17"},
			{"mail.example.test.", dns.TypeA, "10.1.2.25"},
			{"build.apps.example.test.", dns.TypeA, "10.4.0.1"},
			{"_validation-persist.www.intra.example.test.", dns.TypeTXT, persistURI},
			{"_acme-challenge.git.intra.example.test.", dns.TypeTXT, acmeValue},
			{tlsaInternal, dns.TypeTLSA, "3 1 1"},
			{tlsaPublic, dns.TypeTLSA, "3 1 1"},
		} {
			r, err := in.query(c.name, c.qtype, mode{do: true})
			if err != nil || !strings.Contains(fmt.Sprint(r.Answer), c.want) || !hasType(r.Answer, dns.TypeRRSIG) {
				t.Errorf("internal %s/%s: want %s, signed: %v %v", c.name, dns.TypeToString[c.qtype], c.want, r, err)
			}
		}
		r, err := in.query("x.corp.example.test.", dns.TypeA, mode{})
		if err != nil || len(r.Ns) == 0 || r.Ns[0].Header().Rrtype != dns.TypeNS {
			t.Errorf("internal delegation: %v %v", r, err)
		}
	})

	// What exists externally, from the external view's AXFR (with the
	// external key): its owners and their ancestors.
	extRRs, err := ext.transfer(dns.TypeAXFR, 0, keyExternal)
	if err != nil {
		t.Fatalf("AXFR with the external key: %v", err)
	}
	if l := sec.leaks("", extRRs); len(l) > 0 {
		t.Fatalf("external AXFR leaks:\n%s", strings.Join(l, "\n"))
	}
	extNames := map[string]bool{}
	for _, rr := range extRRs {
		for _, a := range ancestors(rr.Header().Name) {
			extNames[a] = true
		}
	}
	for _, n := range append([]string{tlsaPublic}, validationRecords...) {
		if !extNames[n] {
			t.Errorf("%s not in the external view's AXFR", n)
		}
	}

	// The probe names: every internal name (owners and empty non-terminals),
	// the public names the internal view overrides, and neighbours: a child,
	// a label added after the first, the first label extended at either end,
	// the canonical successor, and names between consecutive internal names.
	probeNames := map[string]bool{}
	add := func(n string) {
		if _, ok := dns.IsDomainName(n); ok && zonemodel.InZone(strings.ToLower(n), zone) && n != zone {
			probeNames[strings.ToLower(n)] = true
		}
	}
	for i, n := range sec.Names {
		first, parent, _ := strings.Cut(n, ".")
		add(n)
		add("probe." + n)
		add(first + ".probe." + parent)
		add(first + "x." + parent)
		add("x" + first + "." + parent)
		add(`\000.` + n)
		if i+1 < len(sec.Names) {
			next := sec.Names[i+1]
			for _, c := range []string{first + "-0." + parent, first + "~." + parent} {
				if zonemodel.CanonicalCompare(n, c) < 0 && zonemodel.CanonicalCompare(c, next) < 0 {
					add(c)
				}
			}
		}
	}
	// The public names too (the apex, overridden names, glue, the
	// validation records): their answers must not carry internal data
	// either (additional sections, bitmaps).
	for n := range extNames {
		probeNames[n] = true
	}
	probeNames[zone] = true
	names := make([]string, 0, len(probeNames))
	for n := range probeNames {
		names = append(names, n)
	}
	sort.Strings(names)

	// The control for a name: never existed (a sibling) unless the name
	// exists externally: then an internal name with public records must
	// look like any empty non-terminal (_udp.example.test, a public one),
	// and a public name has no control.
	const ent = "_udp.example.test."
	control := func(n string) string {
		if n == zone {
			return ""
		}
		if extNames[n] {
			if slices.Contains(withPublicRecords, n) {
				return ent
			}
			return ""
		}
		_, parent, _ := strings.Cut(n, ".")
		return "nxctl7q." + parent
	}
	var probes []probe
	modes := []mode{{}, {do: true}, {noEDNS: true}}
	for _, n := range names {
		ctl := control(n)
		for _, qt := range probeTypes {
			for _, md := range modes {
				probes = append(probes, probe{n, qt, md, ext, ctl})
			}
		}
		for _, qt := range []uint16{dns.TypeA, dns.TypeTXT, dns.TypeANY} {
			probes = append(probes, probe{n, qt, mode{do: true, co: true}, ext, ctl})
		}
	}
	// Mixed case (0x20): answered like the control in the same case.
	for _, n := range sec.Names {
		if ctl := control(n); ctl != "" {
			for _, qt := range []uint16{dns.TypeA, dns.TypeTXT, dns.TypeNSEC} {
				probes = append(probes, probe{mixCase(n), qt, mode{do: true}, ext, mixCase(ctl)}, probe{mixCase(n), qt, mode{}, ext, mixCase(ctl)})
			}
		}
	}
	for _, n := range sec.Names {
		ctl := control(n)
		for _, qt := range []uint16{dns.TypeA, dns.TypeAAAA, dns.TypeTXT, dns.TypeANY, dns.TypeNSEC, dns.TypeSOA, dns.TypeDS} {
			probes = append(probes, probe{n, qt, mode{do: true, tcp: true}, ext, ctl}, probe{n, qt, mode{tcp: true}, ext, ctl})
			if ext6 != nil && qt != dns.TypeSOA {
				probes = append(probes, probe{n, qt, mode{do: true}, *ext6, ctl}, probe{n, qt, mode{}, *ext6, ctl})
			}
		}
	}
	// The answers of the controls first (same type, mode and client).
	type ckey struct {
		name  string
		qtype uint16
		md    mode
		src   string
	}
	controls := map[ckey]string{}
	var ctlProbes []probe
	for _, p := range probes {
		if p.ctl == "" {
			continue
		}
		k := ckey{p.ctl, p.qtype, p.md, p.cl.src}
		if _, ok := controls[k]; !ok {
			controls[k] = ""
			ctlProbes = append(ctlProbes, probe{p.ctl, p.qtype, p.md, p.cl, ""})
		}
	}
	// Problems by kind (the first few of each are shown, all are counted).
	var mu sync.Mutex
	problems := map[string][]string{}
	counts := map[string]int{}
	fail := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		kind, _, _ := strings.Cut(format, " ")
		counts[kind]++
		if len(problems[kind]) < 20 {
			problems[kind] = append(problems[kind], fmt.Sprintf(format, args...))
		}
	}
	run(ctlProbes, func(p probe, r *dns.Msg, err error) {
		if err != nil {
			fail("control %s/%s %s: %v", p.name, dns.TypeToString[p.qtype], p.md, err)
			return
		}
		// A control that had data would prove nothing: never-existed
		// names are denied (NXDOMAIN, or NOERROR with a compact denial and
		// at most the NSEC itself as the answer).
		if ln := strings.ToLower(p.name); ln != ent && !strings.HasSuffix(ln, ".apps.example.test.") && !strings.HasSuffix(ln, ".sub.example.test.") {
			denied := r.Rcode == dns.RcodeNameError || p.md.do && r.Rcode == dns.RcodeSuccess && onlyTypes(r.Answer, dns.TypeNSEC, dns.TypeRRSIG)
			if !denied {
				fail("control %s/%s %s is not a denial: %v", p.name, dns.TypeToString[p.qtype], p.md, r)
			}
		}
		mu.Lock()
		controls[ckey{p.name, p.qtype, p.md, p.cl.src}] = normalize(p.name, r)
		mu.Unlock()
	})
	var queries, compared int
	var cmu sync.Mutex
	run(probes, func(p probe, r *dns.Msg, err error) {
		what := fmt.Sprintf("%s/%s %s from %s", p.name, typeName(p.qtype), p.md, p.cl.src)
		if err != nil {
			fail("ERROR %s: %v", what, err)
			return
		}
		if l := sec.leaks(p.name, msgRRs(r)); len(l) > 0 {
			fail("LEAK %s:\n  %s", what, strings.Join(l, "\n  "))
		}
		cmu.Lock()
		queries++
		cmu.Unlock()
		if p.ctl == "" {
			return
		}
		mu.Lock()
		want := controls[ckey{p.ctl, p.qtype, p.md, p.cl.src}]
		mu.Unlock()
		if got := normalize(p.name, r); got != want {
			fail("UNLIKE %s answered unlike %s:\n--- got\n%s--- want (%s)\n%s", what, p.ctl, got, p.ctl, want)
		}
		cmu.Lock()
		compared++
		cmu.Unlock()
	})
	t.Logf("%d names, %d probes (%d compared with a control), %d controls, %s", len(names), queries, compared, len(ctlProbes), time.Since(t0).Round(time.Millisecond))
	for _, kind := range []string{"LEAK", "UNLIKE", "control", "ERROR"} {
		for _, p := range problems[kind] {
			t.Error(p)
		}
		if counts[kind] > 0 {
			t.Errorf("%d problems of kind %q", counts[kind], kind)
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	t.Run("validation records are public", func(t *testing.T) {
		want := map[string]string{
			"_validation-persist.www.intra.example.test.": persistURI,
			"_validation-persist.portal.example.test.":    persistURI,
			"_acme-challenge.git.intra.example.test.":     acmeValue,
		}
		clients := []client{ext}
		if ext6 != nil {
			clients = append(clients, *ext6)
		}
		for _, c := range clients {
			for n, v := range want {
				for _, md := range []mode{{}, {do: true}, {do: true, tcp: true}} {
					r, err := c.query(n, dns.TypeTXT, md)
					if err != nil || r.Rcode != dns.RcodeSuccess || !strings.Contains(fmt.Sprint(r.Answer), v) || md.do != hasType(r.Answer, dns.TypeRRSIG) {
						t.Errorf("%s TXT %s from %s: %v %v", n, md, c.src, r, err)
					}
				}
			}
		}
	})

	t.Run("NSEC walk", func(t *testing.T) {
		// Follow next names from the apex and from every denial, as a zone
		// walker would; every answer is checked for leaks.
		start := []string{zone, "vpn.example.test.", "intra.example.test.", "a.example.test.", "www.intra.example.test."}
		seen := harness.WalkNSEC(zone, start, 300, func(n string) []dns.RR {
			var got []dns.RR
			for _, qt := range []uint16{dns.TypeNSEC, dns.TypeA} {
				r, err := ext.query(n, qt, mode{do: true})
				if err != nil {
					t.Fatalf("%s/%s: %v", n, dns.TypeToString[qt], err)
				}
				if l := sec.leaks(n, msgRRs(r)); len(l) > 0 {
					t.Errorf("walk %s/%s leaks:\n%s", n, dns.TypeToString[qt], strings.Join(l, "\n"))
				}
				got = append(got, msgRRs(r)...)
			}
			return got
		})
		if len(seen) < 5 {
			t.Errorf("the walk visited only %v", seen)
		}
	})

	t.Run("CH and other classes", func(t *testing.T) {
		for _, n := range []string{"version.bind.", "hostname.bind.", "id.server.", "version.server.", "authors.bind.", zone, "vpn.example.test."} {
			for _, class := range []uint16{dns.ClassCHAOS, dns.ClassANY, dns.ClassHESIOD} {
				m := new(dns.Msg)
				m.SetQuestion(n, dns.TypeTXT)
				m.Question[0].Qclass = class
				r, err := ext.exchange(m, false, nil)
				if err != nil {
					t.Errorf("%s %s TXT: %v", n, dns.ClassToString[class], err)
					continue
				}
				if l := sec.leaks(n, msgRRs(r)); len(l) > 0 {
					t.Errorf("%s %s TXT leaks:\n%s", n, dns.ClassToString[class], strings.Join(l, "\n"))
				}
			}
		}
	})

	t.Run("EDNS client subnet does not select a view", func(t *testing.T) {
		for _, n := range []string{"vpn.example.test.", "www.intra.example.test.", "mail.example.test."} {
			m := new(dns.Msg)
			m.SetQuestion(n, dns.TypeA)
			m.SetEdns0(1232, true)
			m.IsEdns0().Option = append(m.IsEdns0().Option, &dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: 1, SourceNetmask: 24, Address: []byte{10, 1, 2, 0}})
			r, err := ext.exchange(m, false, nil)
			if err != nil {
				t.Fatal(err)
			}
			if l := sec.leaks(n, msgRRs(r)); len(l) > 0 {
				t.Errorf("%s with ECS 10.1.2.0/24 leaks:\n%s", n, strings.Join(l, "\n"))
			}
		}
	})

	t.Run("transfers", func(t *testing.T) {
		clients := []client{ext}
		if ext6 != nil {
			clients = append(clients, *ext6)
		}
		bad := &harness.TSIGKey{Name: "xfr-guess.", Algorithm: "hmac-sha256", Secret: keyInternal.Secret}
		wrongSecret := &harness.TSIGKey{Name: keyInternal.Name, Algorithm: "hmac-sha256", Secret: keyExternal.Secret}
		for _, c := range clients {
			for _, qt := range []uint16{dns.TypeAXFR, dns.TypeIXFR} {
				for _, tcp := range []bool{false, true} {
					for _, key := range []*harness.TSIGKey{nil, bad, wrongSecret} {
						m := new(dns.Msg)
						if qt == dns.TypeIXFR {
							m.SetIxfr(zone, 1, "ns1.example.test.", "hostmaster.example.test.")
						} else {
							m.SetAxfr(zone)
						}
						cl := c.dnsClient(tcp)
						if key != nil {
							cl.TsigSecret = map[string]string{key.Name: key.Secret}
							m.SetTsig(key.Name, dns.HmacSHA256, 300, time.Now().Unix())
						}
						r, _, err := cl.Exchange(m, c.server)
						if err != nil && r == nil {
							// A refusal to a request signed with an unknown
							// key is unsigned: miekg reports that.
							continue
						}
						if r.Rcode == dns.RcodeSuccess || len(r.Answer) > 0 {
							t.Errorf("%s over tcp=%v from %s with key %v: %v", dns.TypeToString[qt], tcp, c.src, key, r)
						}
						if l := sec.leaks("", msgRRs(r)); len(l) > 0 {
							t.Errorf("refused transfer leaks: %v", l)
						}
					}
				}
			}
			// With the external key: the external view only.
			for _, qt := range []uint16{dns.TypeAXFR, dns.TypeIXFR} {
				rrs, err := c.transfer(qt, 1, keyExternal)
				if err != nil || len(rrs) < 10 {
					t.Fatalf("%s with the external key from %s: %v (%d records)", dns.TypeToString[qt], c.src, err, len(rrs))
				}
				if l := sec.leaks("", rrs); len(l) > 0 {
					t.Errorf("%s with the external key from %s leaks:\n%s", dns.TypeToString[qt], c.src, strings.Join(l, "\n"))
				}
			}
			// The internal key selects the internal view from anywhere.
			rrs, err := c.transfer(dns.TypeAXFR, 0, keyInternal)
			if err != nil || !strings.Contains(fmt.Sprint(rrs), "10.0.0.1") {
				t.Errorf("AXFR with the internal key from %s: %v, %d records", c.src, err, len(rrs))
			}
		}
		// A transfer of a name below the apex is not a zone transfer.
		r, err := ext.exchange(func() *dns.Msg { m := new(dns.Msg); m.SetAxfr("vpn.example.test."); return m }(), true, keyExternal)
		if err != nil || r.Rcode == dns.RcodeSuccess || len(sec.leaks("", msgRRs(r))) > 0 {
			t.Errorf("AXFR vpn.example.test: %v %v", r, err)
		}
	})

	t.Run("UPDATE prerequisites", func(t *testing.T) {
		// Prerequisites are evaluated in the requester's view: asking
		// whether an internal name exists answers like for a name that never
		// existed.
		rcode := func(name, prereq string) int {
			m := new(dns.Msg)
			m.SetUpdate(zone)
			rr := &dns.ANY{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeANY, Class: dns.ClassANY}}
			switch prereq {
			case "yxdomain":
				m.NameUsed([]dns.RR{rr})
			case "nxdomain":
				m.NameNotUsed([]dns.RR{rr})
			}
			r, err := ext.exchange(m, true, keyACME)
			if err != nil {
				t.Fatalf("UPDATE %s %s: %v", prereq, name, err)
			}
			if l := sec.leaks(name, msgRRs(r)); len(l) > 0 {
				t.Errorf("UPDATE answer leaks: %v", l)
			}
			return r.Rcode
		}
		for _, pre := range []string{"yxdomain", "nxdomain"} {
			want := rcode("nxctl7q.intra.example.test.", pre)
			for _, n := range []string{"db.intra.example.test.", "ldap.intra.example.test.", "host01.hostpool.intra.example.test.", "payroll.hr.intra.example.test."} {
				if got := rcode(n, pre); got != want {
					t.Errorf("UPDATE prereq %s %s: %s, for a name that never existed %s", pre, n, dns.RcodeToString[got], dns.RcodeToString[want])
				}
			}
		}
	})

	t.Run("metrics per view", func(t *testing.T) {
		for _, v := range []string{"internal", "external"} {
			if n := harness.Metric(t, s.metrics, "coredns_dnspki_horizon_queries_total", map[string]string{"view": v}); n < 1 {
				t.Errorf("horizon_queries_total{view=%q} = %v", v, n)
			}
		}
		want := map[string]uint32{"internal": in.serial(t), "external": ext.serial(t)}
		for v, serial := range want {
			if got := harness.Metric(t, s.metrics, "coredns_dnspki_zone_serial", map[string]string{"zone": zone, "view": v}); uint32(got) != serial {
				t.Errorf("zone_serial{view=%q} = %v, want %d", v, got, serial)
			}
			if got := harness.Metric(t, s.metrics, "coredns_dnspki_zone_records", map[string]string{"zone": zone, "view": v}); got < 10 {
				t.Errorf("zone_records{view=%q} = %v", v, got)
			}
		}
		if got := harness.Metric(t, s.metrics, "coredns_dnspki_xfr_out_total", map[string]string{"zone": zone, "view": "external", "peer": keyExternal.Name}); got < 1 {
			t.Errorf("xfr_out_total{view=external, peer=xfr-external.} = %v", got)
		}
	})

	t.Run("serials and journals per view", func(t *testing.T) {
		testSerials(t, s, sec, in, ext)
	})
}

// testSerials: a change of internal-only data moves the internal serial and
// journal only (an external serial bump would reveal internal activity);
// a change in every view is journaled in each, and each view's IXFR carries
// only its own data.
func testSerials(t *testing.T, s *server, sec *secrets, in, ext client) {
	int0, ext0 := in.serial(t), ext.serial(t)
	extIXFR := func(from uint32) []dns.RR {
		t.Helper()
		rrs, err := ext.transfer(dns.TypeIXFR, from, keyExternal)
		if err != nil {
			t.Fatalf("external IXFR from %d: %v", from, err)
		}
		if l := sec.leaks("", rrs); len(l) > 0 {
			t.Fatalf("external IXFR from %d leaks:\n%s", from, strings.Join(l, "\n"))
		}
		return rrs
	}
	intIXFR := func(from uint32) []dns.RR {
		t.Helper()
		rrs, err := in.transfer(dns.TypeIXFR, from, keyInternal)
		if err != nil {
			t.Fatalf("internal IXFR from %d: %v", from, err)
		}
		return rrs
	}
	// The whole external journal, from the zone file's serial.
	extIXFR(2026010100)
	if rrs := extIXFR(ext0); len(rrs) != 1 {
		t.Fatalf("external IXFR from the current serial: %v", rrs)
	}

	// An internal-only change: a new host, a changed address, a removed name.
	zf := internalZone("newhost.hostpool.intra IN A 10.3.9.9\n")
	zf = strings.Replace(zf, "db.intra     IN A     10.1.2.4", "db.intra     IN A     10.1.2.44", 1)
	zf = strings.Replace(zf, "hr.intra     IN TXT   \"hrportal-internal\"\n", "", 1)
	write(t, filepath.Join(s.Dir, "internal.zone"), zf)
	harness.Eventually(t, 20*time.Second, "the internal view to take the edited file", func() bool {
		return in.serial(t) != int0
	})
	int1 := in.serial(t)
	r, err := in.query("newhost.hostpool.intra.example.test.", dns.TypeA, mode{})
	if err != nil || len(r.Answer) != 1 {
		t.Fatalf("newhost internally: %v %v", r, err)
	}
	// Nothing external moved so far; the change in every view below (a later
	// event, committed after this one) proves it never will: the external
	// IXFR from ext0 then holds exactly that one change.
	if got := ext.serial(t); got != ext0 {
		t.Fatalf("an internal-only change moved the external serial %d -> %d", ext0, got)
	}
	if rrs := extIXFR(ext0); len(rrs) != 1 {
		t.Fatalf("external IXFR after an internal-only change is not up to date: %v", rrs)
	}
	rrs := intIXFR(int0)
	if s := fmt.Sprint(rrs); !strings.Contains(s, "10.3.9.9") || !strings.Contains(s, "10.1.2.44") || !strings.Contains(s, "hrportal-internal") {
		t.Fatalf("internal IXFR %d -> %d lacks the change: %v", int0, int1, rrs)
	}
	if got := harness.Metric(t, s.metrics, "coredns_dnspki_zone_serial", map[string]string{"zone": zone, "view": "external"}); uint32(got) != ext0 {
		t.Errorf("external serial metric %v after an internal change, want %d", got, ext0)
	}

	// A change in every view (a second challenge value, set from outside):
	// each view journals it; the external IXFR has only it.
	if out, err := nsupdate(t, ext.server, "127.0.0.2", keyACME, "update add _acme-challenge.git.intra.example.test. 60 TXT "+acmeValue2); err != nil {
		t.Fatalf("nsupdate: %v\n%s", err, out)
	}
	ext1, int2 := ext.serial(t), in.serial(t)
	if ext1 == ext0 || int2 == int1 {
		t.Fatalf("a change in every view: serials external %d -> %d, internal %d -> %d", ext0, ext1, int1, int2)
	}
	rrs = extIXFR(ext0)
	var body []dns.RR
	for _, rr := range rrs {
		if rr.Header().Rrtype != dns.TypeSOA {
			body = append(body, rr)
		}
	}
	if len(body) != 1 || !strings.Contains(body[0].String(), acmeValue2) || len(rrs)-len(body) != 4 {
		t.Errorf("external IXFR %d -> %d: %v; want one difference sequence (4 SOA) adding only the challenge: the internal-only change must not be in the external journal", ext0, ext1, rrs)
	}
	rrs = intIXFR(int1)
	if s := fmt.Sprint(rrs); !strings.Contains(s, acmeValue2) || strings.Contains(s, "10.3.9.9") {
		t.Errorf("internal IXFR %d -> %d: %v", int1, int2, rrs)
	}
	// And the whole external journal still leaks nothing.
	extIXFR(2026010100)
}

// run sends the probes with a few workers and hands each answer to check.
func run(probes []probe, check func(probe, *dns.Msg, error)) {
	ch := make(chan probe)
	var wg sync.WaitGroup
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := range ch {
				r, err := p.cl.query(p.name, p.qtype, p.md)
				check(p, r, err)
			}
		}()
	}
	for _, p := range probes {
		ch <- p
	}
	close(ch)
	wg.Wait()
}

func hasType(rrs []dns.RR, t uint16) bool {
	for _, rr := range rrs {
		if rr.Header().Rrtype == t {
			return true
		}
	}
	return false
}

func mixCase(s string) string { return harness.MixCase(s) }

func onlyTypes(rrs []dns.RR, types ...uint16) bool {
	for _, rr := range rrs {
		if !slices.Contains(types, rr.Header().Rrtype) {
			return false
		}
	}
	return true
}

func typeName(t uint16) string {
	if s, ok := dns.TypeToString[t]; ok {
		return s
	}
	return fmt.Sprintf("TYPE%d", t)
}
