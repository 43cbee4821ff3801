package acme

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/dnspki/dnspki/test/harness"
)

// TestCrashNotifyMetrics: an accepted UPDATE survives kill -9 right after its
// answer; every change sends NOTIFY with the new serial to the secondary;
// the plugin's metrics count what it accepted and refused.
func TestCrashNotifyMetrics(t *testing.T) {
	dir := t.TempDir()
	zf, err := os.ReadFile(filepath.Join(harness.Root(), "corefile-examples", "example.test.zone"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "zone"), zf, 0o644); err != nil {
		t.Fatal(err)
	}
	notifies := startNotifyListener(t)
	port, mport := harness.FreePort(t), harness.FreePort(t)
	corefile := fmt.Sprintf(`example.test:%d {
    bind 127.0.0.1
    prometheus 127.0.0.1:%d
    authzone example.test {
        file zone
    }
    acmechallenge example.test {
        key acme-www. hmac-sha256 %s
        grant acme-www. name www.example.test
        grant acme-www. subdomain intra.example.test
    }
    transfer example.test {
        to %s
    }
}
`, port, mport, wwwSecret, notifies.addr)
	s := harness.StartDnspki(t, dir, corefile, port)
	harness.WaitDNS(t, s.Addr, zone, 30*time.Second, s.Proc)
	www := "hmac-sha256:acme-www.:" + wwwSecret
	ch := "_acme-challenge.www.example.test."

	s0 := harness.MustSerial(t, s.Addr, zone)
	if out, err := nsupdate(t, s.Addr, www, true, fmt.Sprintf("update add %s 60 TXT %s", ch, val1)); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	// The answer came after the commit: kill -9 now loses nothing.
	s.Kill()
	s.Restart()
	harness.WaitDNS(t, s.Addr, zone, 30*time.Second, s.Proc)
	if got := harness.TXTValues(t, s.Addr, ch); !slices.Equal(got, []string{val1}) {
		t.Fatalf("after kill -9 and restart: %v", got)
	}
	if got := harness.MustSerial(t, s.Addr, zone); got != s0+1 {
		t.Fatalf("serial after restart %d, want %d", got, s0+1)
	}
	// (The stock transfer plugin's NOTIFY carries no SOA: a secondary
	// asks for it. Count them.)
	mustEventually(t, "NOTIFY at restart", func() bool { return notifies.count() > 0 })
	before := notifies.count()

	// Metrics of this process: one accepted, one refused (not granted).
	if out, err := nsupdate(t, s.Addr, www, false, fmt.Sprintf("update add _acme-challenge.x.intra.example.test. 60 TXT %s", val2)); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	mustEventually(t, "NOTIFY after an UPDATE", func() bool { return notifies.count() > before })
	if out, err := nsupdate(t, s.Addr, www, false, fmt.Sprintf("update add _acme-challenge.mail.example.test. 60 TXT %s", val2)); err == nil {
		t.Fatalf("not refused:\n%s", out)
	}
	metrics := scrape(t, fmt.Sprintf("http://%s/metrics", harness.Addr(mport)))
	for _, c := range []struct {
		re   string
		want float64
	}{
		{`coredns_dnspki_acme_updates_accepted_total{key="acme-www.",via="dns",zone="example.test."}`, 1},
		{`coredns_dnspki_acme_updates_refused_total{key="acme-www.",reason="not_granted",via="dns",zone="example.test."}`, 1},
		{`coredns_dnspki_acme_records{zone="example.test."}`, 2},
		{`coredns_dnspki_acme_update_duration_seconds_count{via="dns",zone="example.test."}`, 1},
	} {
		if got := metric(metrics, c.re); got != c.want {
			t.Errorf("%s = %v, want %v", c.re, got, c.want)
		}
	}
}

// notifyListener is a stand-in secondary that counts the NOTIFY messages
// for the zone.
type notifyListener struct {
	addr string
	mu   sync.Mutex
	n    int
}

func (n *notifyListener) count() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.n
}

func startNotifyListener(t *testing.T) *notifyListener {
	t.Helper()
	n := &notifyListener{addr: harness.Addr(harness.FreePort(t))}
	srv := &dns.Server{Addr: n.addr, Net: "udp", Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		if r.Opcode != dns.OpcodeNotify || len(r.Question) != 1 || !strings.EqualFold(r.Question[0].Name, zone) {
			return
		}
		n.mu.Lock()
		n.n++
		n.mu.Unlock()
		m := new(dns.Msg)
		m.SetReply(r)
		w.WriteMsg(m)
	})}
	started := make(chan error, 1)
	srv.NotifyStartedFunc = func() { started <- nil }
	go func() {
		if err := srv.ListenAndServe(); err != nil {
			started <- err
		}
	}()
	if err := <-started; err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Shutdown() })
	return n
}

func scrape(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// metric returns the value of the sample named exactly (with its labels in
// Prometheus' sorted order), or -1.
func metric(text, sample string) float64 {
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(sample) + ` (\S+)$`)
	m := re.FindStringSubmatch(text)
	if m == nil {
		return -1
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(m[1]), 64)
	if err != nil {
		return -1
	}
	return v
}
