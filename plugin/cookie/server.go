package cookie

import (
	"crypto/subtle"
	"encoding/binary"
	"net/netip"
	"time"
)

// Secret is a server secret: the SipHash-2-4 key of RFC 9018 server
// cookies (128 bits).
type Secret [16]byte

// The server cookie of RFC 9018 §4.2:
//
//	Version (1) = 1 | Reserved (3) | Timestamp (4, seconds, serial number
//	arithmetic) | Hash (8) = SipHash-2-4(secret, Client Cookie | Version |
//	Reserved | Timestamp | Client-IP)
//
// Client-IP is 4 octets for IPv4 (an IPv4-mapped IPv6 address counts as
// IPv4) and 16 for IPv6.
const version = 1

// Cookie lifetime (RFC 9018 §4.3): a server cookie is valid for an hour
// after its timestamp and at most 5 minutes before it (clock skew between
// the servers of an anycast set); one older than half an hour is replaced
// by a fresh one in the answer.
const (
	lifetime  = 3600
	skew      = 300
	renewAge  = 1800
	macOffset = 8
)

// serverCookie makes the server cookie for a client cookie and address at
// time ts (Unix seconds), with zero reserved octets (§4.2).
func (s *Secret) serverCookie(client *[clientLen]byte, ip netip.Addr, ts uint32) [serverLen]byte {
	var c [serverLen]byte
	c[0] = version
	binary.BigEndian.PutUint32(c[4:8], ts)
	binary.LittleEndian.PutUint64(c[macOffset:], s.mac(client, c[:macOffset], ip))
	return c
}

// matches reports whether server is a cookie this secret made for client at
// ip (any reserved octets are covered by the hash as they came).
func (s *Secret) matches(client *[clientLen]byte, server []byte, ip netip.Addr) bool {
	if len(server) != serverLen || server[0] != version {
		return false
	}
	var want [8]byte
	binary.LittleEndian.PutUint64(want[:], s.mac(client, server[:macOffset], ip))
	return subtle.ConstantTimeCompare(want[:], server[macOffset:]) == 1
}

// mac is the hash over the client cookie, the cookie's first 8 octets
// (version, reserved, timestamp) and the client's address.
func (s *Secret) mac(client *[clientLen]byte, head []byte, ip netip.Addr) uint64 {
	var buf [clientLen + macOffset + 16]byte
	n := copy(buf[:], client[:])
	n += copy(buf[n:], head)
	ip = ip.Unmap()
	if ip.Is4() {
		a := ip.As4()
		n += copy(buf[n:], a[:])
	} else {
		a := ip.As16()
		n += copy(buf[n:], a[:])
	}
	k := (*[16]byte)(s)
	return sipHash24(k, buf[:n])
}

// timestamp is a server cookie's timestamp (the cookie has serverLen octets).
func timestamp(server []byte) uint32 { return binary.BigEndian.Uint32(server[4:8]) }

// age is now - ts in serial number arithmetic (RFC 1982, as §4.3 says):
// negative for a timestamp in the future, right across the 2106 wrap.
func age(ts, now uint32) int32 { return int32(now - ts) }

// usable: within the cookie's lifetime and not too far ahead.
func usable(ts, now uint32) bool {
	a := age(ts, now)
	return a <= lifetime && a >= -skew
}

// worn: old enough that the answer carries a fresh cookie.
func worn(ts, now uint32) bool { return age(ts, now) >= renewAge }

// ServerCookie is the RFC 9018 server cookie that secret makes for the
// client cookie client at address ip at time at: for tools that hand a
// client a valid cookie (bench/cmd/cookiegen), and tests.
func ServerCookie(secret Secret, client [8]byte, ip netip.Addr, at time.Time) [16]byte {
	return secret.serverCookie(&client, ip, unixTime(at))
}
