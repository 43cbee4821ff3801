package authzone

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coredns/caddy"
	"github.com/miekg/dns"

	"github.com/dnspki/dnspki/plugin/pkg/zonemodel"
)

// brokenSigner is a signer whose key cannot sign: Render writes the
// unsigned answer into the reply first (as a signer failing halfway
// through would) and then fails; SignedZone fails.
type brokenSigner struct{}

var errKeyUnusable = errors.New("signing key unusable")

func (brokenSigner) Render(ctx context.Context, v *zonemodel.View, req *dns.Msg, resp *zonemodel.Response, m *dns.Msg) error {
	resp.Render(m)
	return errKeyUnusable
}

func (brokenSigner) SignedZone(ctx context.Context, v *zonemodel.View, snap *zonemodel.Snapshot) ([]dns.RR, error) {
	return nil, errKeyUnusable
}

// Fail closed: when the zone's signer fails, a query with DO gets SERVFAIL
// with no records (never the unsigned answer), over UDP and TCP, for
// answers, denials and TSIG-signed queries; a signed transfer fails. Queries
// without DO still get their (unsigned) answers.
func TestSigningFailureIsServfail(t *testing.T) {
	dir := t.TempDir()
	zf := filepath.Join(dir, "db")
	writeZone(t, zf, testZoneText(1, "*.wild IN TXT \"w\"\n"))
	body := strings.ReplaceAll(primaryBody(zf, "transfer to 127.0.0.1 key "+testKey+" signed"), "STATE", filepath.Join(dir, "state"))
	a, reg, err := build(caddy.NewTestController("dns", "authzone example.test {\n"+body+"\n}"))
	if err != nil {
		t.Fatal(err)
	}
	reg.Bind("example.test.", zonemodel.Binding{Plugin: "test", Attach: func(z *zonemodel.Zone) error {
		z.SetSigner(brokenSigner{})
		return nil
	}})
	s := serve(t, a, reg, dir, "")

	ask := func(name string, qtype uint16, do, tcp, tsig bool) *dns.Msg {
		t.Helper()
		m := new(dns.Msg)
		m.SetQuestion(name, qtype)
		m.SetEdns0(1232, do)
		c := &dns.Client{Timeout: 3 * time.Second}
		if tcp {
			c.Net = "tcp"
		}
		if tsig {
			m.SetTsig(testKey, dns.HmacSHA256, 300, time.Now().Unix())
			c.TsigSecret = map[string]string{testKey: testSecret}
		}
		r, _, err := c.Exchange(m, s.addr)
		if err != nil {
			t.Fatalf("%s %s: %v", name, dns.TypeToString[qtype], err)
		}
		return r
	}
	for _, q := range []struct {
		name  string
		qtype uint16
	}{
		{"www.example.test.", dns.TypeA},         // an answer
		{"www.example.test.", dns.TypeTXT},       // NODATA
		{"nope.example.test.", dns.TypeA},        // NXDOMAIN
		{"x.wild.example.test.", dns.TypeTXT},    // a wildcard answer
		{"example.test.", dns.TypeSOA},           // the apex
		{"example.test.", dns.TypeDNSKEY},        // what a validator asks first
		{"www.example.test.", dns.TypeANY},       // ANY
		{"www.example.test.", dns.TypeRRSIG},     // explicit RRSIG
		{"sub.www.example.test.", dns.TypeCNAME}, // below a name
	} {
		for _, tcp := range []bool{false, true} {
			for _, tsig := range []bool{false, true} {
				r := ask(q.name, q.qtype, true, tcp, tsig)
				extra := 0
				for _, rr := range r.Extra {
					if rt := rr.Header().Rrtype; rt != dns.TypeOPT && rt != dns.TypeTSIG {
						extra++
					}
				}
				if r.Rcode != dns.RcodeServerFailure || len(r.Answer) != 0 || len(r.Ns) != 0 || extra != 0 {
					t.Errorf("%s %s DO (tcp %v, tsig %v): want SERVFAIL without records, got\n%v", q.name, dns.TypeToString[q.qtype], tcp, tsig, r)
				}
				if r.IsEdns0() == nil {
					t.Errorf("%s %s DO: the SERVFAIL has no OPT record", q.name, dns.TypeToString[q.qtype])
				}
			}
		}
	}
	// Without DO the answer needs no signature.
	if r := ask("www.example.test.", dns.TypeA, false, false, false); r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
		t.Errorf("www A without DO: %v", r)
	}
	if r := ask("nope.example.test.", dns.TypeA, false, true, false); r.Rcode != dns.RcodeNameError {
		t.Errorf("nope A without DO: %v", r)
	}
	// A signed transfer cannot be made: no records.
	if rrs, err := axfr(t, s.addr, testKey, testSecret); err == nil || len(rrs) != 0 {
		t.Errorf("signed AXFR with a broken signer: %v, %d records", err, len(rrs))
	}
}
