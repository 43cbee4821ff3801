// Package zonemd tests dnspki's zone digests (RFC 8976 ZONEMD) with
// independent tools: ldns-verify-zone checks the ZONEMD of what an AXFR
// returns (unsigned with -Z; the signed transfer with DNSSEC too, -ZZ),
// after every kind of change (zone file reload, RFC 2136 UPDATE), and delv
// validates the online-signed ZONEMD answer.
package zonemd

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/dnspki/dnspki/test/harness"
)

const (
	xfrKey     = "signed-xfr."
	xfrSecret  = "c2lnbmVkLXhmci1rZXktc2VjcmV0LTAxMjM0NTY3ODk="
	acmeKey    = "acme-www."
	acmeSecret = "YWNtZS13d3cta2V5LXNlY3JldC0wMTIzNDU2Nzg5YWI="
)

const zoneText = `$ORIGIN %s
$TTL 3600
@    IN SOA ns1 hostmaster 2026010100 3600 600 1209600 60
     IN NS  ns1
     IN NS  ns2
     IN MX  10 Mail
ns1  IN A   192.0.2.53
ns2  IN AAAA 2001:db8::54
www  IN A   192.0.2.10
Upper IN TXT "canonical owners"
*.apps IN A 192.0.2.80
sub  IN NS  ns.sub
ns.sub IN A 192.0.2.99
occluded.sub IN TXT "occluded, still digested"
%s`

// axfrFile transfers zone from addr (signed with key if not empty) and
// writes it as a zone file (the closing SOA dropped), returning its path
// and the records.
func axfrFile(t *testing.T, addr, zone, key, secret string) (string, []dns.RR) {
	t.Helper()
	m := new(dns.Msg)
	m.SetAxfr(zone)
	tr := &dns.Transfer{}
	if key != "" {
		m.SetTsig(key, dns.HmacSHA256, 300, time.Now().Unix())
		tr.TsigSecret = map[string]string{key: secret}
	}
	ch, err := tr.In(m, addr)
	if err != nil {
		t.Fatal(err)
	}
	var rrs []dns.RR
	for env := range ch {
		if env.Error != nil {
			t.Fatalf("AXFR %s: %v", zone, env.Error)
		}
		rrs = append(rrs, env.RR...)
	}
	if len(rrs) < 2 {
		t.Fatalf("AXFR %s: %d records", zone, len(rrs))
	}
	rrs = rrs[:len(rrs)-1]
	return writeZone(t, rrs), rrs
}

func writeZone(t *testing.T, rrs []dns.RR) string {
	t.Helper()
	var b strings.Builder
	for _, rr := range rrs {
		b.WriteString(rr.String() + "\n")
	}
	f, err := os.CreateTemp(t.TempDir(), "*.zone")
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(b.String())
	f.Close()
	return f.Name()
}

// ldnsVerify runs ldns-verify-zone with the flags on file and reports
// whether it found the zone (and its ZONEMD) valid.
func ldnsVerify(t *testing.T, flag, file string) (string, bool) {
	t.Helper()
	bin := harness.Need(t, "ldns-verify-zone")[0]
	out, err := harness.Run(t, time.Minute, "", bin, flag, file)
	return out, err == nil && strings.Contains(out, "Zone is verified and complete")
}

// zonemdOf returns the apex ZONEMD and SOA of a transfer.
func zonemdOf(t *testing.T, zone string, rrs []dns.RR) (*dns.ZONEMD, *dns.SOA) {
	t.Helper()
	var md *dns.ZONEMD
	var soa *dns.SOA
	for _, rr := range rrs {
		switch x := rr.(type) {
		case *dns.ZONEMD:
			if x.Hdr.Name == zone {
				if md != nil {
					t.Fatalf("two apex ZONEMD records")
				}
				md = x
			}
		case *dns.SOA:
			soa = x
		}
	}
	if md == nil || soa == nil {
		t.Fatalf("%s: no apex ZONEMD (%v) or SOA (%v) in the transfer", zone, md, soa)
	}
	if md.Serial != soa.Serial || md.Scheme != 1 || md.Hash != 1 {
		t.Fatalf("%s: ZONEMD %d %d %d, SOA serial %d: want the SOA serial, SIMPLE, SHA384", zone, md.Serial, md.Scheme, md.Hash, soa.Serial)
	}
	return md, soa
}

func TestZoneDigestIndependentlyVerified(t *testing.T) {
	harness.Need(t, "ldns-verify-zone", "delv")
	dir := t.TempDir()
	write := func(name, text string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("plain.zone", fmt.Sprintf(zoneText, "plain.test.", ""))
	write("signed.zone", fmt.Sprintf(zoneText, "signed.test.", ""))
	port := harness.FreePort(t)
	s := harness.StartDnspki(t, dir, fmt.Sprintf(`plain.test:%[1]d signed.test:%[1]d {
    bind 127.0.0.1
    authzone plain.test {
        file plain.zone
        reload 100ms
        zone-digest sha384
        transfer to 127.0.0.1
    }
    authzone signed.test {
        file signed.zone
        zone-digest
        key %[2]s hmac-sha256 %[3]s
        transfer to 127.0.0.1 key %[2]s signed
        transfer to 127.0.0.1
    }
    onlinesign signed.test {
        keys state/keys
    }
    acmechallenge plain.test {
        key %[4]s hmac-sha256 %[5]s
        grant %[4]s name www.plain.test
    }
}
`, port, xfrKey, xfrSecret, acmeKey, acmeSecret), port)
	harness.WaitDNS(t, s.Addr, "plain.test.", 30*time.Second, s.Proc)
	harness.WaitDNS(t, s.Addr, "signed.test.", 30*time.Second, s.Proc)

	// The unsigned zone: ldns-verify-zone -Z checks the digest of the
	// AXFR; a changed record makes it fail (the check can fail).
	check := func(what string) *dns.ZONEMD {
		file, rrs := axfrFile(t, s.Addr, "plain.test.", "", "")
		md, _ := zonemdOf(t, "plain.test.", rrs)
		if out, ok := ldnsVerify(t, "-Z", file); !ok {
			t.Fatalf("%s: ldns-verify-zone -Z rejects the AXFR of plain.test:\n%s", what, out)
		}
		for i, rr := range rrs {
			if a, ok := rr.(*dns.A); ok && a.Hdr.Name == "www.plain.test." {
				c := dns.Copy(a).(*dns.A)
				c.A = c.A.To4()
				c.A[3]++
				bad := append([]dns.RR{}, rrs...)
				bad[i] = c
				if out, ok := ldnsVerify(t, "-Z", writeZone(t, bad)); ok || !strings.Contains(out, "ZONEMD") {
					t.Fatalf("%s: ldns-verify-zone -Z accepts a changed zone:\n%s", what, out)
				}
			}
		}
		return md
	}
	first := check("at start")

	// A zone file edit (reload): a new serial, a new digest, verified.
	write("plain.zone", fmt.Sprintf(zoneText, "plain.test.", "new IN TXT \"reloaded\"\n"))
	harness.WaitServes(t, s.Addr, "plain.test.", first.Serial+1, 30*time.Second, s.Proc)
	second := check("after the reload")
	if second.Digest == first.Digest {
		t.Fatal("the digest did not change with the zone")
	}

	// An RFC 2136 UPDATE: the same.
	up := new(dns.Msg)
	up.SetUpdate("plain.test.")
	txt, _ := dns.NewRR(`_acme-challenge.www.plain.test. 60 IN TXT "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0"`)
	up.Insert([]dns.RR{txt})
	up.SetTsig(acmeKey, dns.HmacSHA256, 300, time.Now().Unix())
	c := &dns.Client{Net: "tcp", TsigSecret: map[string]string{acmeKey: acmeSecret}}
	r, _, err := c.Exchange(up, s.Addr)
	if err != nil || r.Rcode != dns.RcodeSuccess {
		t.Fatalf("UPDATE: %v %v", err, r)
	}
	if third := check("after the UPDATE"); third.Serial != second.Serial+1 || third.Digest == second.Digest {
		t.Fatalf("after the UPDATE: ZONEMD serial %d (was %d)", third.Serial, second.Serial)
	}

	// The signed transfer: ldns-verify-zone -ZZ checks every signature and
	// the ZONEMD (over the signed zone); without the ZONEMD's signature
	// and with its digest changed, -ZZZ (unsigned ZONEMD allowed) fails on
	// the digest.
	file, rrs := axfrFile(t, s.Addr, "signed.test.", xfrKey, xfrSecret)
	md, _ := zonemdOf(t, "signed.test.", rrs)
	if out, ok := ldnsVerify(t, "-ZZ", file); !ok {
		t.Fatalf("ldns-verify-zone -ZZ rejects the signed transfer:\n%s", out)
	}
	var tampered []dns.RR
	for _, rr := range rrs {
		if sig, ok := rr.(*dns.RRSIG); ok && sig.TypeCovered == dns.TypeZONEMD {
			continue
		}
		if rr == dns.RR(md) {
			c := dns.Copy(md).(*dns.ZONEMD)
			c.Digest = strings.Repeat("0", len(c.Digest))
			rr = c
		}
		tampered = append(tampered, rr)
	}
	if out, ok := ldnsVerify(t, "-ZZZ", writeZone(t, tampered)); ok || !strings.Contains(out, "zone digest") {
		t.Fatalf("ldns-verify-zone -ZZZ accepts a wrong digest:\n%s", out)
	}

	// The plain AXFR of the zone signed online (DNSKEY, CDS, CDNSKEY and
	// no signatures): its digest, checked by dnspython.
	plainFile, plain := axfrFile(t, s.Addr, "signed.test.", "", "")
	if pmd, _ := zonemdOf(t, "signed.test.", plain); pmd.Digest == md.Digest {
		t.Fatal("the plain and the signed transfer carry the same digest")
	}
	if out, ok := dnspythonVerify(t, "signed.test.", plainFile); !ok {
		t.Fatalf("dnspython rejects the plain AXFR of signed.test:\n%s", out)
	}

	// The online answer: ZONEMD signed and validated by delv.
	anchors := filepath.Join(dir, "state", "keys", "signed.test.trust-anchor")
	out, ok := harness.Delv(t, s.Addr, anchors, "signed.test", "signed.test", "ZONEMD")
	if !ok || !strings.Contains(out, "ZONEMD") {
		t.Fatalf("delv does not validate the ZONEMD answer:\n%s", out)
	}
}

// dnspythonVerify verifies the ZONEMD of a zone file with dnspython
// (Debian's python3-dnspython, Zone.verify_digest): an implementation
// independent of dnspki's and of ldns, which (unlike ldns-verify-zone)
// checks the digest of a zone with DNSKEY records and no signatures, such
// as the plain AXFR of a zone signed online.
func dnspythonVerify(t *testing.T, zone, file string) (string, bool) {
	t.Helper()
	harness.NeedDeb(t, "python3-dnspython")
	const script = `import sys, dns.zone
z = dns.zone.from_file(sys.argv[1], origin=sys.argv[2], relativize=False)
z.verify_digest()
print("ZONEMD verified")
`
	out, err := harness.Run(t, time.Minute, "", "/usr/bin/python3", "-c", script, file, zone)
	return out, err == nil && strings.Contains(out, "ZONEMD verified")
}

// TestSignedExample: corefile-examples/signed.Corefile carries a ZONEMD
// with the SOA serial, over exactly what its AXFR returns (dnspython
// verifies it; a changed record fails), and the ZONEMD answer validates
// (delv, from the example's trust anchor).
func TestSignedExample(t *testing.T) {
	harness.Need(t, "delv")
	s := harness.StartExample(t, "signed.Corefile", "example.test.", map[string]string{
		"127.0.0.1:8054": harness.Addr(harness.FreePort(t)), // the status page
	})
	file, rrs := axfrFile(t, s.Addr, "example.test.", "", "")
	zonemdOf(t, "example.test.", rrs)
	if out, ok := dnspythonVerify(t, "example.test.", file); !ok {
		t.Fatalf("dnspython rejects the ZONEMD of the AXFR:\n%s", out)
	}
	var bad []dns.RR
	for _, rr := range rrs {
		if a, ok := rr.(*dns.A); ok && a.Hdr.Name == "www.example.test." {
			c := dns.Copy(a).(*dns.A)
			c.A = c.A.To4()
			c.A[3]++
			rr = c
		}
		bad = append(bad, rr)
	}
	if out, ok := dnspythonVerify(t, "example.test.", writeZone(t, bad)); ok {
		t.Fatalf("dnspython accepts a changed zone:\n%s", out)
	}
	anchor := filepath.Join(s.Dir, "state", "keys", "example.test.trust-anchor")
	if out, ok := harness.Delv(t, s.Addr, anchor, "example.test", "example.test", "ZONEMD"); !ok || !strings.Contains(out, "ZONEMD") {
		t.Fatalf("delv does not validate the example's ZONEMD:\n%s", out)
	}
}

// Turning zone-digest on and off by a configuration reload (SIGUSR1) is a
// change of the zone: the next serial, the ZONEMD added (verified by
// dnspython) or removed, and secondaries see it by IXFR.
func TestZoneDigestToggledByReload(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "plain.zone"), []byte(fmt.Sprintf(zoneText, "plain.test.", "")), 0o644); err != nil {
		t.Fatal(err)
	}
	port := harness.FreePort(t)
	corefile := func(digest string) string {
		return fmt.Sprintf(`plain.test:%d {
    bind 127.0.0.1
    authzone plain.test {
        file plain.zone
        %s
        transfer to 127.0.0.1
    }
}
`, port, digest)
	}
	s := harness.StartDnspki(t, dir, corefile(""), port)
	harness.WaitServes(t, s.Addr, "plain.test.", 2026010100, 30*time.Second, s.Proc)
	hasZONEMD := func() bool {
		r, err := harness.Query(s.Addr, "plain.test.", dns.TypeZONEMD, true, false)
		return err == nil && len(r.Answer) == 1
	}
	if hasZONEMD() {
		t.Fatal("a ZONEMD without zone-digest")
	}
	for i, digest := range []string{"zone-digest sha384", ""} {
		if err := os.WriteFile(filepath.Join(dir, "Corefile"), []byte(corefile(digest)), 0o644); err != nil {
			t.Fatal(err)
		}
		s.Signal(syscall.SIGUSR1)
		serial := uint32(2026010101 + i)
		harness.WaitServes(t, s.Addr, "plain.test.", serial, 30*time.Second, s.Proc)
		if got := hasZONEMD(); got != (digest != "") {
			t.Fatalf("after the reload with %q: ZONEMD served %v", digest, got)
		}
		if digest != "" {
			file, rrs := axfrFile(t, s.Addr, "plain.test.", "", "")
			if md, _ := zonemdOf(t, "plain.test.", rrs); md.Serial != serial {
				t.Fatalf("ZONEMD serial %d, want %d", md.Serial, serial)
			}
			if out, ok := dnspythonVerify(t, "plain.test.", file); !ok {
				t.Fatalf("dnspython rejects the ZONEMD after the reload:\n%s", out)
			}
		}
		// IXFR from the previous serial carries the ZONEMD's addition or
		// removal.
		m := new(dns.Msg)
		m.SetIxfr("plain.test.", serial-1, "ns1.plain.test.", "hostmaster.plain.test.")
		ch, err := (&dns.Transfer{}).In(m, s.Addr)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for env := range ch {
			if env.Error != nil {
				t.Fatal(env.Error)
			}
			for _, rr := range env.RR {
				if rr.Header().Rrtype == dns.TypeZONEMD {
					found = true
				}
			}
		}
		if !found {
			t.Fatalf("IXFR %d -> %d does not carry the ZONEMD change", serial-1, serial)
		}
	}
}
