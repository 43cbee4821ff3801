package certs

import (
	"crypto"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/go-acme/lego/v5/certcrypto"
)

const stateVersion = 1

// certState is what is kept per certificate across restarts, in
// STATE/certs/ID.json (mode 0600: it holds the next key). The certificate
// in use is its output folder.
type certState struct {
	Version int `json:"v"`
	// NextKey is the key the next certificate will be ordered for, published
	// (3 1 x TLSA) ahead of its use; PEM.
	NextKey string `json:"next_key,omitempty"`
	// NextSince is when it was made.
	NextSince time.Time `json:"next_since,omitzero"`
	// Seen is, per check server, since when it serves the next key's TLSA
	// records (without a gap seen by the checks).
	Seen map[string]time.Time `json:"seen,omitempty"`
	// RenewAt is the chosen renewal time for the certificate Serial.
	RenewAt  time.Time `json:"renew_at,omitzero"`
	RenewWhy string    `json:"renew_why,omitempty"` // "ari" or "lifetime"
	Serial   string    `json:"serial,omitempty"`
	// The ARI window RenewAt was chosen in, and when to ask again.
	WindowStart time.Time `json:"window_start,omitzero"`
	WindowEnd   time.Time `json:"window_end,omitzero"`
	ARICheck    time.Time `json:"ari_check,omitzero"`
	// NoReplaces: the CA refused an order that named the certificate it
	// replaces (RFC 9773 §5); later orders for this certificate omit it.
	NoReplaces bool `json:"no_replaces,omitempty"`
	// Failed attempts in a row, when to try again, and the last outcome.
	Failures   int       `json:"failures,omitempty"`
	RetryAt    time.Time `json:"retry_at,omitzero"`
	LastResult string    `json:"last_result,omitempty"`
	LastError  string    `json:"last_error,omitempty"`
	LastTry    time.Time `json:"last_try,omitzero"`
	// Pending is set while an order is in progress (since when, and for
	// which key: "next" or "current"); an interrupted one is placed again.
	Pending    time.Time `json:"pending,omitzero"`
	PendingKey string    `json:"pending_key,omitempty"`
	// Config is a digest of the configuration the failures were with: a
	// changed configuration is tried at once, not after the backoff.
	Config string `json:"config,omitempty"`
	// RefusedKey is the 3 1 1 digest of a current key the CA refused
	// (badPublicKey): it is not reused.
	RefusedKey string `json:"refused_key,omitempty"`
	// Held is a certificate obtained but not installed yet (PEM chain), for
	// the key HeldKey ("next" or "current"), since HeldSince: its TLSA
	// records (a new issuer's DANE-TA) are published and it is installed
	// once they are ready.
	Held      string    `json:"held,omitempty"`
	HeldKey   string    `json:"held_key,omitempty"`
	HeldSince time.Time `json:"held_since,omitzero"`
}

func loadCertState(path string) (*certState, error) {
	st := &certState{Version: stateVersion}
	if err := loadState(path, st, &st.Version); err != nil {
		return &certState{Version: stateVersion}, err
	}
	return st, nil
}

// loadState reads the JSON state file path into st, whose version field is
// *version; a missing file leaves st as it is (a new state). A file that does
// not parse or is of another version is an error.
func loadState(path string, st any, version *int) error {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	return decodeState(b, path, st, version)
}

// decodeState decodes the JSON state b (of the file path) into st, whose
// version field is *version.
func decodeState(b []byte, path string, st any, version *int) error {
	if err := json.Unmarshal(b, st); err != nil {
		return fmt.Errorf("%s: %v", path, err)
	}
	if *version != stateVersion {
		return fmt.Errorf("%s: state version %d, this build reads %d", path, *version, stateVersion)
	}
	return nil
}

func (st *certState) save(path string) error {
	st.Version = stateVersion
	b, _ := json.MarshalIndent(st, "", "  ")
	return writeFiles([]fileSpec{{path, b, 0o600}})
}

func (st *certState) nextKey() (crypto.Signer, error) {
	if st.NextKey == "" {
		return nil, nil
	}
	return certcrypto.ParsePEMPrivateKey([]byte(st.NextKey))
}

// accountState is an ACME account at one CA, in STATE/accounts/HASH.json
// (mode 0600: it holds the account key unless account-key names a file).
type accountState struct {
	Version   int      `json:"v"`
	Directory string   `json:"directory"`
	URI       string   `json:"uri,omitempty"`
	Key       string   `json:"key,omitempty"` // PEM; empty with account-key
	Issuers   []string `json:"issuers,omitempty"`
	// HashPrefix is the CA's accountHashPrefix (dns-persist-01 draft -02;
	// empty: the CA advertises none, draft -01).
	HashPrefix string    `json:"hash_prefix,omitempty"`
	Created    time.Time `json:"created,omitzero"`
}

// accountPath is the account file of a CA directory (and account key file).
func accountPath(stateDir, directory, keyFile string) string {
	h := sha256.Sum256([]byte(directory + "\x00" + keyFile))
	return filepath.Join(stateDir, "accounts", hex.EncodeToString(h[:8])+".json")
}

func loadAccount(path string) (*accountState, error) {
	st := &accountState{Version: stateVersion}
	if err := loadState(path, st, &st.Version); err != nil {
		return &accountState{Version: stateVersion}, err
	}
	return st, nil
}

func (st *accountState) save(path string) error {
	st.Version = stateVersion
	b, _ := json.MarshalIndent(st, "", "  ")
	return writeFiles([]fileSpec{{path, b, 0o600}})
}
