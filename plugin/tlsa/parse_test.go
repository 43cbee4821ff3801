package tlsa

import (
	"strings"
	"testing"
	"time"

	"github.com/coredns/caddy"
)

func TestParse(t *testing.T) {
	in := `tlsa example.test {
		cert www state/certs/www/fullchain.pem {
			key state/certs/www/privkey.pem
			next state/certs/www/privkey.next.pem
			service 443/tcp www.example.test.
			service 25/tcp mail
			form 3 1 1
			form DANE-TA SPKI SHA2-512
			ttl 1m
			holddown 300s
			view outside
		}
		cert mx /etc/letsencrypt/live/mx {
			name _25._tcp.mx.example.test
			next none
		}
		ttl 300
		reread 10s
		http
	}`
	c := caddy.NewTestController("dns", in)
	blocks, err := parse(c)
	if err != nil {
		t.Fatal(err)
	}
	b := blocks[0]
	if b.origin != "example.test." || b.reread != 10*time.Second || b.http != DefaultHTTPAddr || len(b.certs) != 2 {
		t.Fatalf("block %+v", b)
	}
	w := b.certs[0].cfg
	if w.ID != "www" || w.Key != "state/certs/www/privkey.pem" || len(w.Next) != 1 || w.TTL != 60 || w.HoldDown != 300*time.Second {
		t.Fatalf("www %+v", w)
	}
	if strings.Join(w.Names, " ") != "_443._tcp.www.example.test. _25._tcp.mail.example.test." {
		t.Fatalf("names %v", w.Names)
	}
	if len(w.Forms) != 2 || w.Forms[1] != (Form{2, 1, 2}) || len(w.Views) != 1 {
		t.Fatalf("forms %v views %v", w.Forms, w.Views)
	}
	mx := b.certs[1].cfg
	if mx.TTL != 300 || mx.HoldDown != 600*time.Second || mx.Next == nil || len(mx.Next) != 0 || mx.Forms[0] != DefaultForm {
		t.Fatalf("mx %+v", mx)
	}
	if mx.Names[0] != "_25._tcp.mx.example.test." {
		t.Fatalf("mx names %v", mx.Names)
	}
}

func TestParseErrors(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`tlsa example.test {
		}`, "no 'cert'"},
		{`tlsa example.test {
			cert www f.pem
		}`, "a block with at least"},
		{`tlsa example.test {
			cert www f.pem {
				key k.pem
			}
		}`, "no owner names"},
		{`tlsa example.test {
			cert www f.pem {
				service 443 www
			}
		}`, "PORT/PROTO"},
		{`tlsa example.test {
			cert www f.pem {
				service 443/tcp www
				form 1 1 1
			}
		}`, "PKIX-EE"},
		{`tlsa example.test {
			cert www f.pem {
				service 443/tcp www
				form 3 1 0
			}
		}`, "matching type 0"},
		{`tlsa example.test {
			cert www f.pem {
				service 443/tcp www
				ttl 60
				holddown 100s
			}
		}`, "shorter than twice the TTL"},
		{`tlsa example.test {
			cert www f.pem {
				name _443._tcp.www.example.org.
			}
		}`, "not in zone"},
		{`tlsa example.test {
			cert www f.pem {
				service 443/tcp www
				layout caddy
			}
		}`, "layout"},
		{`tlsa example.test {
			cert www f.pem {
				service 443/tcp www
			}
			http 192.0.2.1:8553
		}`, "loopback"},
		{`tlsa example.test {
			cert www f.pem {
				service 443/tcp www
				colour blue
			}
		}`, "unknown property"},
	} {
		_, err := parse(caddy.NewTestController("dns", c.in))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s\n  error %v, want %q", c.in, err, c.want)
		}
	}
}

func TestAbsName(t *testing.T) {
	for in, want := range map[string]string{
		"www":                "www.example.test.",
		"www.example.test":   "www.example.test.",
		"www.example.test.":  "www.example.test.",
		"@":                  "example.test.",
		"mail.example.org":   "mail.example.org.example.test.",
		"WWW.Example.TEST":   "www.example.test.",
		"example.test":       "example.test.",
		"sub.www":            "sub.www.example.test.",
		"_25._tcp.mail.":     "_25._tcp.mail.",
		"mail.example.test.": "mail.example.test.",
	} {
		if got := absName(in, "example.test."); got != want {
			t.Errorf("absName(%q) = %q, want %q", in, got, want)
		}
	}
}
