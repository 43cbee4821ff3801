package tlsa

import (
	"bytes"
	"encoding/json"
	"encoding/pem"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/dnspki/dnspki/plugin/pkg/cli"
)

func init() {
	cli.Register(cli.Command{Name: "tlsa-ready", Summary: "exit 0 when a certificate or key is safe to switch to (TLSA published long enough)", Run: runReady})
	cli.Register(cli.Command{Name: "tlsa-status", Summary: "print the TLSA records the tlsa plugin publishes, with their history", Run: runStatus})
}

func defaultAddr() string {
	if a := os.Getenv("DNSPKI_TLSA_HTTP"); a != "" {
		return a
	}
	return DefaultHTTPAddr
}

// Exit statuses of tlsa-ready.
const (
	exitReady    = 0
	exitNotReady = 1
	exitError    = 2
)

func runReady(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("tlsa-ready", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", defaultAddr(), "the tlsa plugin's readiness endpoint (its `http` setting; env DNSPKI_TLSA_HTTP)")
	cert := fs.String("cert", "", "certificate id (the `cert ID` of the Corefile); without FILE: the certificate now in its files")
	wait := fs.Duration("wait", 0, "keep asking until ready or this long has passed (0: ask once)")
	interval := fs.Duration("interval", 5*time.Second, "how often to ask with -wait")
	quiet := fs.Bool("q", false, "print nothing, only the exit status")
	fs.Usage = func() {
		fmt.Fprintf(stderr, `usage: dnspki tlsa-ready [-addr HOST:PORT] [-cert ID] [-wait DURATION] [-q] [FILE...]
       dnspki tlsa-ready [-addr HOST:PORT] [-wait DURATION] [-q] ID

Asks the running dnspki whether switching a server to a certificate or key is
safe for DANE: the TLSA records matching it have been published, in every view
and at every name that publishes them, for at least the hold-down (>= 2 x TTL).
FILE is a PEM certificate (chain), private key (only its public half is sent)
or public key. Without FILE, -cert ID (or ID alone) asks about the
certificate now in ID's files (after re-reading them). Exit status: 0 ready,
1 not ready, 2 error.

  until dnspki tlsa-ready -cert www /etc/letsencrypt/live/www/fullchain.pem; do sleep 5; done

`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return exitError
	}
	files := fs.Args()
	// "dnspki tlsa-ready www": a certificate id rather than a file.
	if len(files) == 1 && *cert == "" && !strings.ContainsRune(files[0], os.PathSeparator) {
		if _, err := os.Stat(files[0]); err != nil {
			*cert, files = files[0], nil
		}
	}
	if len(files) == 0 && *cert == "" {
		fs.Usage()
		return exitError
	}
	type query struct {
		what string
		body []byte
	}
	var queries []query
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			fmt.Fprintf(stderr, "tlsa-ready: %v\n", err)
			return exitError
		}
		mat, err := ParseMaterial(data)
		if err != nil {
			fmt.Fprintf(stderr, "tlsa-ready: %s: %v\n", f, err)
			return exitError
		}
		queries = append(queries, query{what: f, body: publicPEM(mat)})
	}
	if len(queries) == 0 {
		queries = append(queries, query{what: "certificate " + *cert})
	}
	deadline := time.Now().Add(*wait)
	client := &http.Client{Timeout: 30 * time.Second}
	u := url.URL{Scheme: "http", Host: *addr, Path: "/tlsa/v1/ready"}
	if *cert != "" {
		u.RawQuery = url.Values{"cert": {*cert}}.Encode()
	}
	for {
		status := exitReady
		var hint time.Duration
		for _, q := range queries {
			var resp *http.Response
			var err error
			if q.body != nil {
				resp, err = client.Post(u.String(), "application/x-pem-file", bytes.NewReader(q.body))
			} else {
				resp, err = client.Get(u.String())
			}
			if err != nil {
				fmt.Fprintf(stderr, "tlsa-ready: %v (is `http` set in the tlsa block, and -addr right?)\n", err)
				status = exitError
				break
			}
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
			resp.Body.Close()
			switch resp.StatusCode {
			case http.StatusOK, http.StatusServiceUnavailable:
				var r Readiness
				if err := json.Unmarshal(body, &r); err != nil {
					fmt.Fprintf(stderr, "tlsa-ready: %s: %s\n", resp.Status, strings.TrimSpace(string(body)))
					status = exitError
					break
				}
				if r.Ready {
					if !*quiet {
						fmt.Fprintf(stdout, "ready: %s\n", q.what)
					}
					continue
				}
				if status == exitReady {
					status = exitNotReady
				}
				w := time.Duration(r.WaitS * float64(time.Second))
				if w > hint {
					hint = w
				}
				if !*quiet {
					msg := fmt.Sprintf("not ready: %s: %s", q.what, r.Reason)
					if w > 0 {
						msg += fmt.Sprintf(" (ready in about %s)", w.Round(time.Second))
					}
					fmt.Fprintln(stdout, msg)
				}
			default:
				var e apiError
				json.Unmarshal(body, &e)
				fmt.Fprintf(stderr, "tlsa-ready: %s: %s\n", resp.Status, e.Error)
				status = exitError
			}
			if status == exitError {
				break
			}
		}
		if status == exitReady || *wait <= 0 || time.Now().After(deadline) {
			return status
		}
		d := *interval
		if hint > 0 && hint < d {
			d = hint + 100*time.Millisecond
		}
		if left := time.Until(deadline); d > left {
			d = left
		}
		time.Sleep(d)
	}
}

// publicPEM is the public part of material, to send to the endpoint.
func publicPEM(m Material) []byte {
	var b bytes.Buffer
	if m.IsKey() {
		pem.Encode(&b, &pem.Block{Type: "PUBLIC KEY", Bytes: m.SPKI})
		return b.Bytes()
	}
	for _, c := range m.Chain {
		pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	return b.Bytes()
}

func runStatus(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("tlsa-status", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", defaultAddr(), "the tlsa plugin's readiness endpoint (env DNSPKI_TLSA_HTTP)")
	cert := fs.String("cert", "", "only this certificate id")
	if err := fs.Parse(args); err != nil {
		return exitError
	}
	u := url.URL{Scheme: "http", Host: *addr, Path: "/tlsa/v1/status"}
	if *cert != "" {
		u.RawQuery = url.Values{"cert": {*cert}}.Encode()
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Get(u.String())
	if err != nil {
		fmt.Fprintf(stderr, "tlsa-status: %v\n", err)
		return exitError
	}
	defer resp.Body.Close()
	io.Copy(stdout, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return exitError
	}
	return 0
}
