package onlinesign

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"strings"

	"github.com/miekg/dns"

	"github.com/dnspki/dnspki/plugin/pkg/atomicfile"
	"github.com/dnspki/dnspki/plugin/pkg/cli"
	"github.com/dnspki/dnspki/plugin/pkg/zonemodel"
)

var dsCommand = cli.Command{
	Name:    "ds",
	Summary: "print the DS records of a signed zone for its parent (onlinesign)",
	Run:     runDS,
}

// runDS implements "dnspki ds [-keys DIR] [-digest sha256|sha384] [-dnskey]
// [-submitted] ZONE...": the DS (or DNSKEY) records of the keys the zone
// publishes in CDS/CDNSKEY, read from the key directory (no server needed).
// -submitted records that the parent now has them, which lets a KSK/CSK
// rollover waiting for the DS go on (when no 'parent' is configured).
func runDS(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ds", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("keys", "state/keys", "key directory")
	digest := fs.String("digest", "sha256", "digest type: sha256 or sha384")
	dnskey := fs.Bool("dnskey", false, "print the DNSKEY records instead of DS")
	submitted := fs.Bool("submitted", false, "confirm that the parent has these DS records")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: dnspki ds [-keys DIR] [-digest sha256|sha384] [-dnskey] [-submitted] ZONE...\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return 2
	}
	var dt uint8
	switch strings.ToLower(strings.ReplaceAll(*digest, "-", "")) {
	case "sha256", "2":
		dt = dns.SHA256
	case "sha384", "4":
		dt = dns.SHA384
	default:
		fmt.Fprintf(stderr, "dnspki ds: digest %q: want sha256 or sha384\n", *digest)
		return 2
	}
	status := 0
	for _, z := range fs.Args() {
		zone := zonemodel.Fqdn(z)
		keys, err := parentKeys(*dir, zone)
		if err != nil {
			fmt.Fprintf(stderr, "dnspki ds: %s: %v\n", zone, err)
			status = 1
			continue
		}
		var tags []string
		for _, k := range keys {
			tags = append(tags, fmt.Sprint(k.KeyTag()))
			if *dnskey {
				fmt.Fprintf(stdout, "%s\t%d\tIN\tDNSKEY\t%d %d %d %s\n", zone, k.Hdr.Ttl, k.Flags, k.Protocol, k.Algorithm, k.PublicKey)
				continue
			}
			fmt.Fprintln(stdout, dsOf(k, dt, k.Hdr.Ttl).String())
		}
		if *submitted {
			if err := atomicfile.Write(submittedFile(*dir, zone), []byte(strings.Join(tags, " ")+"\n"), 0o600); err != nil {
				fmt.Fprintf(stderr, "dnspki ds: %s: %v\n", zone, err)
				status = 1
				continue
			}
			fmt.Fprintf(stderr, "recorded: the parent of %s has the DS of key(s) %s\n", zone, strings.Join(tags, " "))
		}
	}
	return status
}

// parentKeys returns the DNSKEYs whose DS belongs at the parent: those in
// CDS per the key state, or, without a state, every SEP key in the directory.
func parentKeys(dir, zone string) ([]*dns.DNSKEY, error) {
	st, err := loadState(stateFile(dir, zone))
	var bases []string
	switch {
	case errors.Is(err, fs.ErrNotExist):
		all, err := findKeys(dir, zone)
		if err != nil {
			return nil, err
		}
		bases = all
	case err != nil:
		return nil, err
	default:
		for _, k := range st.Keys {
			if k.CDS {
				bases = append(bases, k.Key)
			}
		}
	}
	var out []*dns.DNSKEY
	for _, b := range bases {
		k, err := readPublic(dir, b)
		if err != nil {
			return nil, err
		}
		if k.Flags&dns.SEP == 0 || k.Flags&dns.REVOKE != 0 {
			continue
		}
		if k.Hdr.Ttl == 0 {
			k.Hdr.Ttl = 3600
		}
		out = append(out, k)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no key with a DS for the parent in %s (does the zone have keys yet? they are made when dnspki first starts)", dir)
	}
	return out, nil
}
