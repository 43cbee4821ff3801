package onlinesign

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"hash"
	"io"
	"runtime"
	"strings"
	"sync"

	"github.com/miekg/dns"
)

// The private-key operations run on a few long-lived goroutines. A query is
// served on a fresh goroutine with a small stack; the elliptic-curve code is
// deep enough that running it there costs a stack copy on nearly every
// signature (about as much as a third of the signature itself). The pool's
// goroutines grew their stacks once.

type signJob struct {
	key    crypto.Signer
	digest []byte
	opts   crypto.SignerOpts
	sig    []byte
	err    error
	done   chan struct{}
}

var (
	poolOnce sync.Once
	poolJobs chan *signJob // answers waiting for a signature
	bulkJobs chan *signJob // background signing: after the answers
	jobPool  = sync.Pool{New: func() any { return &signJob{done: make(chan struct{}, 1)} }}
)

func startPool() {
	n := runtime.GOMAXPROCS(0)
	poolJobs = make(chan *signJob, 4*n)
	bulkJobs = make(chan *signJob, n)
	for range n {
		go func() {
			for {
				var j *signJob
				select {
				case j = <-poolJobs:
				default:
					select {
					case j = <-poolJobs:
					case j = <-bulkJobs:
					}
				}
				j.sig, j.err = j.key.Sign(rand.Reader, j.digest, j.opts)
				j.done <- struct{}{}
			}
		}()
	}
}

// poolSign signs digest with key on a pool goroutine.
func poolSign(key crypto.Signer, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	return poolSignQ(key, digest, opts, false)
}

func poolSignQ(key crypto.Signer, digest []byte, opts crypto.SignerOpts, bulk bool) ([]byte, error) {
	poolOnce.Do(startPool)
	j := jobPool.Get().(*signJob)
	j.key, j.digest, j.opts = key, digest, opts
	if bulk {
		bulkJobs <- j
	} else {
		poolJobs <- j
	}
	<-j.done
	sig, err := j.sig, j.err
	j.key, j.digest, j.sig, j.err = nil, nil, nil, nil
	jobPool.Put(j)
	return sig, err
}

// pooled is a crypto.Signer that signs on the pool (bulk: after the
// signatures answers wait for).
type pooled struct {
	crypto.Signer
	bulk bool
}

func (p pooled) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	return poolSignQ(p.Signer, digest, opts, p.bulk)
}

// hashFor returns the hash of a DNSSEC algorithm (0 for Ed25519, which
// signs the data itself).
func hashFor(alg uint8) (crypto.Hash, func() hash.Hash, error) {
	switch alg {
	case dns.ECDSAP256SHA256, dns.RSASHA256:
		return crypto.SHA256, sha256.New, nil
	case dns.ECDSAP384SHA384:
		return crypto.SHA384, sha512.New384, nil
	case dns.RSASHA512:
		return crypto.SHA512, sha512.New, nil
	case dns.ED25519:
		return 0, nil, nil
	}
	return 0, nil, dns.ErrAlg
}

// appendName appends the uncompressed wire form of a (lowercase) name.
func appendName(b []byte, name string) ([]byte, error) {
	buf := make([]byte, 256)
	n, err := dns.PackDomainName(name, buf, 0, nil, false)
	if err != nil {
		return nil, err
	}
	return append(b, buf[:n]...), nil
}

// signNSEC signs one NSEC record (its owner and next name lowercase) without
// the generic canonicalization: the signed data is built directly (RFC 4034
// §3.1.8.1) and the private-key operation runs on the pool.
func signNSEC(k *signingKey, signerName string, nsec *dns.NSEC, inc, exp uint32) (*dns.RRSIG, error) {
	sig := &dns.RRSIG{
		Hdr:         dns.RR_Header{Name: nsec.Hdr.Name, Rrtype: dns.TypeRRSIG, Class: dns.ClassINET, Ttl: nsec.Hdr.Ttl},
		TypeCovered: dns.TypeNSEC,
		Algorithm:   k.alg,
		Labels:      uint8(dns.CountLabel(nsec.Hdr.Name)),
		OrigTtl:     nsec.Hdr.Ttl,
		Expiration:  exp,
		Inception:   inc,
		KeyTag:      k.tag,
		SignerName:  signerName,
	}
	if strings.HasPrefix(nsec.Hdr.Name, "*.") {
		sig.Labels-- // RFC 4034 §3.1.3: a leading wildcard label is not counted
	}
	data := make([]byte, 0, 512)
	data = binary.BigEndian.AppendUint16(data, sig.TypeCovered)
	data = append(data, sig.Algorithm, sig.Labels)
	data = binary.BigEndian.AppendUint32(data, sig.OrigTtl)
	data = binary.BigEndian.AppendUint32(data, sig.Expiration)
	data = binary.BigEndian.AppendUint32(data, sig.Inception)
	data = binary.BigEndian.AppendUint16(data, sig.KeyTag)
	var err error
	if data, err = appendName(data, strings.ToLower(signerName)); err != nil {
		return nil, err
	}
	rr := make([]byte, 512)
	n, err := dns.PackRR(nsec, rr, 0, nil, false)
	if err != nil {
		return nil, err
	}
	data = append(data, rr[:n]...)
	raw, err := signData(k, data)
	if err != nil {
		return nil, err
	}
	sig.Signature = base64.StdEncoding.EncodeToString(raw)
	return sig, nil
}

// signData signs data with k as DNSSEC wants it: the hash of the algorithm
// (none for Ed25519), ECDSA as r||s (RFC 6605 §4).
func signData(k *signingKey, data []byte) ([]byte, error) {
	ch, hf, err := hashFor(k.alg)
	if err != nil {
		return nil, err
	}
	digest := data
	var opts crypto.SignerOpts = ch
	if hf != nil {
		h := hf()
		h.Write(data)
		digest = h.Sum(nil)
	}
	signer := k.key.Signer
	raw, err := poolSign(signer, digest, opts)
	if err != nil {
		return nil, err
	}
	switch signer.(type) {
	case *ecdsa.PrivateKey:
		size := 32
		if k.alg == dns.ECDSAP384SHA384 {
			size = 48
		}
		return ecdsaRawSignature(raw, size)
	case ed25519.PrivateKey, *rsa.PrivateKey:
		return raw, nil
	}
	return raw, nil
}

// ecdsaRawSignature converts an ASN.1 ECDSA signature to r||s, each size
// octets.
func ecdsaRawSignature(der []byte, size int) ([]byte, error) {
	// SEQUENCE { INTEGER r, INTEGER s }
	bad := errors.New("malformed ECDSA signature")
	if len(der) < 8 || der[0] != 0x30 {
		return nil, bad
	}
	p := der[2:]
	if der[1]&0x80 != 0 {
		if der[1] != 0x81 || len(der) < 3 {
			return nil, bad
		}
		p = der[3:]
	}
	out := make([]byte, 2*size)
	for i := range 2 {
		if len(p) < 2 || p[0] != 0x02 {
			return nil, bad
		}
		l := int(p[1])
		if l == 0 || len(p) < 2+l {
			return nil, bad
		}
		v := p[2 : 2+l]
		for len(v) > 0 && v[0] == 0 {
			v = v[1:]
		}
		if len(v) > size {
			return nil, bad
		}
		copy(out[(i+1)*size-len(v):(i+1)*size], v)
		p = p[2+l:]
	}
	return out, nil
}
