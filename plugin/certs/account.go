package certs

import (
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-acme/lego/v5/acme"
	"github.com/go-acme/lego/v5/acme/api"
	"github.com/go-acme/lego/v5/certcrypto"
	"github.com/go-acme/lego/v5/registration"
	"github.com/go-jose/go-jose/v4"

	"github.com/dnspki/dnspki/plugin/pkg/persist"
)

const userAgent = "dnspki-certs"

// account is the ACME account of a certs block: its key (kept in the state
// folder, or the operator's account-key file), its URL at the CA, and the
// lego API client talking to the CA. Registration is lazy: the first order
// (or the first start with dns-persist-01 certificates) registers, and a CA
// that forgot the account (accountDoesNotExist) gets it registered again.
type account struct {
	path      string
	directory string
	keyFile   string
	contact   string
	eabKID    string
	eabHMAC   string
	http      *http.Client

	mu   sync.Mutex
	st   *accountState
	key  crypto.Signer
	core *api.Core
}

// fileLocks serializes writes of one state file across configurations.
var fileLocks sync.Map // path -> *sync.Mutex

func fileLock(path string) *sync.Mutex {
	v, _ := fileLocks.LoadOrStore(path, &sync.Mutex{})
	return v.(*sync.Mutex)
}

func newAccount(b *blockConfig, gate *caGate) (*account, error) {
	roots, err := loadRoots(b.caRoot)
	if err != nil {
		return nil, err
	}
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 15 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   15 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second,
		TLSClientConfig:       &tls.Config{RootCAs: roots},
	}
	a := &account{
		path: accountPath(b.stateDir, b.directory, b.accountKey), directory: b.directory, keyFile: b.accountKey,
		contact: b.contact, eabKID: b.eabKID, eabHMAC: b.eabHMAC,
		http: &http.Client{Timeout: time.Minute, Transport: &retryAfterTransport{rt: tr, gate: gate}},
	}
	st, err := loadAccount(a.path)
	if err != nil {
		return nil, fmt.Errorf("account state: %v", err)
	}
	if st.Directory != "" && st.Directory != b.directory {
		return nil, fmt.Errorf("account state %s is for %s, not %s", a.path, st.Directory, b.directory)
	}
	st.Directory = b.directory
	a.st = st
	if err := a.loadKey(); err != nil {
		return nil, err
	}
	return a, nil
}

func loadRoots(path string) (*x509.CertPool, error) {
	if path == "" {
		return nil, nil // the system's roots
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("ca-root: %v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("ca-root %s: no PEM certificate in it", path)
	}
	return pool, nil
}

// loadKey reads the account key (account-key file or the state) or makes
// one (EC P-256), written before it is ever used.
func (a *account) loadKey() error {
	if a.keyFile != "" {
		b, err := os.ReadFile(a.keyFile)
		if err == nil {
			k, err := certcrypto.ParsePEMPrivateKey(b)
			if err != nil {
				return fmt.Errorf("account-key %s: %v", a.keyFile, err)
			}
			a.key = k
			return nil
		}
		if !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("account-key: %v", err)
		}
		k, err := certcrypto.GeneratePrivateKey(certcrypto.EC256)
		if err != nil {
			return err
		}
		if err := writeFiles([]fileSpec{{a.keyFile, keyPEM(k), 0o600}}); err != nil {
			return fmt.Errorf("account-key: %v", err)
		}
		log.Infof("account key created in %s", a.keyFile)
		a.key = k
		return nil
	}
	if a.st.Key != "" {
		k, err := certcrypto.ParsePEMPrivateKey([]byte(a.st.Key))
		if err != nil {
			return fmt.Errorf("account state %s: key: %v", a.path, err)
		}
		a.key = k
		return nil
	}
	k, err := certcrypto.GeneratePrivateKey(certcrypto.EC256)
	if err != nil {
		return err
	}
	a.st.Key = string(keyPEM(k))
	l := fileLock(a.path)
	l.Lock()
	defer l.Unlock()
	if err := a.st.save(a.path); err != nil {
		return fmt.Errorf("account state: %v", err)
	}
	a.key = k
	return nil
}

// known returns the stored account URL and the CA's issuer-domain-names.
func (a *account) known() (string, []string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.st.URI, slices.Clone(a.st.Issuers)
}

// hashing is what the account's draft -02 hashed accounturis are computed
// from (nil while the CA is not known to advertise an accountHashPrefix).
func (a *account) hashing() *persist.Hashing {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.st.HashPrefix == "" {
		return nil
	}
	thumb, err := thumbprint(a.key)
	if err != nil {
		return nil
	}
	return &persist.Hashing{Prefix: a.st.HashPrefix, Thumbprint: thumb}
}

// thumbprint is the base64url SHA-256 JWK thumbprint (RFC 7638) of the
// account key, as in key authorizations (RFC 8555 §8.1).
func thumbprint(key crypto.Signer) (string, error) {
	jwk := jose.JSONWebKey{Key: key.Public()}
	b, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// directoryMeta is what the certs plugin reads of an ACME directory's meta
// beyond lego's Meta: dns-persist-01 draft -02's accountHashPrefix and
// issuerDomainNames.
type directoryMeta struct {
	AccountHashPrefix string   `json:"accountHashPrefix"`
	IssuerDomainNames []string `json:"issuerDomainNames"`
}

// readDirectoryMeta fetches the directory and decodes those fields; an
// accountHashPrefix that cannot make a valid hashed URI, or an issuer name
// that is no valid issuer-domain-name, is an error.
func readDirectoryMeta(ctx context.Context, client *http.Client, url string) (directoryMeta, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return directoryMeta{}, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return directoryMeta{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return directoryMeta{}, fmt.Errorf("%s", resp.Status)
	}
	var dir struct {
		Meta directoryMeta `json:"meta"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&dir); err != nil {
		return directoryMeta{}, err
	}
	m := dir.Meta
	if m.AccountHashPrefix != "" {
		if err := (persist.Hashing{Prefix: m.AccountHashPrefix, Thumbprint: strings.Repeat("A", 43)}).Check(); err != nil {
			return directoryMeta{}, err
		}
	}
	for _, iss := range m.IssuerDomainNames {
		if err := persist.ValidateIssuer(iss); err != nil {
			return directoryMeta{}, fmt.Errorf("issuerDomainNames: %v", err)
		}
	}
	return m, nil
}

// user is the account as lego's registrar sees it.
type user struct {
	email string
	key   crypto.Signer
}

func (u *user) GetEmail() string                       { return u.email }
func (u *user) GetRegistration() *acme.ExtendedAccount { return nil }
func (u *user) GetPrivateKey() crypto.Signer           { return u.key }

// client returns the API client of a registered account, registering it
// first if needed. changed reports a new account URL or new issuer names
// (the dns-persist-01 records must follow).
func (a *account) client(ctx context.Context) (core *api.Core, changed bool, err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.core == nil {
		core, err := api.New(a.http, userAgent, a.directory, a.st.URI, a.key)
		if err != nil {
			return nil, false, fmt.Errorf("ACME directory %s: %w", a.directory, err)
		}
		a.core = core
		iss := core.GetDirectory().Meta.CaaIdentities
		meta, err := readDirectoryMeta(ctx, a.http, a.directory)
		if err != nil {
			log.Warningf("ACME directory %s: reading its dns-persist-01 metadata: %v", a.directory, err)
		} else {
			if len(meta.IssuerDomainNames) > 0 {
				iss = meta.IssuerDomainNames // draft -02: the names for the validation records
			}
			if meta.AccountHashPrefix != a.st.HashPrefix {
				a.st.HashPrefix = meta.AccountHashPrefix
				changed = true
			}
		}
		if len(iss) > 0 && !slices.Equal(iss, a.st.Issuers) {
			a.st.Issuers = slices.Clone(iss)
			changed = true
		}
	}
	if a.st.URI == "" {
		acc, err := a.register(ctx)
		if err != nil {
			a.core = nil
			return nil, false, err
		}
		a.st.URI = acc.Location
		a.st.Created = time.Now().UTC()
		changed = true
		log.Infof("ACME account registered at %s: %s", a.directory, acc.Location)
	}
	if changed {
		l := fileLock(a.path)
		l.Lock()
		err := a.st.save(a.path)
		l.Unlock()
		if err != nil {
			return nil, false, fmt.Errorf("account state: %w", err)
		}
	}
	return a.core, changed, nil
}

func (a *account) register(ctx context.Context) (*acme.ExtendedAccount, error) {
	dir := a.core.GetDirectory()
	if dir.Meta.TermsOfService != "" {
		log.Infof("registering at %s, agreeing to its terms of service %s", a.directory, dir.Meta.TermsOfService)
	}
	r := registration.NewRegistrar(a.core, &user{email: a.contact, key: a.key})
	var acc *acme.ExtendedAccount
	var err error
	if a.eabKID != "" {
		acc, err = r.RegisterWithExternalAccountBinding(ctx, registration.RegisterEABOptions{TermsOfServiceAgreed: true, Kid: a.eabKID, HmacEncoded: a.eabHMAC})
	} else {
		if dir.Meta.ExternalAccountRequired {
			return nil, &refusedError{errors.New("the CA requires External Account Binding: configure 'eab KID HMAC'")}
		}
		acc, err = r.Register(ctx, registration.RegisterOptions{TermsOfServiceAgreed: true})
	}
	if err != nil {
		return nil, fmt.Errorf("ACME registration: %w", err)
	}
	if acc.Location == "" {
		return nil, errors.New("ACME registration: the CA returned no account URL")
	}
	return acc, nil
}

// forget drops an account URL the CA no longer knows: the next client call
// registers again (a CA that lost its database, Pebble restarted).
func (a *account) forget(uri string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.st.URI == uri {
		log.Warningf("the CA %s does not know the account %s any more: registering again", a.directory, uri)
		a.st.URI = ""
		a.core = nil
	}
}

// drop discards the API client (after network errors: the next call reads
// the directory again, with fresh nonces).
func (a *account) drop() {
	a.mu.Lock()
	a.core = nil
	a.mu.Unlock()
}
