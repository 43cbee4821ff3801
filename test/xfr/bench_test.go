package xfr

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/dnspki/dnspki/test/harness"
)

// Benchmarks of transfers (not query QPS; see bench/README.md):
//
//	go test -run XXX -bench . -benchtime 20x ./test/xfr/
//
// BenchmarkPropagation: time from a change committed on dnspki (first
// answered there) to Knot, BIND, NSD and another dnspki answering it, each
// a TSIG secondary notified by dnspki. Reported per secondary: median, p95
// and max. (The end-to-end tests only check that changes arrive; this is
// where how fast is measured. A change should reach each within 2 s.)
func BenchmarkPropagation(b *testing.B) {
	harness.Need(b, "knotd", "named", "nsd")
	dir := b.TempDir()
	zf := filepath.Join(dir, "example.test.zone")
	writeAtomic(b, zf, zoneText(2026010100, 3600, 600, 1209600, bulk(1000)))
	port := harness.FreePort(b)
	kp, bp, np, dp := harness.FreePort(b), harness.FreePort(b), harness.FreePort(b), harness.FreePort(b)
	primary := harness.Addr(port)
	cf := fmt.Sprintf(`example.test:%d {
    bind 127.0.0.1
    authzone example.test {
        file %s
        state %s
        %s
        %s
        %s
        %s
        transfer to 127.0.0.1 key knot-key. bind-key. nsd-key. xfr-key.
        notify 127.0.0.1:%d key knot-key.
        notify 127.0.0.1:%d key bind-key.
        notify 127.0.0.1:%d key nsd-key.
        notify 127.0.0.1:%d key xfr-key.
    }
}
`, port, zf, filepath.Join(dir, "state"), keyLine(knotKey), keyLine(bindKey), keyLine(nsdKey), keyLine(xfrKey), kp, bp, np, dp)
	srv := harness.StartDnspki(b, dir, cf, port)
	serial := harness.WaitServes(b, primary, zone, 0, 30*time.Second, srv.Proc)
	sec := func(k *harness.TSIGKey) harness.PeerZone {
		return harness.PeerZone{Name: zone, Primary: primary, PrimaryKey: k}
	}
	addrs := map[string]string{
		"knot": harness.StartKnot(b, kp, sec(knotKey)).Addr,
		"bind": harness.StartBind(b, bp, sec(bindKey)).Addr,
		"nsd":  harness.StartNSD(b, np, sec(nsdKey)).Addr,
		"dnspki-secondary": startDnspki(b, b.TempDir(), dp,
			fmt.Sprintf("primary %s key %s", primary, xfrKey.Name), keyLine(xfrKey)).Addr,
	}
	for _, a := range addrs {
		harness.WaitServes(b, a, zone, serial, 30*time.Second, nil)
	}
	lat := map[string][]time.Duration{}
	ch := zoneFileChange(zf)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		// Changes a second apart: NSD reloads at most once a second.
		time.Sleep(1100 * time.Millisecond)
		for name, d := range propagate(b, primary, addrs, ch, fmt.Sprintf("_acme-challenge.b%d.example.test.", i), fmt.Sprint(i)) {
			lat[name] = append(lat[name], d)
		}
	}
	b.StopTimer()
	for _, name := range []string{"bind", "knot", "nsd", "dnspki-secondary"} {
		ds := lat[name]
		slices.Sort(ds)
		if len(ds) == 0 {
			continue
		}
		p := func(q float64) float64 {
			return float64(ds[min(len(ds)-1, int(q*float64(len(ds))))].Microseconds()) / 1000
		}
		b.ReportMetric(p(0.5), name+"-p50-ms")
		b.ReportMetric(p(0.95), name+"-p95-ms")
		b.ReportMetric(float64(ds[len(ds)-1].Microseconds())/1000, name+"-max-ms")
	}
}

// BenchmarkAXFR: a TSIG-signed AXFR of a zone of 100 000 TXT records from
// dnspki, read with miekg/dns (every message's TSIG verified).
func BenchmarkAXFR(b *testing.B) {
	dir := b.TempDir()
	zf := filepath.Join(dir, "example.test.zone")
	writeAtomic(b, zf, zoneText(2026010100, 3600, 600, 1209600, bulk(100000)))
	port := harness.FreePort(b)
	cf := fmt.Sprintf(`example.test:%d {
    bind 127.0.0.1
    authzone example.test {
        file %s
        state %s
        %s
        transfer to 127.0.0.1 key xfr-key.
    }
}
`, port, zf, filepath.Join(dir, "state"), keyLine(xfrKey))
	srv := harness.StartDnspki(b, dir, cf, port)
	harness.WaitServes(b, srv.Addr, zone, 0, 60*time.Second, srv.Proc)
	b.ResetTimer()
	var rrs, msgs int
	for i := 0; i < b.N; i++ {
		m := new(dns.Msg)
		m.SetAxfr(zone)
		m.SetTsig(xfrKey.Name, dns.HmacSHA256, 300, time.Now().Unix())
		tr := &dns.Transfer{TsigSecret: map[string]string{xfrKey.Name: xfrKey.Secret}, ReadTimeout: 30 * time.Second}
		ch, err := tr.In(m, srv.Addr)
		if err != nil {
			b.Fatal(err)
		}
		rrs, msgs = 0, 0
		for e := range ch {
			if e.Error != nil {
				b.Fatal(e.Error)
			}
			rrs += len(e.RR)
			msgs++
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(rrs), "records/xfr")
	b.ReportMetric(float64(msgs), "messages/xfr")
	b.ReportMetric(float64(rrs)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// axfr transfers the zone from addr with TSIG key k (every message's TSIG
// verified) and returns the records and messages received.
func axfr(b *testing.B, addr string, k *harness.TSIGKey) (rrs, msgs int) {
	b.Helper()
	m := new(dns.Msg)
	m.SetAxfr(zone)
	m.SetTsig(k.Name, dns.HmacSHA256, 300, time.Now().Unix())
	tr := &dns.Transfer{TsigSecret: map[string]string{k.Name: k.Secret}, ReadTimeout: 120 * time.Second}
	ch, err := tr.In(m, addr)
	if err != nil {
		b.Fatal(err)
	}
	for e := range ch {
		if e.Error != nil {
			b.Fatal(e.Error)
		}
		rrs += len(e.RR)
		msgs++
	}
	return rrs, msgs
}

// BenchmarkSignedAXFR: a signed transfer (`transfer ... signed`, NSEC
// chain, one ECDSAP256SHA256 CSK) of a zone of 100 000 TXT names from
// dnspki. The online signature cache is off (`cache 0`), so the first
// transfer signs every RRset and every NSEC (cold); the timed loop is the
// repeated transfer of the same serial (several secondaries asking: the
// signed zone is cached per snapshot); after a one-record change the next
// transfer signs only the changed RRsets and the NSEC records around them.
// CHAIN=nsec3 in the environment uses NSEC3.
func BenchmarkSignedAXFR(b *testing.B) {
	dir := b.TempDir()
	zf := filepath.Join(dir, "example.test.zone")
	writeAtomic(b, zf, zoneText(2026010100, 3600, 600, 1209600, bulk(100000)))
	port := harness.FreePort(b)
	chain := "nsec"
	if c := os.Getenv("CHAIN"); c != "" {
		chain = c
	}
	cf := fmt.Sprintf(`example.test:%d {
    bind 127.0.0.1
    onlinesign example.test {
        keys %s
        cache 0
        chain %s
    }
    authzone example.test {
        file %s
        state %s
        %s
        transfer to 127.0.0.1 key xfr-key. signed
    }
}
`, port, filepath.Join(dir, "keys"), chain, zf, filepath.Join(dir, "state"), keyLine(xfrKey))
	srv := harness.StartDnspki(b, dir, cf, port)
	harness.WaitServes(b, srv.Addr, zone, 0, 60*time.Second, srv.Proc)

	start := time.Now()
	rrs, msgs := axfr(b, srv.Addr, xfrKey)
	cold := time.Since(start)

	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		axfr(b, srv.Addr, xfrKey)
	}
	b.StopTimer()
	cached := b.Elapsed() / time.Duration(b.N)

	serial := harness.MustSerial(b, srv.Addr, zone)
	zoneFileChange(zf)(b, "bulk5.example.test.", "changed")
	harness.WaitServes(b, srv.Addr, zone, serial+1, 30*time.Second, srv.Proc)
	start = time.Now()
	axfr(b, srv.Addr, xfrKey)
	changed := time.Since(start)

	b.ReportMetric(float64(rrs), "records/xfr")
	b.ReportMetric(float64(msgs), "messages/xfr")
	b.ReportMetric(cold.Seconds(), "first-s")
	b.ReportMetric(float64(rrs)/cold.Seconds(), "first-records/s")
	b.ReportMetric(cached.Seconds(), "cached-s")
	b.ReportMetric(float64(rrs)/cached.Seconds(), "cached-records/s")
	b.ReportMetric(changed.Seconds(), "after-change-s")
}
