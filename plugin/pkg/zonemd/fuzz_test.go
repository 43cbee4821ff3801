package zonemd

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// FuzzVerify feeds zone text (what a transfer or a zone file could carry)
// to Verify and Compute: no panic, and a zone Verify accepts keeps being
// accepted with its records in another order.
func FuzzVerify(f *testing.F) {
	for _, p := range []string{"testdata/rfc8976-a1.zone", "testdata/rfc8976-a2.zone", "testdata/rfc8976-a3.zone"} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	f.Fuzz(func(t *testing.T, text string) {
		zp := dns.NewZoneParser(strings.NewReader(text), "example.", "fuzz")
		var rrs []dns.RR
		for rr, ok := zp.Next(); ok && len(rrs) < 1000; rr, ok = zp.Next() {
			rrs = append(rrs, rr)
		}
		if _, err := Compute("example.", rrs, HashSHA384); err != nil {
			return
		}
		err := Verify("example.", rrs)
		var m *Mismatch
		if err != nil && !errors.As(err, &m) && !errors.Is(err, ErrNoZONEMD) && !errors.Is(err, ErrUnsupported) {
			t.Fatalf("Verify: unexpected error %v", err)
		}
		if err == nil {
			rev := make([]dns.RR, len(rrs))
			for i, rr := range rrs {
				rev[len(rrs)-1-i] = rr
			}
			if err := Verify("example.", rev); err != nil {
				t.Fatalf("verified zone fails in reverse order: %v", err)
			}
		}
	})
}
