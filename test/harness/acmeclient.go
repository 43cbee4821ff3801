package harness

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-acme/lego/v5/acme"
	"github.com/go-acme/lego/v5/certcrypto"
	"github.com/go-acme/lego/v5/certificate"
	"github.com/go-acme/lego/v5/challenge"
	"github.com/go-acme/lego/v5/challenge/dns01"
	"github.com/go-acme/lego/v5/challenge/dnspersist01"
	"github.com/go-acme/lego/v5/lego"
	legolog "github.com/go-acme/lego/v5/log"
	"github.com/go-acme/lego/v5/providers/dns/acmedns"
	"github.com/go-acme/lego/v5/providers/dns/dnsupdate"
	"github.com/go-acme/lego/v5/providers/dns/httpreq"
	"github.com/go-acme/lego/v5/registration"
)

// ACMEClient is an account of the lego v5 ACME client library at an ACME
// server (Pebble in the tests), solving dns-01 through a DNS provider set with
// UseRFC2136, UseHTTPReq or UseACMEDNS, or dns-persist-01 with UseDNSPersist.
//
// lego's DNS lookups (finding the zone by SOA, checking that the TXT record is
// served before telling the CA) go to DNS, normally dnspki; its check of every
// authoritative NS on port 53 is turned off. These settings are global to the
// lego library: tests that use ACMEClient must not run in parallel.
type ACMEClient struct {
	Client *lego.Client
	DNS    string
	user   *acmeUser
}

type acmeUser struct {
	key crypto.Signer
	reg *acme.ExtendedAccount
}

func (u *acmeUser) GetEmail() string                       { return "" }
func (u *acmeUser) GetRegistration() *acme.ExtendedAccount { return u.reg }
func (u *acmeUser) GetPrivateKey() crypto.Signer           { return u.key }

// ACMEClientOpts tune NewACMEClient.
type ACMEClientOpts struct {
	Directory string         // ACME directory URL
	Roots     *x509.CertPool // trust for the directory's HTTPS (Pebble.RootPool)
	DNS       string         // host:port lego resolves through (dnspki)
}

// NewACMEClient makes a new account key and registers it.
func NewACMEClient(t testing.TB, o ACMEClientOpts) *ACMEClient {
	t.Helper()
	legolog.SetDefault(slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo})))
	// Once the test is over its log is closed: lego logs to stderr again.
	t.Cleanup(func() { legolog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, nil))) })
	dns01.SetDefaultClient(dns01.NewClient(&dns01.Options{RecursiveNameservers: []string{o.DNS}, Timeout: 5 * time.Second}))
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	u := &acmeUser{key: key}
	cfg := lego.NewConfig(u)
	cfg.CADirURL = o.Directory
	cfg.HTTPClient = &http.Client{Timeout: time.Minute, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: o.Roots}}}
	cfg.Certificate.Timeout = time.Minute
	client, err := lego.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	reg, err := client.Registration.Register(ctx, registration.RegisterOptions{TermsOfServiceAgreed: true})
	if err != nil {
		t.Fatalf("ACME registration: %v", err)
	}
	u.reg = reg
	return &ACMEClient{Client: client, DNS: o.DNS, user: u}
}

// testWriter sends lego's log to the test log.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(string(b))
	return len(b), nil
}

func (c *ACMEClient) useDNSProvider(t testing.TB, p challenge.Provider) {
	t.Helper()
	err := c.Client.Challenge.SetDNS01Provider(p,
		dns01.DisableAuthoritativeNssPropagationRequirement(),
	)
	if err != nil {
		t.Fatal(err)
	}
}

// UseRFC2136 solves dns-01 with lego's dnsupdate (RFC 2136) provider: UPDATE
// signed by the TSIG key (algorithm as miekg/dns names it, e.g.
// "hmac-sha256.") sent to nameserver (host:port). lego finds the zone by SOA
// queries to the nameserver.
func (c *ACMEClient) UseRFC2136(t testing.TB, nameserver, keyName, algorithm, secret string) {
	t.Helper()
	cfg := dnsupdate.NewDefaultConfig()
	cfg.Nameserver = nameserver
	cfg.TSIGKey = keyName
	cfg.TSIGAlgorithm = algorithm
	cfg.TSIGSecret = secret
	cfg.DNSTimeout = 10 * time.Second
	cfg.PropagationTimeout = 30 * time.Second
	cfg.PollingInterval = 200 * time.Millisecond
	// The provider solves one challenge at a time (it replaces the RRset);
	// the wait between two is lego's default propagation timeout otherwise.
	cfg.SequenceInterval = 100 * time.Millisecond
	p, err := dnsupdate.NewDNSProviderConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.useDNSProvider(t, p)
}

// UseHTTPReq solves dns-01 with lego's httpreq provider (POST /present and
// /cleanup with basic auth) at endpoint.
func (c *ACMEClient) UseHTTPReq(t testing.TB, endpoint, user, password string) {
	t.Helper()
	u, err := url.Parse(endpoint)
	if err != nil {
		t.Fatal(err)
	}
	cfg := httpreq.NewDefaultConfig()
	cfg.Endpoint = u
	cfg.Username = user
	cfg.Password = password
	cfg.PropagationTimeout = 30 * time.Second
	cfg.PollingInterval = 200 * time.Millisecond
	p, err := httpreq.NewDNSProviderConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.useDNSProvider(t, p)
}

// ACMEDNSAccount is an acme-dns account as acme-dns clients store it (what
// acme-dns's POST /register returns).
type ACMEDNSAccount struct {
	FullDomain string `json:"fulldomain"`
	SubDomain  string `json:"subdomain"`
	Username   string `json:"username"`
	Password   string `json:"password"`
	ServerURL  string `json:"server_url,omitempty"`
}

// UseACMEDNS solves dns-01 with lego's acmedns provider (the goacmedns
// client: POST /update with X-Api-User and X-Api-Key) at apiBase, with the
// given accounts by domain ("*.name" for a wildcard's authorization).
func (c *ACMEClient) UseACMEDNS(t testing.TB, apiBase string, accounts map[string]ACMEDNSAccount) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "acme-dns-accounts.json")
	b, _ := json.Marshal(accounts)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := acmedns.NewDNSProviderConfig(&acmedns.Config{APIBase: apiBase, StoragePath: path})
	if err != nil {
		t.Fatal(err)
	}
	c.useDNSProvider(t, p)
}

// AccountURI is the account's URL at the CA (what a dns-persist-01 record's
// accounturi names).
func (c *ACMEClient) AccountURI() string { return c.user.reg.Location }

// DNSPersistOpts tune UseDNSPersist.
type DNSPersistOpts struct {
	// PersistUntil is the persistUntil lego expects in the record (zero:
	// none); lego matches it exactly.
	PersistUntil time.Time
	// Force asks the CA to validate even when lego finds no record for its
	// account (to see the CA's verdict on a record lego would not use).
	// Without it, a missing record fails the order at once.
	Force bool
}

// UseDNSPersist solves dns-persist-01 (draft-ietf-acme-dns-persist) with lego's
// challenge/dnspersist01: lego reads the TXT records at
// _validation-persist.<name> through c.DNS and, when one names the CA (an
// issuer-domain-name of the challenge) and this account, asks the CA to
// validate. Nothing is written to DNS at issuance: lego's only way to create a
// record is to ask a human (its manual provider), which is turned into a no-op
// here (DNSPERSIST_MANUAL_MODE=wait, 0 s), and its propagation check then
// fails at once unless o.Force. The settings are process-wide (environment,
// lego's default resolver): no parallel tests.
func (c *ACMEClient) UseDNSPersist(t testing.TB, o DNSPersistOpts) {
	t.Helper()
	// Read by lego's manual provider when the solver is set, below.
	t.Setenv("DNSPERSIST_MANUAL_MODE", "wait")
	t.Setenv("DNSPERSIST_MANUAL_WAIT", "0")
	t.Setenv("DNSPERSIST_MANUAL_POLLING_INTERVAL", "0")
	t.Setenv("DNSPERSIST_MANUAL_PROPAGATION_TIMEOUT", "30")
	dnspersist01.SetDefaultClient(dnspersist01.NewClient(&dnspersist01.Options{RecursiveNameservers: []string{c.DNS}, Timeout: 5 * time.Second}))
	opts := []dnspersist01.ChallengeOption{
		// lego would also ask every authoritative NS on port 53.
		dnspersist01.DisableAuthoritativeNssPropagationRequirement(),
		dnspersist01.WrapPreCheck(func(ctx context.Context, domain, fqdn string, matcher dnspersist01.RecordMatcher, check dnspersist01.PreCheckFunc) (bool, error) {
			if o.Force {
				return true, nil
			}
			ok, err := check(ctx, fqdn, matcher)
			if err != nil || !ok {
				// stop polling: nobody is going to publish it.
				return true, fmt.Errorf("no dns-persist-01 record for this account at %s: %v", fqdn, err)
			}
			return true, nil
		}),
	}
	if !o.PersistUntil.IsZero() {
		opts = append(opts, dnspersist01.WithPersistUntil(o.PersistUntil))
	}
	c.Client.Challenge.Remove(challenge.DNS01)
	if err := c.Client.Challenge.SetDNSPersist01(opts...); err != nil {
		t.Fatal(err)
	}
}

// Obtain orders a certificate for domains (ECDSA P-256 key, full chain).
func (c *ACMEClient) Obtain(t testing.TB, domains ...string) (*certificate.Resource, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	return c.Client.Certificate.Obtain(ctx, certificate.ObtainRequest{Domains: domains, Bundle: true, KeyType: certcrypto.EC256})
}
