package cookie

import (
	"bytes"
	"context"
	"encoding/hex"
	"testing"

	"github.com/miekg/dns"
)

// FuzzParse: Parse accepts exactly the lengths RFC 7873 allows (8, 16..40),
// and what it accepts is the input, split.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"", "2464c4abcf10c957", "2464c4abcf10c957010000005cf79f111f8130c3eee29480", "2464c4abcf10c95701"} {
		b, _ := hex.DecodeString(s)
		f.Add(b)
	}
	f.Add(bytes.Repeat([]byte{0xab}, 41))
	f.Fuzz(func(t *testing.T, data []byte) {
		o, err := Parse(data)
		n := len(data)
		legal := n == 8 || (n >= 16 && n <= 40)
		if (err == nil) != legal {
			t.Fatalf("%d octets: error %v, legal %v", n, err, legal)
		}
		if err != nil {
			return
		}
		back := append(o.Client[:], o.Server...)
		if !bytes.Equal(back, data) {
			t.Fatalf("split %x into %x + %x", data, o.Client, o.Server)
		}
		if n == 8 && o.Server != nil {
			t.Fatal("a client cookie alone has a server cookie")
		}
	})
}

// FuzzServeDNS drives the handler with arbitrary messages. Properties: no
// panic; a request either reaches the next plugin (with the verdict about
// its first COOKIE option) or gets FORMERR without reaching it; every
// message answer to a request with a COOKIE option that reached the next
// plugin carries exactly one COOKIE option: the request's client cookie
// and a server cookie that is valid for it.
func FuzzServeDNS(f *testing.F) {
	for _, cs := range [][]string{nil, {clientCookie}, {clientCookie + "010000005cf79f111f8130c3eee29480"}, {"ab"}, {clientCookie, "ab"}} {
		m := new(dns.Msg)
		m.SetQuestion("www.example.test.", dns.TypeA)
		m.SetEdns0(1232, true)
		for _, c := range cs {
			m.IsEdns0().Option = append(m.IsEdns0().Option, &dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: c})
		}
		b, _ := m.Pack()
		f.Add(b)
	}
	clk := newClock()
	f.Fuzz(func(t *testing.T, raw []byte) {
		r := new(dns.Msg)
		if r.Unpack(raw) != nil || len(r.Question) != 1 {
			return
		}
		c, n := newPlugin(clk, secretA)
		w := &sink{}
		if _, err := c.ServeDNS(context.Background(), w, r); err != nil {
			return // the answer did not pack (e.g. a bad rcode from the fuzzer's OPT); nothing to check
		}
		var first *dns.EDNS0_COOKIE
		if o := r.IsEdns0(); o != nil {
			for _, e := range o.Option {
				if x, ok := e.(*dns.EDNS0_COOKIE); ok {
					first = x
					break
				}
			}
		}
		if len(w.Msgs) != 1 {
			return // the answer did not pack
		}
		m := w.Msgs[0]
		if n.calls == 0 {
			if m.Rcode != dns.RcodeFormatError || first == nil {
				t.Fatalf("not passed on, answered %s (COOKIE %v)", dns.RcodeToString[m.Rcode], first)
			}
			return
		}
		if first == nil {
			return
		}
		data, _ := hex.DecodeString(first.Cookie)
		o, err := Parse(data)
		if err != nil {
			t.Fatalf("a malformed first COOKIE (%x) reached the next plugin", data)
		}
		cs := cookiesOf(m)
		if len(cs) != 1 {
			t.Fatalf("%d COOKIE options in the answer", len(cs))
		}
		got, _ := hex.DecodeString(cs[0])
		back, _ := Parse(got)
		if !bytes.Equal(back.Client[:], o.Client[:]) {
			t.Fatalf("answer's client cookie %x, request's %x", back.Client, o.Client)
		}
		if v, _ := check(c.ring.at(clk.Now()), &back, ClientAddr(w), unixTime(clk.Now())); v != Valid {
			t.Fatalf("the answer's server cookie %x is not valid (%v)", back.Server, v)
		}
	})
}
