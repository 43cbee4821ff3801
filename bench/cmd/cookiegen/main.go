// Command cookiegen prints a COOKIE option (client cookie and RFC 9018
// server cookie) that a dnspki configured with the secret accepts from the
// address for the next hour, as dnsperf's -E argument:
//
//	cookiegen -secret 0123456789abcdef0123456789abcdef -ip 127.0.0.1
//	10:0102030405060708010000006757a3d2e4f1b0a9c3d2e1f0
package main

import (
	"encoding/hex"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"time"

	"github.com/dnspki/dnspki/plugin/cookie"
)

func main() {
	secretHex := flag.String("secret", "", "the server secret (32 hex digits)")
	clientHex := flag.String("client", "0102030405060708", "the client cookie (16 hex digits)")
	ipText := flag.String("ip", "127.0.0.1", "the client's address")
	flag.Parse()
	var secret cookie.Secret
	var client [8]byte
	if b, err := hex.DecodeString(*secretHex); err != nil || len(b) != len(secret) {
		fail("-secret: want 32 hex digits")
	} else {
		copy(secret[:], b)
	}
	if b, err := hex.DecodeString(*clientHex); err != nil || len(b) != len(client) {
		fail("-client: want 16 hex digits")
	} else {
		copy(client[:], b)
	}
	ip, err := netip.ParseAddr(*ipText)
	if err != nil {
		fail("-ip: " + err.Error())
	}
	sc := cookie.ServerCookie(secret, client, ip, time.Now())
	fmt.Printf("10:%x%x\n", client, sc)
}

func fail(msg string) {
	fmt.Fprintln(os.Stderr, "cookiegen:", msg)
	os.Exit(2)
}
