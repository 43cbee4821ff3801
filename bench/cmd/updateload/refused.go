package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// refusedKinds are the UPDATEs of an attacker's flood, each refused before
// anything changes:
//
//	unsigned  no TSIG (REFUSED by acmechallenge)
//	scope     signed with -key, for a name the key is not granted (REFUSED)
//	badsig    -key's name, a guessed secret (NOTAUTH/BADSIG, by the gate)
//	twotsig   signed with -key plus a forged TSIG record naming -forge (FORMERR, by the gate)
//	badtime   signed with -key an hour ago (NOTAUTH/BADTIME, signed, by the gate)
var refusedKinds = []string{"unsigned", "scope", "badsig", "twotsig", "badtime", "mix"}

// refuser builds and sends the refused UPDATEs of one kind.
type refuser struct {
	kind             string
	zone, victim     string
	key, alg, secret string
	forge            string
}

func newRefuser(kind, zone, victim, key, alg, secret, forge string) (*refuser, error) {
	for _, k := range refusedKinds {
		if k == kind {
			return &refuser{kind: kind, zone: zone, victim: victim, key: key, alg: alg, secret: secret, forge: forge}, nil
		}
	}
	return nil, fmt.Errorf("-refused %q: want one of %s", kind, strings.Join(refusedKinds, ", "))
}

// message returns the i-th message's bytes (a new ID and value each time:
// never a replay).
func (a *refuser) message(i int) ([]byte, error) {
	kind := a.kind
	if kind == "mix" {
		kind = refusedKinds[i%(len(refusedKinds)-1)]
	}
	m := new(dns.Msg)
	m.SetUpdate(a.zone)
	m.Insert([]dns.RR{&dns.TXT{Hdr: dns.RR_Header{Name: a.victim, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 60}, Txt: []string{digest()}}})
	at, secret := time.Now(), a.secret
	switch kind {
	case "unsigned":
		return m.Pack()
	case "badsig":
		secret = "Z3Vlc3NlZC1zZWNyZXQtb2YtYW4tYXR0YWNrZXItMDE="
	case "twotsig":
		m.Extra = append(m.Extra, &dns.TSIG{Hdr: dns.RR_Header{Name: a.forge, Rrtype: dns.TypeTSIG, Class: dns.ClassANY}, Algorithm: dns.HmacSHA256,
			TimeSigned: uint64(at.Unix()), Fudge: 300, MACSize: 32, MAC: strings.Repeat("5a", 32), OrigId: m.Id})
	case "badtime":
		at = at.Add(-time.Hour)
	}
	m.SetTsig(a.key, a.alg, 300, at.Unix())
	b, _, err := dns.TsigGenerate(m, secret, "", false)
	return b, err
}

// exchange sends the i-th message on co and reads the answer.
func (a *refuser) exchange(co *dns.Conn, i int) (*dns.Msg, error) {
	b, err := a.message(i)
	if err != nil {
		return nil, err
	}
	co.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := (&dns.Conn{Conn: co.Conn}).Write(b); err != nil {
		return nil, err
	}
	// The answer is parsed, not verified: ReadMsg would try to verify the
	// TSIG of the (signed) BADTIME answers with secrets it does not have.
	p, err := (&dns.Conn{Conn: co.Conn}).ReadMsgHeader(nil)
	if err != nil {
		return nil, err
	}
	m := new(dns.Msg)
	return m, m.Unpack(p)
}
