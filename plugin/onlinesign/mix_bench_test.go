package onlinesign

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/miekg/dns"
	dto "github.com/prometheus/client_model/go"

	"github.com/dnspki/dnspki/plugin/pkg/zonemodel"
)

func benchMix(b *testing.B, signed bool) {
	zf, err := os.Open("/tmp/dns-bench/data/bench.test.zone")
	if err != nil {
		b.Skip("no bench zone")
	}
	zd, err := zonemodel.ParseZone(zf, "bench.test.", "bench")
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	cfg := defaultConfig()
	cfg.origin = "bench.test."
	cfg.keyDir = dir + "/keys"
	if n := os.Getenv("DENIAL_CACHE"); n != "" {
		fmt.Sscan(n, &cfg.cacheDen)
	}
	m, err := acquireManager(cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer m.release()
	z := zonemodel.New(zonemodel.Config{Origin: "bench.test.", StateDir: dir})
	base, _ := z.AddSource("file", zonemodel.SourceOptions{Base: true})
	base.SetInitial(nil, zd.RRs)
	m.attach(z)
	z.Open()
	defer z.Close()
	qf, _ := os.Open("/tmp/dns-bench/data/queries.txt")
	var qs []*dns.Msg
	sc := bufio.NewScanner(qf)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		q := new(dns.Msg)
		q.SetQuestion(dns.Fqdn(f[0]), dns.StringToType[f[1]])
		q.SetEdns0(1232, true)
		qs = append(qs, q)
	}
	v := z.View("")
	s := z.Signer()
	buf := make([]byte, 4096)
	run := func(req *dns.Msg) {
		resp := v.Snapshot().Lookup(strings.ToLower(req.Question[0].Name), req.Question[0].Qtype, zonemodel.Options{DO: true})
		m := new(dns.Msg)
		m.SetReply(req)
		if signed {
			if err := s.Render(context.Background(), v, req, resp, m); err != nil {
				b.Fatal(err)
			}
		} else {
			resp.Render(m)
		}
		m.PackBuffer(buf)
	}
	for _, q := range qs { // warm the caches
		run(q)
	}
	d0 := val(signatures.WithLabelValues("bench.test.", "denial"))
	r0 := val(signatures.WithLabelValues("bench.test.", "rrset"))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		run(qs[i%len(qs)])
	}
	b.StopTimer()
	b.Logf("signatures during the run: %v denial, %v rrset; denial cache %d", val(signatures.WithLabelValues("bench.test.", "denial"))-d0, val(signatures.WithLabelValues("bench.test.", "rrset"))-r0, m.signer.den.len())
}

func BenchmarkMixUnsigned(b *testing.B) { benchMix(b, false) }
func BenchmarkMixSigned(b *testing.B)   { benchMix(b, true) }

func val(c interface{ Write(*dto.Metric) error }) float64 {
	var m dto.Metric
	c.Write(&m)
	return m.GetCounter().GetValue()
}
