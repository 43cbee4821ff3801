package tsigauth

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/plugin/test"
	"github.com/miekg/dns"
)

// FuzzAuthenticate feeds arbitrary messages through a block's gate (with a
// DNS server in the context that holds the block's secrets, its check
// computed as CoreDNS's server computes it). Properties: no panic; a
// message that reaches the plugins with a key has exactly one TSIG record,
// last, naming that key with its algorithm, and its MAC verifies with the
// key; a refused message gets one answer and never reaches the plugins.
func FuzzAuthenticate(f *testing.F) {
	md5k := mustKey(f, "acme-md5.", "hmac-md5", md5Secret)
	sha := mustKey(f, "acme-www.", "hmac-sha256", shaSecret)
	// Seeds: valid signed UPDATEs and queries, two TSIG records, misplaced
	// OPT, a plain query.
	for _, k := range []struct {
		name, alg, secret string
	}{{md5k.Name, md5k.Algorithm, md5k.Secret}, {sha.Name, sha.Algorithm, sha.Secret}} {
		key := mustKey(f, k.name, k.alg, k.secret)
		m := updateMsg()
		m.SetTsig(key.Name, key.Algorithm, 300, time.Now().Unix())
		b, _, _ := dns.TsigGenerateWithProvider(m, key.Provider(), "", false)
		f.Add(b)
		two := append([]byte(nil), b...)
		extra := garbageTSIG(sha.Name, dns.HmacSHA256)
		buf := make([]byte, 512)
		n, _ := dns.PackRR(extra, buf, 0, nil, false)
		two = append(two, buf[:n]...)
		two[11]++
		f.Add(two)
	}
	q := new(dns.Msg)
	q.SetQuestion("www.example.test.", dns.TypeA)
	q.SetEdns0(1232, true)
	b, _ := q.Pack()
	f.Add(b)

	block := NewTestBlock(md5k, sha)
	secrets := block.Ring.Secrets()
	ctx := context.WithValue(context.Background(), dnsserver.Key{}, &dnsserver.Server{Addr: "dns://127.0.0.1:53", TsigSecret: secrets})
	f.Fuzz(func(t *testing.T, raw []byte) {
		r := new(dns.Msg)
		if err := r.Unpack(raw); err != nil || len(r.Question) == 0 {
			return
		}
		var reached *Identity
		g := block.Gate(test.HandlerFunc(func(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
			id, ok := Of(ctx, r)
			if !ok {
				t.Fatal("reached the plugins without a decision")
			}
			reached = &id
			return 0, nil
		}))
		// The server's own check, as miekg/dns computes it on the bytes.
		w := &statusWriter{}
		if r.IsTsig() != nil {
			w.status = dns.TsigVerify(append([]byte(nil), raw...), secrets[r.IsTsig().Hdr.Name], "", false)
			if _, ok := secrets[r.IsTsig().Hdr.Name]; !ok {
				w.status = dns.ErrSecret
			}
		}
		g.ServeDNS(ctx, w, r)
		if reached == nil {
			if w.writes != 1 {
				t.Fatalf("refused with %d answers", w.writes)
			}
			return
		}
		if reached.Key == nil {
			return
		}
		n := 0
		for _, rr := range append(append(append([]dns.RR{}, r.Answer...), r.Ns...), r.Extra...) {
			if rr.Header().Rrtype == dns.TypeTSIG {
				n++
			}
		}
		last := r.Extra[len(r.Extra)-1]
		tsig, ok := last.(*dns.TSIG)
		if n != 1 || !ok || !strings.EqualFold(tsig.Hdr.Name, reached.Key.Name) {
			t.Fatalf("accepted with %d TSIG records, last %v, as %s", n, last, reached.Key.Name)
		}
		if verifyEncoded(r, *reached.Key) != nil && dns.TsigVerifyWithProvider(append([]byte(nil), raw...), reached.Key.Provider(), "", false) != nil {
			t.Fatalf("accepted as %s, but the MAC does not verify with it", reached.Key.Name)
		}
	})
}

type statusWriter struct {
	test.ResponseWriter
	status error
	writes int
}

func (w *statusWriter) TsigStatus() error           { return w.status }
func (w *statusWriter) WriteMsg(*dns.Msg) error     { w.writes++; return nil }
func (w *statusWriter) Write(b []byte) (int, error) { w.writes++; return len(b), nil }
