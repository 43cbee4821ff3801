package wrapped

import (
	"errors"
	"testing"

	"github.com/coredns/coredns/plugin/pkg/dnstest"
	"github.com/coredns/coredns/plugin/test"
	"github.com/miekg/dns"
)

func TestFinishWritesWhatTheServerWould(t *testing.T) {
	r := new(dns.Msg)
	r.SetQuestion("nowhere.test.", dns.TypeA)
	for _, tc := range []struct {
		rc      int
		written bool
		write   bool // Finish writes
		ret     int
	}{
		{dns.RcodeRefused, false, true, dns.RcodeSuccess},
		{dns.RcodeServerFailure, false, true, dns.RcodeSuccess},
		{dns.RcodeRefused, true, false, dns.RcodeRefused},
		{dns.RcodeSuccess, false, false, dns.RcodeSuccess},
		{dns.RcodeNameError, false, false, dns.RcodeNameError},
	} {
		rec := dnstest.NewRecorder(&test.ResponseWriter{})
		want := errors.New("next failed")
		rc, err := Finish(rec, r, tc.written, tc.rc, want)
		if err != want {
			t.Errorf("rc %d: error %v, want it unchanged", tc.rc, err)
		}
		if rc != tc.ret {
			t.Errorf("rc %d written %v: returned %d, want %d", tc.rc, tc.written, rc, tc.ret)
		}
		if got := rec.Msg != nil; got != tc.write {
			t.Fatalf("rc %d written %v: wrote %v, want %v", tc.rc, tc.written, got, tc.write)
		}
		if tc.write && (rec.Msg.Rcode != tc.rc || len(rec.Msg.Question) != 1 || !rec.Msg.Response) {
			t.Errorf("rc %d: wrote %v", tc.rc, rec.Msg)
		}
	}
}
