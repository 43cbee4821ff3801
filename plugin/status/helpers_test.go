package status

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/dnspki/dnspki/plugin/acmechallenge"
	"github.com/dnspki/dnspki/plugin/authzone"
	"github.com/dnspki/dnspki/plugin/certs"
	"github.com/dnspki/dnspki/plugin/onlinesign"
	"github.com/dnspki/dnspki/plugin/tlsa"
)

// testCert writes a self-signed certificate for 127.0.0.1 and its key.
func testCert(t testing.TB) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "status test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kd, _ := x509.MarshalECPrivateKey(key)
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd}), 0o600)
	return certFile, keyFile
}

// sampleReport is a report with something of every kind, some of it
// overdue, some beyond the horizon, and names that need escaping.
func sampleReport(now time.Time) *Report {
	day := 24 * time.Hour
	r := &Report{Generated: now, HorizonEnd: now.Add(DefaultHorizon)}
	r.Zones = []authzone.ZoneStatus{{
		Zone: "example.test.", Signed: true,
		Views:      []authzone.ViewStatus{{Name: "default", Serial: 42, Loaded: true, Records: 12, LastChange: now.Add(-time.Hour)}},
		Downstream: []authzone.DownstreamStatus{{Peer: "127.0.0.1:5300", View: "default", Key: "xfr.", Serial: 40, SerialKnown: true, SerialFrom: "ixfr", Lag: 2, SeenAt: now.Add(-time.Minute)}},
	}, {
		Zone: "copy.test.", Views: []authzone.ViewStatus{{Name: "default", Serial: 7, Loaded: true}},
		Secondary: &authzone.SecondaryStatus{Primaries: []string{"127.0.0.1:5301"}, PrimarySerial: 7, SerialKnown: true, LastRefresh: now.Add(-2 * day), ExpiresAt: now.Add(-day), Expired: true, LastError: "connection refused"},
	}}
	r.DNSSEC = []onlinesign.ZoneStatus{{
		Zone: "example.test.", Algorithm: "ECDSAP256SHA256", Scheme: "csk",
		Keys: []onlinesign.KeyState{{Key: "Kexample.test.+013+12345", Role: "csk", Tag: 12345, Published: true, SignsZone: true, SignsKeys: true, CDS: true, Active: now.Add(-10 * day)}},
		Steps: []onlinesign.Step{
			{At: now.Add(50 * day), Kind: "csk", What: "CSK rollover starts (end of lifetime)"},
			{At: now.Add(200 * day), Kind: "zsk", What: "beyond the horizon"},
			{Kind: "ksk", What: "KSK rollover: waiting for the new DS at the parent", WaitingDS: true},
		},
	}}
	r.Certificates = []certs.Status{{
		ID: "www", Names: []string{"www.example.test"}, Serial: "01", Issuer: "Pebble <Intermediate> & co", NotAfter: now.Add(60 * day),
		ARI:     &certs.ARIStatus{Start: now.Add(-3 * day), End: now.Add(-day), Past: true},
		RenewAt: now.Add(-day), RenewWhy: "ari", Next: "renew", NextAt: now.Add(-day),
	}}
	r.TLSA = []tlsa.CertStatus{{
		Zone: "example.test.", Cert: "www", Records: []tlsa.RecordStatus{
			{View: "default", Name: "_443._tcp.www.example.test.", Record: "3 1 1 aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", Role: tlsa.RoleCurrent, Since: now.Add(-30 * day), ReadyAt: now.Add(-29 * day)},
			{View: "default", Name: "_443._tcp.www.example.test.", Record: "3 1 1 bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", Role: tlsa.RoleNext, Since: now.Add(-time.Hour), ReadyAt: now.Add(time.Hour)},
			{View: "default", Name: "_443._tcp.www.example.test.", Record: "3 1 1 cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc", Role: tlsa.RoleRetiring, Since: now.Add(-60 * day), Until: now.Add(2 * time.Hour)},
		},
	}, {
		Zone: "example.test.", Cert: "mail", NotAfter: now.Add(20 * day), Records: []tlsa.RecordStatus{},
	}}
	r.Challenges = []acmechallenge.ZoneStatus{{
		Zone: "example.test.", ExpireSeconds: 3600, MaxRecords: 100,
		Challenges: []acmechallenge.Challenge{{Owner: "_acme-challenge.<b>x</b>.example.test.", By: "acme-www.", Added: now.Add(-10 * time.Minute), Expires: now.Add(50 * time.Minute)}},
		Identities: []acmechallenge.IdentityUse{{Identity: "acme-www.", Records: 1, Limit: 100}},
	}}
	r.Events = events(r, now, r.HorizonEnd)
	return r
}
