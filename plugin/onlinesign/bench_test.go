package onlinesign

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/dnspki/dnspki/plugin/pkg/zonemodel"
)

func benchAnswer(b *testing.B, name string, qtype uint16, signed bool, unique bool) {
	z, _ := testSigner(b, SchemeCSK, dns.ECDSAP256SHA256)
	v := z.View("")
	req := new(dns.Msg)
	req.SetQuestion(name, qtype)
	req.SetEdns0(1232, true)
	s := z.Signer()
	buf := make([]byte, 4096)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		q := name
		if unique {
			q = fmt.Sprintf("n%d.%s", i, name)
		}
		resp := v.Snapshot().Lookup(q, qtype, zonemodel.Options{DO: true})
		m := new(dns.Msg)
		m.SetReply(req)
		if signed {
			if err := s.Render(context.Background(), v, req, resp, m); err != nil {
				b.Fatal(err)
			}
		} else {
			resp.Render(m)
		}
		if _, err := m.PackBuffer(buf); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkUnsignedA(b *testing.B) { benchAnswer(b, "www.example.test.", dns.TypeA, false, false) }
func BenchmarkSignedA(b *testing.B)   { benchAnswer(b, "www.example.test.", dns.TypeA, true, false) }
func BenchmarkUnsignedNX(b *testing.B) {
	benchAnswer(b, "nothere.example.test.", dns.TypeA, false, false)
}
func BenchmarkSignedNXCached(b *testing.B) {
	benchAnswer(b, "nothere.example.test.", dns.TypeA, true, false)
}
func BenchmarkSignedNXFresh(b *testing.B) { benchAnswer(b, "example.test.", dns.TypeA, true, true) }
func BenchmarkSignedWildcard(b *testing.B) {
	benchAnswer(b, "x.wild.example.test.", dns.TypeA, true, false)
}

// benchChainZone is a signer over a zone of n TXT names, its online
// signature cache off (every signature of a cold build is made by it).
func benchChainZone(b *testing.B, n int) (*zonemodel.Zone, *manager) {
	b.Helper()
	dir := b.TempDir()
	cfg := defaultConfig()
	cfg.origin = "example.test."
	cfg.keyDir = dir + "/keys"
	cfg.cacheSet = 0
	m, err := acquireManager(cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(m.release)
	z := zonemodel.New(zonemodel.Config{Origin: "example.test.", StateDir: dir})
	base, err := z.AddSource("file", zonemodel.SourceOptions{Base: true})
	if err != nil {
		b.Fatal(err)
	}
	var sb strings.Builder
	sb.WriteString(testZone)
	for i := 0; i < n; i++ {
		fmt.Fprintf(&sb, "bulk%d IN TXT \"bulk record %d\"\n", i, i)
	}
	zd, err := zonemodel.ParseZone(strings.NewReader(sb.String()), "example.test.", "bench.zone")
	if err != nil {
		b.Fatal(err)
	}
	if err := base.SetInitial(nil, zd.RRs); err != nil {
		b.Fatal(err)
	}
	if err := m.attach(z); err != nil {
		b.Fatal(err)
	}
	if err := z.Open(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(z.Close)
	return z, m
}

// BenchmarkSignedZoneCold: a signed zone of 20 000 names built from nothing
// (every RRset and NSEC signed), per build.
func BenchmarkSignedZoneCold(b *testing.B) {
	z, m := benchChainZone(b, 20000)
	v := z.View("")
	b.ResetTimer()
	var n int
	for i := 0; i < b.N; i++ {
		m.signer.chainMu.Lock()
		m.signer.chains = nil
		m.signer.chainMu.Unlock()
		rrs, err := m.signer.SignedZone(context.Background(), v, v.Snapshot())
		if err != nil {
			b.Fatal(err)
		}
		n = len(rrs)
	}
	b.ReportMetric(float64(n), "records")
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkSignedZoneChange: the signed zone of 20 000 names after a change
// of one record (the SOA, one RRset and two NSEC records signed again).
func BenchmarkSignedZoneChange(b *testing.B) {
	z, m := benchChainZone(b, 20000)
	v := z.View("")
	if _, err := m.signer.SignedZone(context.Background(), v, v.Snapshot()); err != nil {
		b.Fatal(err)
	}
	src := z.Source("file")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		if err := src.Update(nil, func(tx *zonemodel.Tx) error {
			rr, _ := dns.NewRR(fmt.Sprintf("bulk7.example.test. 3600 IN TXT \"changed %d\"", i))
			tx.DeleteRRset("bulk7.example.test.", dns.TypeTXT)
			tx.Add(rr)
			return nil
		}); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if _, err := m.signer.SignedZone(context.Background(), v, v.Snapshot()); err != nil {
			b.Fatal(err)
		}
	}
}
