package certs

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/dnspki/dnspki/plugin/pkg/cli"
)

func init() {
	cli.Register(cli.Command{Name: "certs", Summary: "list the certificates the certs plugin manages; 'certs check': ask the CA's renewal information now", Run: runCerts})
}

func defaultAddr() string { return cli.Addr("DNSPKI_CERTS_HTTP", DefaultHTTPAddr) }

const (
	exitOK    = 0
	exitError = 2
)

// certsOptions are the flags of `dnspki certs [check]`.
type certsOptions struct {
	name   string // "certs" or "certs check", for messages
	check  bool
	addr   string
	asJSON bool
	ids    idList
	wait   time.Duration
}

// runCerts is `dnspki certs [check] [-addr HOST:PORT] [-json] [-cert ID]`.
func runCerts(args []string, stdout, stderr io.Writer) int {
	o, ok := parseCertsArgs(args, stderr)
	if !ok {
		return exitError
	}
	body, err := o.fetch()
	if err != nil {
		fmt.Fprintf(stderr, "dnspki %s: %v\n", o.name, err)
		return exitError
	}
	if o.asJSON {
		stdout.Write(body)
		return exitOK
	}
	var list []Status
	var notChecked []string
	if o.check {
		var r CheckResult
		err = json.Unmarshal(body, &r)
		list, notChecked = r.Certificates, r.NotChecked
	} else {
		err = json.Unmarshal(body, &list)
	}
	if err != nil {
		fmt.Fprintf(stderr, "dnspki %s: %v\n", o.name, err)
		return exitError
	}
	printStatuses(stdout, list, time.Now())
	if len(notChecked) > 0 {
		fmt.Fprintf(stdout, "not checked yet (still busy after %s): %s\n", o.wait, strings.Join(notChecked, " "))
	}
	return exitOK
}

// parseCertsArgs reads the command line (false: usage printed, or a flag
// error).
func parseCertsArgs(args []string, stderr io.Writer) (*certsOptions, bool) {
	o := &certsOptions{name: "certs"}
	o.check = len(args) > 0 && args[0] == "check"
	if o.check {
		args, o.name = args[1:], "certs check"
	}
	fs := flag.NewFlagSet(o.name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.addr, "addr", defaultAddr(), "the certs plugin's status endpoint (its `http` setting; env DNSPKI_CERTS_HTTP)")
	fs.BoolVar(&o.asJSON, "json", false, "print JSON (for machines)")
	fs.Var(&o.ids, "cert", "only this certificate id (repeatable)")
	fs.DurationVar(&o.wait, "wait", 60*time.Second, "check: how long to wait for the CA's answers")
	fs.Usage = func() {
		fmt.Fprintf(stderr, certsUsage, DefaultHTTPAddr)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return nil, false
	}
	if !o.check && fs.NArg() > 0 && fs.Arg(0) == "check" {
		// dnspki certs -json check ...
		o.check, o.name = true, "certs check"
		if err := fs.Parse(fs.Args()[1:]); err != nil {
			return nil, false
		}
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return nil, false
	}
	return o, true
}

const certsUsage = `usage: dnspki certs [-addr HOST:PORT] [-json] [-cert ID]...
       dnspki certs check [-addr HOST:PORT] [-json] [-cert ID]... [-wait DURATION]

Lists the certificates the running dnspki's certs plugin manages: issuer,
expiry, the CA's renewal window (ARI), what happens next and when, and the
TLSA records. 'check' makes the server ask the CA's renewal information now
for every certificate (or those named), whatever the next check it had
planned (the way to react to a CA's revocation notice), wakes the renewals
the CA asks for, and lists the certificates once the CA answered. The
endpoint is the certs block's 'http' (default %s). Exit status: 0, or 2 on
an error.

`

// fetch asks the status endpoint (GET status, or POST check) and returns
// the JSON it answered.
func (o *certsOptions) fetch() ([]byte, error) {
	q := url.Values{}
	for _, id := range o.ids {
		q.Add("cert", id)
	}
	client := &http.Client{Timeout: o.wait + 30*time.Second}
	var resp *http.Response
	var err error
	if o.check {
		q.Set("wait", o.wait.String())
		u := url.URL{Scheme: "http", Host: o.addr, Path: "/certs/v1/check", RawQuery: q.Encode()}
		resp, err = client.Post(u.String(), "", nil)
	} else {
		u := url.URL{Scheme: "http", Host: o.addr, Path: "/certs/v1/status", RawQuery: q.Encode()}
		resp, err = client.Get(u.String())
	}
	if err != nil {
		return nil, fmt.Errorf("%v (is `http` set in the certs block, and -addr right?)", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if resp.StatusCode != http.StatusOK {
		var e apiError
		json.Unmarshal(body, &e)
		return nil, fmt.Errorf("%s: %s", resp.Status, e.Error)
	}
	return body, nil
}

type idList []string

func (l *idList) String() string     { return strings.Join(*l, ",") }
func (l *idList) Set(v string) error { *l = append(*l, v); return nil }

// printStatuses writes the text form of the list.
func printStatuses(w io.Writer, list []Status, now time.Time) {
	if len(list) == 0 {
		fmt.Fprintln(w, "no managed certificate")
		return
	}
	ts := func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return t.UTC().Format(time.RFC3339) + " (" + rel(t.Sub(now)) + ")"
	}
	for i, s := range list {
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "%s: %s (%s)\n", s.ID, strings.Join(s.Names, " "), s.Challenge)
		if s.Serial == "" {
			fmt.Fprintf(w, "  certificate  none yet\n")
		} else {
			fmt.Fprintf(w, "  certificate  %s, issuer %q, expires %s\n", s.Serial, s.Issuer, ts(s.NotAfter))
		}
		switch {
		case s.ARI != nil && !s.ARI.End.IsZero():
			past := ""
			if s.ARI.Past {
				past = "  PAST: the CA asks to replace it now"
			}
			fmt.Fprintf(w, "  ARI window   %s .. %s%s; next check %s\n", s.ARI.Start.UTC().Format(time.RFC3339), s.ARI.End.UTC().Format(time.RFC3339), past, ts(s.ARI.NextCheck))
		case s.ARI != nil && s.ARI.Error != "":
			fmt.Fprintf(w, "  ARI window   unknown (%s); next check %s\n", s.ARI.Error, ts(s.ARI.NextCheck))
		default:
			fmt.Fprintf(w, "  ARI window   none\n")
		}
		if !s.RenewAt.IsZero() {
			fmt.Fprintf(w, "  renewal      %s (%s)\n", ts(s.RenewAt), s.RenewWhy)
		}
		fmt.Fprintf(w, "  next         %s, %s\n", s.Next, ts(s.NextAt))
		if !s.CAPausedUntil.IsZero() {
			fmt.Fprintf(w, "  CA paused    until %s\n", ts(s.CAPausedUntil))
		}
		if s.LastResult != "" {
			last := s.LastResult
			if s.LastError != "" {
				last += ": " + s.LastError
			}
			fmt.Fprintf(w, "  last         %s, %s\n", last, ts(s.LastTry))
		}
		if s.Held != nil {
			fmt.Fprintf(w, "  held         %s (issuer %q, %s key) since %s: installed once its TLSA records are ready\n", s.Held.Serial, s.Held.Issuer, s.Held.Key, ts(s.Held.Since))
		}
		if s.TLSA != nil {
			fmt.Fprintf(w, "  TLSA         %s\n", strings.Join(s.TLSA.Names, " "))
			seen := map[string]bool{}
			for _, r := range s.TLSA.Records {
				k := r.Record + "|" + r.Role
				if seen[k] {
					continue // one line per record and role (names, views alike)
				}
				seen[k] = true
				line := fmt.Sprintf("    %-9s %s since %s", r.Role, abbrev(r.Record), ts(r.Since))
				if !r.Until.IsZero() {
					line += ", until " + ts(r.Until)
				}
				fmt.Fprintln(w, line)
			}
			if s.TLSA.NextKey != "" {
				state := "ready"
				if !s.TLSA.NextKeyReady {
					state = "not ready: " + s.TLSA.NextKeyWhy
				}
				fmt.Fprintf(w, "    next key  %s %s\n", abbrev(s.TLSA.NextKey), state)
			}
		}
	}
}

// abbrev shortens the digest of "u s m hex" for the text form.
func abbrev(r string) string {
	f := strings.Fields(r)
	if len(f) == 4 && len(f[3]) > 16 {
		f[3] = f[3][:16] + "..."
	}
	return strings.Join(f, " ")
}

// rel says a duration from now in words ("in 3h", "5m ago").
func rel(d time.Duration) string {
	a := d
	if a < 0 {
		a = -a
	}
	var s string
	switch {
	case a < time.Minute:
		s = a.Round(time.Second).String()
	case a < 48*time.Hour:
		s = a.Round(time.Minute).String()
	default:
		s = fmt.Sprintf("%dd", int(a.Hours()/24))
	}
	if d < 0 {
		return s + " ago"
	}
	return "in " + s
}
