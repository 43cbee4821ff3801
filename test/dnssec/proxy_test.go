package dnssec

import (
	"encoding/base64"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/dnspki/dnspki/test/harness"
)

// startTamperProxy relays UDP queries to upstream and flips one byte of the
// signature of every RRSIG covering qtype at name in the answers. It returns
// the proxy's address.
func startTamperProxy(t testing.TB, upstream, name string, qtype uint16) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", harness.Addr(harness.FreePort(t)))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { close(done); pc.Close() })
	go func() {
		buf := make([]byte, 65535)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			q := append([]byte(nil), buf[:n]...)
			go func() {
				up, err := net.Dial("udp", upstream)
				if err != nil {
					return
				}
				defer up.Close()
				up.SetDeadline(time.Now().Add(3 * time.Second))
				if _, err := up.Write(q); err != nil {
					return
				}
				rb := make([]byte, 65535)
				rn, err := up.Read(rb)
				if err != nil {
					return
				}
				out := rb[:rn]
				m := new(dns.Msg)
				if m.Unpack(out) == nil {
					changed := false
					for _, rr := range m.Answer {
						s, ok := rr.(*dns.RRSIG)
						if !ok || s.TypeCovered != qtype || !strings.EqualFold(s.Hdr.Name, name) {
							continue
						}
						sig, err := base64.StdEncoding.DecodeString(s.Signature)
						if err != nil || len(sig) < 10 {
							continue
						}
						sig[10] ^= 0x01
						s.Signature = base64.StdEncoding.EncodeToString(sig)
						changed = true
					}
					if changed {
						if b, err := m.Pack(); err == nil {
							out = b
						}
					}
				}
				select {
				case <-done:
				default:
					pc.WriteTo(out, from)
				}
			}()
		}
	}()
	return pc.LocalAddr().String()
}
