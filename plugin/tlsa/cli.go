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

func defaultAddr() string { return cli.Addr("DNSPKI_TLSA_HTTP", DefaultHTTPAddr) }

// Exit statuses of tlsa-ready.
const (
	exitReady    = 0
	exitNotReady = 1
	exitError    = 2
)

// readyOptions are tlsa-ready's flags and arguments.
type readyOptions struct {
	addr, cert     string
	wait, interval time.Duration
	quiet          bool
	files          []string
}

// readyQuery is one question to the endpoint: a file's public material, or
// (body nil) the certificate now in the files of -cert.
type readyQuery struct {
	what string
	body []byte
}

func runReady(args []string, stdout, stderr io.Writer) int {
	o, ok := parseReady(args, stderr)
	if !ok {
		return exitError
	}
	queries, err := readyQueries(o)
	if err != nil {
		fmt.Fprintf(stderr, "tlsa-ready: %v\n", err)
		return exitError
	}
	a := readyAsker{client: &http.Client{Timeout: 30 * time.Second}, quiet: o.quiet, stdout: stdout, stderr: stderr}
	a.u = url.URL{Scheme: "http", Host: o.addr, Path: "/tlsa/v1/ready"}
	if o.cert != "" {
		a.u.RawQuery = url.Values{"cert": {o.cert}}.Encode()
	}
	deadline := time.Now().Add(o.wait)
	for {
		status, hint := a.round(queries)
		if status == exitReady || o.wait <= 0 || time.Now().After(deadline) {
			return status
		}
		d := o.interval
		if hint > 0 && hint < d {
			d = hint + 100*time.Millisecond
		}
		if left := time.Until(deadline); d > left {
			d = left
		}
		time.Sleep(d)
	}
}

// parseReady reads tlsa-ready's command line (false: usage printed, or a
// flag error).
func parseReady(args []string, stderr io.Writer) (readyOptions, bool) {
	var o readyOptions
	fs := flag.NewFlagSet("tlsa-ready", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.addr, "addr", defaultAddr(), "the tlsa plugin's readiness endpoint (its `http` setting; env DNSPKI_TLSA_HTTP)")
	fs.StringVar(&o.cert, "cert", "", "certificate id (the `cert ID` of the Corefile); without FILE: the certificate now in its files")
	fs.DurationVar(&o.wait, "wait", 0, "keep asking until ready or this long has passed (0: ask once)")
	fs.DurationVar(&o.interval, "interval", 5*time.Second, "how often to ask with -wait")
	fs.BoolVar(&o.quiet, "q", false, "print nothing, only the exit status")
	fs.Usage = func() {
		fmt.Fprint(stderr, readyUsage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return o, false
	}
	o.files = fs.Args()
	// "dnspki tlsa-ready www": a certificate id rather than a file.
	if len(o.files) == 1 && o.cert == "" && !strings.ContainsRune(o.files[0], os.PathSeparator) {
		if _, err := os.Stat(o.files[0]); err != nil {
			o.cert, o.files = o.files[0], nil
		}
	}
	if len(o.files) == 0 && o.cert == "" {
		fs.Usage()
		return o, false
	}
	return o, true
}

const readyUsage = `usage: dnspki tlsa-ready [-addr HOST:PORT] [-cert ID] [-wait DURATION] [-q] [FILE...]
       dnspki tlsa-ready [-addr HOST:PORT] [-wait DURATION] [-q] ID

Asks the running dnspki whether switching a server to a certificate or key is
safe for DANE: the TLSA records matching it have been published, in every view
and at every name that publishes them, for at least the hold-down (>= 2 x TTL).
FILE is a PEM certificate (chain), private key (only its public half is sent)
or public key. Without FILE, -cert ID (or ID alone) asks about the
certificate now in ID's files (after re-reading them). Exit status: 0 ready,
1 not ready, 2 error.

  until dnspki tlsa-ready -cert www /etc/letsencrypt/live/www/fullchain.pem; do sleep 5; done

`

// readyQueries are the questions of the command: one per file, else one
// about -cert's files.
func readyQueries(o readyOptions) ([]readyQuery, error) {
	var queries []readyQuery
	for _, f := range o.files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		mat, err := ParseMaterial(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", f, err)
		}
		queries = append(queries, readyQuery{what: f, body: publicPEM(mat)})
	}
	if len(queries) == 0 {
		queries = append(queries, readyQuery{what: "certificate " + o.cert})
	}
	return queries, nil
}

// readyAsker asks the readiness endpoint and reports the answers.
type readyAsker struct {
	client         *http.Client
	u              url.URL
	quiet          bool
	stdout, stderr io.Writer
}

// round asks every query once: the exit status (the first error stops
// the round) and, when not ready, the longest wait the server hinted.
func (a *readyAsker) round(queries []readyQuery) (int, time.Duration) {
	status := exitReady
	var hint time.Duration
	for _, q := range queries {
		s, w := a.ask(q)
		if s == exitError {
			return exitError, hint
		}
		if s == exitNotReady {
			status = exitNotReady
			hint = max(hint, w)
		}
	}
	return status, hint
}

// ask asks one query: its status and the wait the server hinted.
func (a *readyAsker) ask(q readyQuery) (int, time.Duration) {
	var resp *http.Response
	var err error
	if q.body != nil {
		resp, err = a.client.Post(a.u.String(), "application/x-pem-file", bytes.NewReader(q.body))
	} else {
		resp, err = a.client.Get(a.u.String())
	}
	if err != nil {
		fmt.Fprintf(a.stderr, "tlsa-ready: %v (is `http` set in the tlsa block, and -addr right?)\n", err)
		return exitError, 0
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusServiceUnavailable {
		var e apiError
		json.Unmarshal(body, &e)
		fmt.Fprintf(a.stderr, "tlsa-ready: %s: %s\n", resp.Status, e.Error)
		return exitError, 0
	}
	var r Readiness
	if err := json.Unmarshal(body, &r); err != nil {
		fmt.Fprintf(a.stderr, "tlsa-ready: %s: %s\n", resp.Status, strings.TrimSpace(string(body)))
		return exitError, 0
	}
	if r.Ready {
		if !a.quiet {
			fmt.Fprintf(a.stdout, "ready: %s\n", q.what)
		}
		return exitReady, 0
	}
	w := time.Duration(r.WaitS * float64(time.Second))
	if !a.quiet {
		msg := fmt.Sprintf("not ready: %s: %s", q.what, r.Reason)
		if w > 0 {
			msg += fmt.Sprintf(" (ready in about %s)", w.Round(time.Second))
		}
		fmt.Fprintln(a.stdout, msg)
	}
	return exitNotReady, w
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
