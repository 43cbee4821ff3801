package status

import (
	"bytes"
	"encoding/json"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/coredns/caddy"
)

// TestCLI: dnspki status prints every event (overdue ones marked), each
// section; -json (and --json) prints the JSON the page serves; a page that
// is not there is an error with a hint, exit status 2.
func TestCLI(t *testing.T) {
	withSources(t, sampleSources(time.Now()))
	base := serve(t, &config{})
	var out, errb bytes.Buffer
	if rc := runStatus([]string{"-url", base}, &out, &errb); rc != 0 {
		t.Fatalf("exit %d: %s", rc, errb.String())
	}
	text := out.String()
	var rep Report
	out.Reset()
	if rc := runStatus([]string{"--json", "-url", strings.TrimPrefix(base, "http://")}, &out, &errb); rc != 0 {
		t.Fatalf("--json: exit %d: %s", rc, errb.String())
	}
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("--json: %v", err)
	}
	if len(rep.Events) == 0 {
		t.Fatal("no events")
	}
	for _, e := range rep.Events {
		line := ""
		for _, l := range strings.Split(text, "\n") {
			if strings.Contains(l, e.Subject+": "+e.What) {
				line = l
			}
		}
		if line == "" {
			t.Errorf("event %q missing from the text", e.What)
			continue
		}
		if e.Overdue != strings.HasPrefix(line, "! ") || e.Overdue != strings.Contains(line, "OVERDUE") {
			t.Errorf("event %q (overdue %v): %q", e.What, e.Overdue, line)
		}
	}
	for _, s := range []string{"Zones:", "DNSSEC:", "Certificates:", "TLSA:", "Challenges:", "127.0.0.1:5300 (view default): serial 40 (ixfr), lag 2", "published ahead"} {
		if !strings.Contains(text, s) {
			t.Errorf("text lacks %q", s)
		}
	}

	// Nothing listens there any more.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	errb.Reset()
	if rc := runStatus([]string{"-url", "http://" + addr}, &out, &errb); rc != exitError || !strings.Contains(errb.String(), "is the status directive in the Corefile") {
		t.Fatalf("no page: exit %d, %q", rc, errb.String())
	}
	if rc := runStatus([]string{"extra"}, &out, &errb); rc != exitError {
		t.Fatalf("an argument: exit %d", rc)
	}
}

// TestDefaultURL: with no flag and no DNSPKI_STATUS, dnspki status reads
// the address the directive listens on by default, the one
// corefile-examples/signed.Corefile turns the page on at.
func TestDefaultURL(t *testing.T) {
	t.Setenv("DNSPKI_STATUS", "")
	if got := defaultURL(); got != "http://"+DefaultAddr {
		t.Fatalf("default URL %s", got)
	}
	b, err := os.ReadFile("../../corefile-examples/signed.Corefile")
	if err != nil {
		t.Fatal(err)
	}
	var line string
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) > 0 && f[0] == "status" {
			line = strings.TrimSpace(l)
		}
	}
	cfg, err := parse(caddy.NewTestController("dns", line))
	if err != nil || cfg.addr != DefaultAddr {
		t.Fatalf("signed.Corefile's %q: %+v %v", line, cfg, err)
	}
	t.Setenv("DNSPKI_STATUS", "https://192.0.2.1:8054")
	if got := defaultURL(); got != "https://192.0.2.1:8054" {
		t.Fatalf("with DNSPKI_STATUS: %s", got)
	}
}
