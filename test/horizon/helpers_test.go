// Package horizon tests split horizon (plugin/horizon with authzone views)
// end to end: no internal name, label or address leaks to an external
// client through answers, denials, NSEC walks, transfers, serials or
// journals; internal clients get signed internal answers that unbound
// validates; Knot secondaries transfer exactly their view by TSIG key; the
// split-horizon example works as documented.
package horizon

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/dnspki/dnspki/plugin/pkg/zonemodel"
	"github.com/dnspki/dnspki/test/harness"
)

const zone = "example.test."

var (
	keyInternal = &harness.TSIGKey{Name: "xfr-internal.", Algorithm: "hmac-sha256", Secret: "eGZyLWludGVybmFsLWxlYWt0ZXN0LWtleS0wMTIzeHg="}
	keyExternal = &harness.TSIGKey{Name: "xfr-external.", Algorithm: "hmac-sha256", Secret: "eGZyLWV4dGVybmFsLWxlYWt0ZXN0LWtleS0wMTIzeHg="}
	keyACME     = &harness.TSIGKey{Name: "acme-git.", Algorithm: "hmac-sha256", Secret: "YWNtZS1naXQtbGVha3Rlc3Qta2V5LTAxMjM0NTY3eHg="}
)

// The public zone: what everyone sees (the base file of both views).
const publicZone = `$ORIGIN example.test.
$TTL 3600
@       IN SOA  ns1.example.test. hostmaster.example.test. 2026010100 3600 600 1209600 60
        IN NS   ns1.example.test.
        IN NS   ns2.example.test.
        IN A    192.0.2.1
        IN AAAA 2001:db8::1
        IN MX   10 mail.example.test.
        IN TXT  "v=spf1 mx -all"
        IN CAA  0 issue "pebble.letsencrypt.org"
ns1     IN A    192.0.2.53
ns2     IN A    192.0.2.54
        IN AAAA 2001:db8::54
www     IN A    192.0.2.10
        IN AAAA 2001:db8::10
mail    IN A    192.0.2.25
        IN AAAA 2001:db8::25
api     IN A    192.0.2.30
ftp     IN CNAME www
*.apps  IN A    192.0.2.80
        IN TXT  "wildcard"
_sip._udp IN SRV 10 60 5060 www
sub     IN NS   ns.sub.example.test.
ns.sub  IN A    192.0.2.99
`

// The internal view's file: names, addresses and data no outsider may see.
// Every internal-only label here is distinct from the public zone's labels.
const internalZoneHead = `$ORIGIN example.test.
$TTL 300
; first-level internal names
vpn          IN A     10.0.0.1
             IN AAAA  fd00::1
             IN TXT   "vpngateway-secret"
intranet     IN A     10.0.0.2
portal       IN A     10.0.0.3
             IN AAAA  fd00::3
alias-vpn    IN CNAME vpn
; internal overrides of public names
mail         IN A     10.1.2.25
www          IN A     10.0.0.80
; the intra subtree, several depths
intra        IN MX    10 mxint.intra
mxint.intra  IN A     10.0.1.25
www.intra    IN A     10.1.2.3
             IN AAAA  fd00::1:3
git.intra    IN A     10.1.2.5
_443._tcp.git.intra IN TLSA 3 1 1 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
db.intra     IN A     10.1.2.4
             IN AAAA  fd00::1:4
ldap.intra   IN A     10.1.2.6
_ldap._tcp.intra IN SRV 0 0 389 ldap.intra
_kerberos.intra  IN TXT "realm-corpsecret"
wiki.intra   IN CNAME confluence.intra
confluence.intra IN A 10.1.2.7
sso.intra    IN CNAME keycloak.intra
keycloak.intra IN A   10.1.2.8
vault.intra  IN A     10.1.2.9
hr.intra     IN TXT   "hrportal-internal"
payroll.hr.intra IN A 10.1.3.1
lvlone.lvltwo.lvlthree.deep.intra IN A 10.1.4.1
qone.qtwo.deep.intra IN AAAA fd00:4::1
printers.intra IN HTTPS 1 . alpn=h2 ipv4hint=10.1.5.1 ipv6hint=fd00:5::1
; an internal name under the public wildcard
build.apps   IN A     10.4.0.1
; internal delegations with glue
corp         IN NS    ns1.corp
ns1.corp     IN A     10.20.0.53
             IN AAAA  fd00:20::53
lab.intra    IN NS    nsx.lab.intra
nsx.lab.intra IN A    10.21.0.53
`

// internalZone is the internal file: the head plus 40 hosts (host01..host40
// .hostpool.intra, A in 10.3/16, AAAA in fd00:3::/32, every fourth with a TXT).
func internalZone(extra string) string {
	var b strings.Builder
	b.WriteString(internalZoneHead)
	for i := 1; i <= 40; i++ {
		fmt.Fprintf(&b, "host%02d.hostpool.intra IN A 10.3.0.%d\n", i, i)
		fmt.Fprintf(&b, "host%02d.hostpool.intra IN AAAA fd00:3::%x\n", i, i)
		if i%4 == 0 {
			fmt.Fprintf(&b, "host%02d.hostpool.intra IN TXT \"assettag-%02d\"\n", i, i)
		}
	}
	b.WriteString(extra)
	return b.String()
}

// Names whose validation records are public: dnspersist authorizes
// www.intra and portal; an ACME client sets _acme-challenge.git.intra by
// UPDATE. These internal names exist externally as empty non-terminals.
var withPublicRecords = []string{"www.intra.example.test.", "portal.example.test.", "git.intra.example.test.", "intra.example.test."}

// TLSA records the tlsa plugin publishes (without a view option) for a
// certificate of a public and an internal host: each in the views where its
// host has records.
const (
	tlsaPublic   = "_443._tcp.www.example.test."
	tlsaInternal = "_443._tcp.vault.intra.example.test."
)

var validationRecords = []string{
	"_validation-persist.www.intra.example.test.",
	"_validation-persist.portal.example.test.",
	"_acme-challenge.git.intra.example.test.",
}

const (
	persistIssuer = "pebble.letsencrypt.org"
	persistURI    = "https://127.0.0.1:14000/my-account/1"
	acmeValue     = "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0"
	acmeValue2    = "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA"
)

// corefile is the test's configuration: internal view for 127.0.0.1 and
// the xfr-internal. key; external for everyone else; signed; validation
// records from dnspersist and acmechallenge; transfers per view by key.
func corefile(port, metricsPort int, v6 bool, extra string) string {
	bind := "127.0.0.1"
	if v6 {
		bind += " ::1"
	}
	return fmt.Sprintf(`example.test:%[1]d {
    bind %[2]s
    prometheus 127.0.0.1:%[3]d
    horizon {
        view internal {
            source 127.0.0.1 10.0.0.0/8 fd00::/8
            key xfr-internal.
        }
        view external
    }
    acmechallenge example.test {
        key %[4]s %[5]s %[6]s
        grant %[4]s subdomain intra.example.test
    }
    authzone example.test {
        file public.zone
        file internal.zone view internal
        views internal external
        key %[7]s %[8]s %[9]s
        key %[10]s %[11]s %[12]s
        transfer to * key %[7]s view internal
        transfer to * key %[10]s view external
%[13]s
    }
    dnspersist example.test {
        authorize www.intra.example.test portal.example.test {
            issuer %[14]s
            accounturi %[15]s
        }
    }
    tlsa example.test {
        cert web certs/web {
            service 443/tcp www.example.test. vault.intra.example.test.
            ttl 300
        }
    }
    onlinesign example.test
}
`, port, bind, metricsPort,
		keyACME.Name, keyACME.Algorithm, keyACME.Secret,
		keyInternal.Name, keyInternal.Algorithm, keyInternal.Secret,
		keyExternal.Name, keyExternal.Algorithm, keyExternal.Secret,
		extra, persistIssuer, persistURI)
}

// hasIPv6 reports whether ::1 can be bound (the machine has IPv6 loopback).
func hasIPv6() bool {
	l, err := net.ListenPacket("udp6", "[::1]:0")
	if err != nil {
		return false
	}
	l.Close()
	return true
}

type server struct {
	*harness.Server
	metrics string // http://127.0.0.1:port/metrics
	v6      bool
}

// startServer writes the zone files and the Corefile and starts dnspki;
// authzoneExtra goes into the authzone block (notify lines).
func startServer(t *testing.T, port int, authzoneExtra string) *server {
	t.Helper()
	dir := t.TempDir()
	write(t, filepath.Join(dir, "public.zone"), publicZone)
	write(t, filepath.Join(dir, "internal.zone"), internalZone(""))
	ca := harness.NewTestCA(t, "horizon test")
	key := harness.NewKey(t)
	if err := os.MkdirAll(filepath.Join(dir, "certs/web"), 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, "certs/web/fullchain.pem"), string(harness.CertsPEM(ca.Issue(t, key, 0, "www.example.test", "vault.intra.example.test")...)))
	write(t, filepath.Join(dir, "certs/web/privkey.pem"), string(harness.KeyPEM(t, key)))
	if port == 0 {
		port = harness.FreePort(t)
	}
	mp := harness.FreePort(t)
	v6 := hasIPv6()
	s := harness.StartDnspki(t, dir, corefile(port, mp, v6, authzoneExtra), port)
	harness.WaitDNS(t, s.Addr, zone, 30*time.Second, s.Proc)
	// The DNSKEY is published by onlinesign after start.
	harness.Eventually(t, 20*time.Second, "DNSKEY published", func() bool {
		r, err := harness.Query(s.Addr, zone, dns.TypeDNSKEY, false, true)
		return err == nil && len(r.Answer) > 0
	})
	return &server{Server: s, metrics: fmt.Sprintf("http://127.0.0.1:%d/metrics", mp), v6: v6}
}

func write(t testing.TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// nsupdate runs BIND's nsupdate from a local source address with a key.
func nsupdate(t *testing.T, addr, local string, key *harness.TSIGKey, commands ...string) (string, error) {
	t.Helper()
	bin := harness.Need(t, "nsupdate")[0]
	host, port, _ := strings.Cut(addr, ":")
	script := fmt.Sprintf("server %s %s\nlocal %s\nzone %s\n%s\nsend\n", host, port, local, zone, strings.Join(commands, "\n"))
	return harness.RunInput(t, 30*time.Second, "", script, bin, "-v", "-t", "5", "-y", key.Algorithm+":"+key.Name+":"+key.Secret)
}

// client sends queries from a chosen local address (127.0.0.2 or ::1 is
// external, 127.0.0.1 internal).
type client struct {
	src    string // local address
	server string // host:port of dnspki
}

func newClient(src string, port int) client {
	c := harness.NewClient(src, port)
	return client{src: c.Src, server: c.Server}
}

func (c client) dnsClient(tcp bool) *dns.Client {
	return harness.Client{Src: c.src, Server: c.server}.DNSClient(tcp)
}

// exchange sends m (retrying twice on timeouts); key signs it.
func (c client) exchange(m *dns.Msg, tcp bool, key *harness.TSIGKey) (*dns.Msg, error) {
	cl := c.dnsClient(tcp)
	if key != nil {
		cl.TsigSecret = map[string]string{key.Name: key.Secret}
		m.SetTsig(key.Name, dns.HmacSHA256, 300, time.Now().Unix())
	}
	var err error
	for i := 0; i < 3; i++ {
		var r *dns.Msg
		r, _, err = cl.Exchange(m, c.server)
		if err == nil {
			return r, nil
		}
	}
	return nil, err
}

// mode is how a query is asked.
type mode struct {
	do, co bool // EDNS DO bit; RFC 9824 Compact Answers OK flag
	noEDNS bool
	tcp    bool
}

func (m mode) String() string {
	s := "noDO"
	switch {
	case m.noEDNS:
		s = "noEDNS"
	case m.co:
		s = "DO+CO"
	case m.do:
		s = "DO"
	}
	if m.tcp {
		return s + "/tcp"
	}
	return s + "/udp"
}

func (c client) query(name string, qtype uint16, md mode) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	m.RecursionDesired = false
	if !md.noEDNS {
		m.SetEdns0(1232, md.do)
		if md.co {
			m.IsEdns0().SetCo()
		}
	}
	return c.exchange(m, md.tcp, nil)
}

// transfer runs an AXFR or IXFR (serial: the client's) over TCP from the
// client's address, signed with key (nil: unsigned), and returns every
// record, or the error (a refusal is "bad xfr rcode").
func (c client) transfer(qtype uint16, serial uint32, key *harness.TSIGKey) ([]dns.RR, error) {
	m := new(dns.Msg)
	if qtype == dns.TypeIXFR {
		m.SetIxfr(zone, serial, "ns1.example.test.", "hostmaster.example.test.")
	} else {
		m.SetAxfr(zone)
	}
	return harness.Client{Src: c.src, Server: c.server}.Transfer(m, key)
}

func (c client) serial(t *testing.T) uint32 {
	t.Helper()
	r, err := c.query(zone, dns.TypeSOA, mode{})
	if err != nil || len(r.Answer) == 0 {
		t.Fatalf("SOA from %s: %v %v", c.src, r, err)
	}
	return r.Answer[0].(*dns.SOA).Serial
}

// ---- what is secret ----

// secrets is what must never reach an external client (harness.Secrets).
type secrets struct{ *harness.Secrets }

func (s *secrets) leaks(qname string, rrs []dns.RR) []string { return s.Leaks(qname, rrs) }

func parseZone(t testing.TB, text string) []dns.RR { return harness.ParseZone(t, zone, text) }

// ancestors returns name and its ancestors down to (excluding) the zone
// apex.
func ancestors(name string) []string { return harness.Ancestors(zone, name) }

func msgRRs(m *dns.Msg) []dns.RR { return harness.MsgRRs(m) }

// newSecrets computes the secret tokens: every word of the internal file
// that no public record (the public zone, the validation records and
// their values) uses.
func newSecrets(t testing.TB, internal string) *secrets {
	t.Helper()
	words := append([]string{tlsaPublic, persistIssuer, persistURI, acmeValue, acmeValue2}, validationRecords...)
	return &secrets{harness.NewSecrets(t, harness.SecretSpec{
		Zone:          zone,
		Public:        parseZone(t, publicZone),
		PublicWords:   words,
		Internal:      parseZone(t, internal),
		InternalNames: []string{tlsaInternal},
	})}
}

// ---- comparing denials ----

// normalize renders a response for comparison with the response to another
// name: the question name becomes QNAME, an NSEC that covers the name (or an
// ancestor: wildcard answers) gets placeholder owner and next names, RRSIG
// signatures and validity times are dropped, the message ID ignored.
func normalize(qname string, m *dns.Msg) string {
	qname = strings.ToLower(qname)
	repl := map[string]string{}
	for _, rr := range msgRRs(m) {
		if n, ok := rr.(*dns.NSEC); ok {
			owner, next := strings.ToLower(n.Hdr.Name), strings.ToLower(n.NextDomain)
			if owner == qname {
				continue
			}
			for _, a := range ancestors(qname) {
				if zonemodel.CanonicalCompare(owner, a) < 0 && zonemodel.CanonicalCompare(a, next) < 0 {
					repl[owner], repl[next] = "COVER-OWNER.", "COVER-NEXT."
				}
			}
		}
	}
	name := func(f string) string {
		l := strings.ToLower(f)
		if r, ok := repl[l]; ok {
			return r
		}
		if l == qname {
			return "QNAME."
		}
		if strings.HasSuffix(l, "."+qname) {
			return l[:len(l)-len(qname)] + "QNAME."
		}
		return f
	}
	var b strings.Builder
	fmt.Fprintf(&b, "rcode=%s aa=%v tc=%v ra=%v ad=%v cd=%v\n", dns.RcodeToString[m.Rcode], m.Authoritative, m.Truncated, m.RecursionAvailable, m.AuthenticatedData, m.CheckingDisabled)
	for _, q := range m.Question {
		fmt.Fprintf(&b, "Q %s %s %s\n", name(q.Name), dns.ClassToString[q.Qclass], dns.TypeToString[q.Qtype])
	}
	for i, sec := range [][]dns.RR{m.Answer, m.Ns, m.Extra} {
		for _, rr := range sec {
			if _, ok := rr.(*dns.TSIG); ok {
				continue
			}
			if sig, ok := rr.(*dns.RRSIG); ok {
				c := *sig
				c.Signature, c.Inception, c.Expiration = "", 0, 0
				// The labels field as the owner's depth below the signed
				// name (0, or the wildcard's depth), not an absolute count
				// that differs between names of different depths.
				c.Labels = uint8(dns.CountLabel(c.Hdr.Name) - int(c.Labels))
				rr = &c
			}
			fields := strings.Fields(rr.String())
			for j := range fields {
				fields[j] = name(fields[j])
			}
			fmt.Fprintf(&b, "%d %s\n", i, strings.Join(fields, " "))
		}
	}
	return b.String()
}
