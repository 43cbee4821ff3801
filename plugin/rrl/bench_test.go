package rrl

import (
	"context"
	"testing"
	"time"

	"github.com/coredns/coredns/plugin/test"
	"github.com/miekg/dns"
)

// BenchmarkAnswer is the cost rrl adds to an answer that passes
// (classification, the bucket's hash, one table lookup): compare "rrl" with
// "zone alone" (the test zone making the answer, the writer discarding it).
func BenchmarkAnswer(b *testing.B) {
	r := query("www.example.test.", dns.TypeA)
	w := &test.ResponseWriter{}
	b.Run("zone alone", func(b *testing.B) {
		z := &zoneAnswers{}
		b.ReportAllocs()
		for b.Loop() {
			z.ServeDNS(context.Background(), w, r)
		}
	})
	b.Run("rrl", func(b *testing.B) {
		l := &RRL{Next: &zoneAnswers{}, slip: 2, v4Bits: 24, v6Bits: 56, now: time.Now, table: newTable(defaultTableSize, time.Now())}
		for c := range l.interval {
			l.interval[c] = 1 // a billion a second: everything passes
		}
		b.ReportAllocs()
		for b.Loop() {
			l.ServeDNS(context.Background(), w, r)
		}
	})
}
