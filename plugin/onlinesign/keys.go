package onlinesign

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/dnspki/dnspki/plugin/pkg/atomicfile"
	"github.com/miekg/dns"
)

// Key roles.
const (
	RoleCSK = "csk" // signs the DNSKEY set and the zone; its DS is at the parent
	RoleKSK = "ksk" // signs the DNSKEY, CDS and CDNSKEY sets; its DS is at the parent
	RoleZSK = "zsk" // signs the rest of the zone
)

// algorithms are the DNSSEC algorithms keys can be generated with, and their
// key sizes.
var algorithms = map[uint8]int{
	dns.ECDSAP256SHA256: 256,
	dns.ECDSAP384SHA384: 384,
	dns.ED25519:         256,
	dns.RSASHA256:       2048,
}

// parseAlgorithm accepts a mnemonic (ECDSAP256SHA256, ED25519, ...) or a number.
func parseAlgorithm(s string) (uint8, error) {
	u := strings.ToUpper(s)
	for num, name := range dns.AlgorithmToString {
		if name == u || fmt.Sprint(num) == s {
			if _, ok := algorithms[num]; ok {
				return num, nil
			}
		}
	}
	return 0, fmt.Errorf("algorithm %q is not supported for signing (use ECDSAP256SHA256, ECDSAP384SHA384, ED25519 or RSASHA256)", s)
}

// Key is a DNSSEC key pair as stored in the key directory: the BIND files
// K<zone>+<alg>+<tag>.key and .private.
type Key struct {
	Base   string // file name without extension: Kexample.test.+013+12345
	DNSKEY *dns.DNSKEY
	Signer crypto.Signer
}

// Tag returns the key tag.
func (k *Key) Tag() uint16 { return k.DNSKEY.KeyTag() }

// SEP reports whether the key has the Secure Entry Point flag (a KSK or CSK).
func (k *Key) SEP() bool { return k.DNSKEY.Flags&dns.SEP != 0 }

// keyBase is the BIND file name of a key without extension.
func keyBase(zone string, alg uint8, tag uint16) string {
	return fmt.Sprintf("K%s+%03d+%05d", zone, alg, tag)
}

// generateKey makes a new key pair for zone. sep sets the SEP flag (257).
// taken lists key tags already in use in the zone (a new key must not share
// one).
func generateKey(zone string, alg uint8, sep bool, ttl uint32, taken map[uint16]bool) (*Key, error) {
	bits, ok := algorithms[alg]
	if !ok {
		return nil, fmt.Errorf("algorithm %d is not supported for key generation", alg)
	}
	for range 100 {
		k := &dns.DNSKEY{
			Hdr:       dns.RR_Header{Name: zone, Rrtype: dns.TypeDNSKEY, Class: dns.ClassINET, Ttl: ttl},
			Flags:     dns.ZONE,
			Protocol:  3,
			Algorithm: alg,
		}
		if sep {
			k.Flags |= dns.SEP
		}
		priv, err := k.Generate(bits)
		if err != nil {
			return nil, fmt.Errorf("generating a key: %w", err)
		}
		signer, ok := priv.(crypto.Signer)
		if !ok {
			return nil, errors.New("generated key cannot sign")
		}
		tag := k.KeyTag()
		if taken[tag] {
			continue
		}
		return &Key{Base: keyBase(zone, alg, tag), DNSKEY: k, Signer: signer}, nil
	}
	return nil, errors.New("could not generate a key with a free key tag")
}

// bindTime formats t as BIND's key timing fields do (YYYYMMDDHHMMSS, UTC).
func bindTime(t time.Time) string { return t.UTC().Format("20060102150405") }

// writeKey stores the key's .key and .private files in dir (mode 0600),
// each written to a temporary file, synced and renamed into place.
func writeKey(dir string, k *Key, created time.Time) error {
	kind := "zone-signing"
	if k.SEP() {
		kind = "key-signing"
	}
	ts := bindTime(created)
	var pub bytes.Buffer
	fmt.Fprintf(&pub, "; This is a %s key, keyid %d, for %s\n", kind, k.Tag(), k.DNSKEY.Hdr.Name)
	fmt.Fprintf(&pub, "; Created: %s (%s)\n", ts, created.UTC().Format(time.ANSIC))
	fmt.Fprintf(&pub, "; Publish: %s (%s)\n", ts, created.UTC().Format(time.ANSIC))
	fmt.Fprintf(&pub, "; Activate: %s (%s)\n", ts, created.UTC().Format(time.ANSIC))
	fmt.Fprintf(&pub, "%s IN DNSKEY %d %d %d %s\n", k.DNSKEY.Hdr.Name, k.DNSKEY.Flags, k.DNSKEY.Protocol, k.DNSKEY.Algorithm, k.DNSKEY.PublicKey)
	priv := k.DNSKEY.PrivateKeyString(k.Signer)
	priv += fmt.Sprintf("Created: %s\nPublish: %s\nActivate: %s\n", ts, ts, ts)
	if err := atomicfile.Write(filepath.Join(dir, k.Base+".private"), []byte(priv), 0o600); err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(dir, k.Base+".key"), pub.Bytes(), 0o600)
}

// readPublic reads the DNSKEY of dir/base.key.
func readPublic(dir, base string) (*dns.DNSKEY, error) {
	pubPath := filepath.Join(dir, base+".key")
	b, err := os.ReadFile(pubPath)
	if err != nil {
		return nil, err
	}
	var dk *dns.DNSKEY
	zp := dns.NewZoneParser(bytes.NewReader(b), "", pubPath)
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		if k, ok := rr.(*dns.DNSKEY); ok {
			dk = k
			break
		}
	}
	if err := zp.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", pubPath, err)
	}
	if dk == nil {
		return nil, fmt.Errorf("%s: no DNSKEY record", pubPath)
	}
	dk.Hdr.Name = strings.ToLower(dk.Hdr.Name)
	return dk, nil
}

// readKey loads the key pair dir/base.{key,private} and checks that the
// private key matches the public one.
func readKey(dir, base string) (*Key, error) {
	dk, err := readPublic(dir, base)
	if err != nil {
		return nil, err
	}
	pubPath := filepath.Join(dir, base+".key")
	privPath := filepath.Join(dir, base+".private")
	f, err := os.Open(privPath)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	priv, err := dk.ReadPrivateKey(f, privPath)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", privPath, err)
	}
	signer, ok := priv.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%s: key type %T cannot sign", privPath, priv)
	}
	if ek, ok := priv.(ed25519.PrivateKey); ok && len(ek) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("%s: Ed25519 private key of %d octets, want %d", privPath, len(ek), ed25519.PrivateKeySize)
	}
	k := &Key{Base: base, DNSKEY: dk, Signer: signer}
	if _, ok := algorithms[dk.Algorithm]; !ok && dk.Algorithm != dns.RSASHA512 {
		return nil, fmt.Errorf("%s: algorithm %s cannot be used for online signing (ECDSAP256SHA256, ECDSAP384SHA384, ED25519, RSASHA256, RSASHA512 can)", pubPath, dns.AlgorithmToString[dk.Algorithm])
	}
	if err := k.selfTest(); err != nil {
		return nil, fmt.Errorf("%s and %s do not belong together: %w", pubPath, privPath, err)
	}
	return k, nil
}

// selfTest signs a record with the private key and verifies the signature
// with the public key.
func (k *Key) selfTest() (err error) {
	defer func() {
		// A malformed key the checks above let through must not stop the
		// server: it is refused like a mismatched one.
		if r := recover(); r != nil {
			err = fmt.Errorf("signing with the private key failed: %v", r)
		}
	}()
	rr := &dns.TXT{Hdr: dns.RR_Header{Name: k.DNSKEY.Hdr.Name, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 60}, Txt: []string{"self-test"}}
	sig := &dns.RRSIG{
		Algorithm: k.DNSKEY.Algorithm, KeyTag: k.Tag(), SignerName: k.DNSKEY.Hdr.Name,
		Inception: 1, Expiration: 2,
	}
	if err := sig.Sign(k.Signer, []dns.RR{rr}); err != nil {
		return err
	}
	return sig.Verify(k.DNSKEY, []dns.RR{rr})
}

// findKeys lists the bases of the key pairs for zone in dir (both files
// present), sorted.
func findKeys(dir, zone string) ([]string, error) {
	m, err := filepath.Glob(filepath.Join(dir, "K"+globEscape(zone)+"+*+*.private"))
	if err != nil {
		return nil, err
	}
	var out []string
	for _, p := range m {
		base := strings.TrimSuffix(filepath.Base(p), ".private")
		if _, err := os.Stat(filepath.Join(dir, base+".key")); err == nil {
			out = append(out, base)
		}
	}
	sort.Strings(out)
	return out, nil
}

func globEscape(s string) string {
	r := strings.NewReplacer(`*`, `\*`, `?`, `\?`, `[`, `\[`, `\`, `\\`)
	return r.Replace(s)
}

// dsOf returns the DS record (digest type d) of a key, with the given TTL.
func dsOf(k *dns.DNSKEY, d uint8, ttl uint32) *dns.DS {
	ds := k.ToDS(d)
	if ds != nil {
		ds.Hdr.Ttl = ttl
	}
	return ds
}
