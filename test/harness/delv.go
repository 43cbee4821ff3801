package harness

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// BindTrustAnchors converts DNSKEY (or DS) records in zone file format, one
// per line (such as onlinesign's <zone>.trust-anchor file), to a BIND
// trust-anchors clause for delv -a and named.
func BindTrustAnchors(t testing.TB, rrText string) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("trust-anchors {\n")
	zp := dns.NewZoneParser(strings.NewReader(rrText), ".", "")
	n := 0
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		switch k := rr.(type) {
		case *dns.DNSKEY:
			fmt.Fprintf(&b, "    %q static-key %d %d %d %q;\n", k.Hdr.Name, k.Flags, k.Protocol, k.Algorithm, k.PublicKey)
			n++
		case *dns.DS:
			fmt.Fprintf(&b, "    %q static-ds %d %d %d %q;\n", k.Hdr.Name, k.KeyTag, k.Algorithm, k.DigestType, k.Digest)
			n++
		}
	}
	if err := zp.Err(); err != nil {
		t.Fatalf("trust anchors: %v\n%s", err, rrText)
	}
	if n == 0 {
		t.Fatalf("no DNSKEY or DS records in %q", rrText)
	}
	b.WriteString("};\n")
	return b.String()
}

// Delv asks server (127.0.0.1:port) for name/qtype with delv, validating
// from the trust anchors in anchorFile (DNSKEY/DS records, one per line) with
// root as the top of the chain (+root=ROOT). It returns delv's output and
// whether delv reported the answer (positive or negative) fully validated.
func Delv(t testing.TB, server, anchorFile, root, name, qtype string) (string, bool) {
	t.Helper()
	bin := Need(t, "delv")[0]
	rrs, err := os.ReadFile(anchorFile)
	if err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(t.TempDir(), "anchors.conf")
	if err := os.WriteFile(conf, []byte(BindTrustAnchors(t, string(rrs))), 0o644); err != nil {
		t.Fatal(err)
	}
	host, port, err := net.SplitHostPort(server)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := Run(t, 30*time.Second, "", bin, "@"+host, "-p", port, "-a", conf, "+root="+root, name, qtype)
	return out, strings.Contains(out, "; fully validated") || strings.Contains(out, "; negative response, fully validated")
}
