package status

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/dnspki/dnspki/plugin/pkg/cli"
)

func init() {
	cli.Register(cli.Command{Name: "status", Summary: "show zones, secondaries, DNSSEC keys, certificates, TLSA, challenges and the events of the next 90 days", Run: runStatus})
}

// defaultURL is where `dnspki status` reads the page's JSON.
func defaultURL() string {
	if a := os.Getenv("DNSPKI_STATUS"); a != "" {
		return a
	}
	return "http://" + DefaultAddr
}

const (
	exitOK    = 0
	exitError = 2
)

// runStatus is `dnspki status [-url URL] [-cacert FILE] [-json]`.
func runStatus(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	fs.SetOutput(stderr)
	base := fs.String("url", defaultURL(), "the status page (the status directive's address; https:// with tls; env DNSPKI_STATUS)")
	caFile := fs.String("cacert", "", "PEM file of the CA that signed the page's TLS certificate (default: the system's roots)")
	asJSON := fs.Bool("json", false, "print the JSON the page serves (for machines)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, `usage: dnspki status [-url URL] [-cacert FILE] [-json]

Reads the running dnspki's status page (the status directive, default
http://%s/): zones and views with serial and last change, the secondaries'
acknowledged serials and lag, DNSSEC keys and rollovers, managed
certificates, TLSA records, pending challenges, and every event scheduled
for the next 90 days, overdue ones first. Exit status: 0, or 2 on an error.

`, DefaultAddr)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return exitError
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return exitError
	}
	u := strings.TrimRight(*base, "/")
	if !strings.Contains(u, "://") {
		u = "http://" + u
	}
	client := &http.Client{Timeout: 60 * time.Second}
	if *caFile != "" {
		pem, err := os.ReadFile(*caFile)
		if err != nil {
			fmt.Fprintf(stderr, "dnspki status: %v\n", err)
			return exitError
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			fmt.Fprintf(stderr, "dnspki status: %s: no PEM certificate\n", *caFile)
			return exitError
		}
		client.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	}
	resp, err := client.Get(u + "/status.json")
	if err != nil {
		fmt.Fprintf(stderr, "dnspki status: %v (is the status directive in the Corefile, and -url right?)\n", err)
		return exitError
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(stderr, "dnspki status: %s: %s\n", resp.Status, strings.TrimSpace(string(body)))
		return exitError
	}
	if *asJSON {
		stdout.Write(body)
		return exitOK
	}
	var r Report
	if err := json.Unmarshal(body, &r); err != nil {
		fmt.Fprintf(stderr, "dnspki status: %v\n", err)
		return exitError
	}
	printReport(stdout, &r, time.Now())
	return exitOK
}
