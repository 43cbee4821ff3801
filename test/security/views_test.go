package security

import (
	"fmt"
	"net"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/dnspki/dnspki/test/harness"
)

// TestViewUnawarePluginsDoNotStart is attack 3 of issue 14: the stock
// cache beside the views served the internal view's answer to an external
// client. A server block with horizon and cache, or horizon and the stock
// transfer plugin (it transfers the default view to whoever its ACL lets
// in), does not start; the error names the plugin, the file and line, why,
// and the fix.
func TestViewUnawarePluginsDoNotStart(t *testing.T) {
	for _, c := range []struct {
		stock string
		want  []string
	}{
		{"    cache 30", []string{
			`Corefile:\d+ - Error during parsing|Corefile:\d+`,
			`the cache plugin cannot share a server block with horizon`,
			`caches answers by name and type, not by view`,
			`remove cache from this server block`,
		}},
		{"    cache {\n        success 1000 30\n        denial 1000 30\n    }", []string{
			`the cache plugin cannot share a server block with horizon`,
		}},
		{"    transfer example.test {\n        to *\n    }", []string{
			`Corefile:\d+`,
			`the transfer plugin cannot share a server block with horizon`,
			`use authzone's own 'transfer to \.\.\. \[key K\] \[view V\]' lines`,
		}},
	} {
		dir := t.TempDir()
		write(t, filepath.Join(dir, "public.zone"), publicZone)
		write(t, filepath.Join(dir, "internal.zone"), internalZone)
		write(t, filepath.Join(dir, "stock.zone"), zoneFile("stock.test."))
		mustNotStart(t, dir, fixtureCorefile(harness.FreePort(t), harness.FreePort(t), "", c.stock), c.want...)
	}
}

// stockPlugins is every other stock plugin of the build (cmd/dnspki
// directives.go) in the fixture's server block, configured the way an
// operator might: a stock view named like the internal view whose
// expression lets every test client in, the stock tsig plugin for another
// zone, debug (no panic recovery), and online signing for DO answers.
func stockPlugins(t *testing.T) string {
	return fmt.Sprintf(`    root .
    metadata
    cancel
    timeouts {
        read 10s
        write 10s
        idle 20s
    }
    reload 10s
    nsid dnspki-security-test
    bufsize 1232
    debug
    ready 127.0.0.1:%d
    health 127.0.0.1:%d
    pprof 127.0.0.1:%d
    log
    any
    chaos dnspki-security-test hostmaster@example.test
    acl {
        block type HINFO net 192.0.2.0/24
        allow net *
    }
    minimal
    whoami
    view internal {
        expr incidr(client_ip(), '127.0.0.0/8')
    }
    tsig stock.test {
        secret %s %s
    }
    on startup /bin/true
    onlinesign example.test
`, harness.FreePort(t), harness.FreePort(t), harness.FreePort(t), keyStock.Name, keyStock.Secret)
}

// TestStockPluginsBesideViews: with every other stock plugin of the build
// beside the views, an external client (127.0.0.2) probes every internal
// name, its neighbours and names that never existed, with every type, ANY,
// with and without EDNS and DO, over UDP and TCP, in mixed case, with EDNS
// Client Subnet claiming internal networks; asks CH TXT; walks NSEC and
// NSEC3 with DO; tries AXFR and IXFR with no key, an ACME key, a key of
// nobody, and the external view's key. No internal name, label or address
// appears in any answer, an internal-only name gets the same rcode as a
// name that never existed, and the internal client still gets the internal
// data (so there is something to leak).
func TestStockPluginsBesideViews(t *testing.T) {
	f := startFixtureWith(t, "", stockPlugins(t))
	sec := zoneSecrets(t)
	harness.Eventually(t, 20*time.Second, "DNSKEY published", func() bool {
		r, err := f.in.Exchange(queryMsg(zone, dns.TypeDNSKEY), false)
		return err == nil && len(r.Answer) > 0
	})
	// The internal view is there, through all those plugins.
	for _, c := range []struct{ name, want string }{{"www.intra.example.test.", "10.1.2.3"}, {"mail.example.test.", "10.1.2.25"}, {"vpnzq.example.test.", "10.0.0.1"}} {
		r, err := f.in.Exchange(queryMsg(c.name, dns.TypeA), false)
		if err != nil || !strings.Contains(fmt.Sprint(r.Answer), c.want) {
			t.Fatalf("internal %s: %v %v", c.name, r, err)
		}
	}

	// The probe names: internal names, neighbours, controls that never
	// existed (a sibling label), the public names.
	names := map[string]string{} // name -> its never-existed control ("" none)
	for _, n := range sec.Names {
		first, parent, _ := strings.Cut(n, ".")
		names[n] = "nxzzq." + parent
		names["probe."+n] = "nxzzq." + n
		names[first+"x."+parent] = "nxzzq." + parent
		names[`\000.`+n] = "nxzzq." + n
	}
	// Names that exist publicly (owners, empty non-terminals, what the
	// public wildcard and delegation cover) are probed but not compared.
	for _, rr := range harness.ParseZone(t, zone, publicZone) {
		for _, a := range harness.Ancestors(zone, strings.ToLower(rr.Header().Name)) {
			names[a] = ""
		}
	}
	for n := range names {
		if strings.HasSuffix(n, ".apps.example.test.") || strings.HasSuffix(n, ".sub.example.test.") {
			names[n] = ""
		}
	}
	type probe struct {
		name  string
		qtype uint16
		edns  int // 0 none, 1 EDNS, 2 DO, 3 DO + ECS 10.1.2.0/24, 4 DO + ECS fd00::/64
		tcp   bool
	}
	var probes []probe
	for n := range names {
		for _, qt := range harness.ProbeTypes {
			for e := 0; e < 3; e++ {
				probes = append(probes, probe{n, qt, e, false})
			}
		}
		for _, qt := range []uint16{dns.TypeA, dns.TypeAAAA, dns.TypeTXT, dns.TypeANY, dns.TypeNSEC} {
			probes = append(probes, probe{n, qt, 2, true}, probe{harness.MixCase(n), qt, 2, false}, probe{n, qt, 3, false}, probe{n, qt, 4, true})
		}
	}
	sort.Slice(probes, func(i, j int) bool { return probes[i].name < probes[j].name })
	query := func(p probe) (*dns.Msg, error) {
		m := queryMsg(p.name, p.qtype)
		switch p.edns {
		case 0:
			m.Extra = nil
		case 2, 3, 4:
			m.SetEdns0(1232, true)
		}
		if p.edns >= 3 {
			ecs := &dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: 1, SourceNetmask: 24, Address: net.IPv4(10, 1, 2, 0).To4()}
			if p.edns == 4 {
				ecs = &dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: 2, SourceNetmask: 64, Address: net.ParseIP("fd00::")}
			}
			m.IsEdns0().Option = append(m.IsEdns0().Option, ecs)
		}
		return f.ext.Exchange(m, p.tcp)
	}
	var mu sync.Mutex
	problems := map[string][]string{}
	fail := func(kind, format string, a ...any) {
		mu.Lock()
		defer mu.Unlock()
		problems[kind] = append(problems[kind], fmt.Sprintf(format, a...))
	}
	rcodes := map[string]int{} // name/type/edns -> rcode, for the controls
	answered := 0
	run := func(ps []probe, check func(p probe, r *dns.Msg)) {
		ch := make(chan probe)
		var wg sync.WaitGroup
		for range 6 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for p := range ch {
					r, err := query(p)
					if err != nil {
						fail("ERROR", "%s/%s edns=%d tcp=%v: %v", p.name, typeName(p.qtype), p.edns, p.tcp, err)
						continue
					}
					if l := sec.Leaks(p.name, harness.MsgRRs(r)); len(l) > 0 {
						fail("LEAK", "%s/%s edns=%d tcp=%v:\n  %s", p.name, typeName(p.qtype), p.edns, p.tcp, strings.Join(l, "\n  "))
					}
					mu.Lock()
					answered++
					mu.Unlock()
					check(p, r)
				}
			}()
		}
		for _, p := range ps {
			ch <- p
		}
		close(ch)
		wg.Wait()
	}
	key := func(name string, p probe) string {
		return fmt.Sprintf("%s/%d/%d/%v", strings.ToLower(name), p.qtype, p.edns, p.tcp)
	}
	// The controls first.
	var ctls []probe
	seen := map[string]bool{}
	for _, p := range probes {
		if c := names[strings.ToLower(p.name)]; c != "" && !seen[key(c, p)] {
			seen[key(c, p)] = true
			ctls = append(ctls, probe{c, p.qtype, p.edns, p.tcp})
		}
	}
	run(ctls, func(p probe, r *dns.Msg) {
		mu.Lock()
		rcodes[key(p.name, p)] = r.Rcode
		mu.Unlock()
	})
	run(probes, func(p probe, r *dns.Msg) {
		c := names[strings.ToLower(p.name)]
		if c == "" {
			return
		}
		mu.Lock()
		want, ok := rcodes[key(c, p)]
		mu.Unlock()
		if ok && r.Rcode != want {
			fail("UNLIKE", "%s/%s edns=%d tcp=%v: %s, but %s for %s (never existed)", p.name, typeName(p.qtype), p.edns, p.tcp, dns.RcodeToString[r.Rcode], dns.RcodeToString[want], c)
		}
	})
	t.Logf("%d names, %d probes and %d controls answered", len(names), len(probes), answered-len(probes))

	// CH TXT (chaos), whoami's and nsid's data.
	for _, n := range []string{"version.bind.", "hostname.bind.", "id.server.", "version.server.", "authors.bind.", zone, "www.intra.example.test."} {
		for _, class := range []uint16{dns.ClassCHAOS, dns.ClassANY, dns.ClassINET} {
			m := queryMsg(n, dns.TypeTXT)
			m.Question[0].Qclass = class
			m.IsEdns0().Option = append(m.IsEdns0().Option, &dns.EDNS0_NSID{Code: dns.EDNS0NSID})
			r, err := f.ext.Exchange(m, false)
			if err != nil {
				fail("ERROR", "%s %s TXT: %v", n, dns.ClassToString[class], err)
				continue
			}
			if l := sec.Leaks(n, harness.MsgRRs(r)); len(l) > 0 {
				fail("LEAK", "%s %s TXT: %v", n, dns.ClassToString[class], l)
			}
		}
	}

	// NSEC / NSEC3 walks with DO, from the apex and from internal names.
	start := []string{zone, "www.intra.example.test.", "vpnzq.example.test.", "a.example.test.", "intra.example.test."}
	harness.WalkNSEC(zone, start, 200, func(n string) []dns.RR {
		var got []dns.RR
		for _, qt := range []uint16{dns.TypeNSEC, dns.TypeNSEC3, dns.TypeNSEC3PARAM, dns.TypeA} {
			r, err := query(probe{n, qt, 2, false})
			if err != nil {
				fail("ERROR", "walk %s/%s: %v", n, typeName(qt), err)
				continue
			}
			if l := sec.Leaks(n, harness.MsgRRs(r)); len(l) > 0 {
				fail("LEAK", "walk %s/%s: %v", n, typeName(qt), l)
			}
			for _, rr := range harness.MsgRRs(r) {
				if v, ok := rr.(*dns.NSEC3); ok {
					fail("NSEC3", "walk %s/%s: an NSEC3 record (the zone is signed with compact denial): %s", n, typeName(qt), v)
				}
			}
			got = append(got, harness.MsgRRs(r)...)
		}
		return got
	})

	// Transfers from outside with no key, an ACME key, a key of nobody:
	// refused; with the external view's key: the external view only.
	nobody := &harness.TSIGKey{Name: "nobody.", Algorithm: "hmac-sha256", Secret: keyInt.Secret}
	serial := serialOf(t, f.ext)
	for _, k := range []*harness.TSIGKey{nil, keyWWW, nobody} {
		for _, m := range []*dns.Msg{axfrMsg(), ixfrMsg(serial - 1)} {
			for _, tcp := range []bool{true, false} {
				var raw []byte
				if k != nil {
					raw, _ = signNow(t, m, k)
				} else {
					raw, _ = m.Pack()
				}
				out, err := f.ext.Raw(raw, tcp)
				if err != nil {
					fail("ERROR", "%s with key %v: %v", m.Question[0].String(), k, err)
					continue
				}
				r := unpack(t, out)
				if r.Rcode == dns.RcodeSuccess || len(r.Answer) > 0 {
					fail("XFR", "%s tcp=%v with key %v from outside: %s", m.Question[0].String(), tcp, k, describe(r))
				}
				if l := sec.Leaks("", harness.MsgRRs(r)); len(l) > 0 {
					fail("LEAK", "%s with key %v: %v", m.Question[0].String(), k, l)
				}
			}
		}
	}
	for _, m := range []*dns.Msg{axfrMsg(), ixfrMsg(serial - 1)} {
		rrs, err := f.ext.Transfer(m, keyExt)
		if err != nil || len(rrs) < 5 {
			fail("XFR", "%s with xfr-external.: %v (%d records)", m.Question[0].String(), err, len(rrs))
		}
		if l := sec.Leaks("", rrs); len(l) > 0 {
			fail("LEAK", "%s with xfr-external.: %v", m.Question[0].String(), l)
		}
	}

	for _, kind := range []string{"LEAK", "UNLIKE", "XFR", "NSEC3", "ERROR"} {
		for i, p := range problems[kind] {
			if i == 20 {
				t.Errorf("... and %d more of kind %s", len(problems[kind])-20, kind)
				break
			}
			t.Errorf("%s %s", kind, p)
		}
	}
	if !regexp.MustCompile(`\[INFO\] 127\.0\.0\.2:\d+ - \d+ "A IN www\.intra\.example\.test\.`).MatchString(f.Output()) {
		t.Errorf("the log plugin did not log the probes")
	}
}

func typeName(t uint16) string {
	if s, ok := dns.TypeToString[t]; ok {
		return s
	}
	return fmt.Sprintf("TYPE%d", t)
}
