// Package harness runs dnspki and real peer software (Knot, BIND, NSD,
// unbound, Pebble, certbot, openssl, ...) for the end-to-end tests: it builds
// dnspki, installs what a test needs (Debian packages, go install), reserves
// loopback ports (ports.go), starts every server with its own configuration and stops it
// by PID when the test ends.
package harness

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/sys/unix"
)

// CI reports whether the tests run in CI (CI=true): nothing may be skipped there.
func CI() bool { return os.Getenv("CI") == "true" }

var (
	rootOnce sync.Once
	rootDir  string
)

// Root returns the repository root (the directory of go.mod).
func Root() string {
	rootOnce.Do(func() {
		d, err := os.Getwd()
		if err != nil {
			panic(err)
		}
		for {
			if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
				rootDir = d
				return
			}
			p := filepath.Dir(d)
			if p == d {
				panic("harness: go.mod not found above the working directory")
			}
			d = p
		}
	})
	return rootDir
}

// CacheDir is where the harness keeps what it builds and installs across runs.
func CacheDir() string {
	d := os.Getenv("DNSPKI_TEST_CACHE")
	if d == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			base = os.TempDir()
		}
		d = filepath.Join(base, "dnspki-test")
	}
	os.MkdirAll(d, 0o755)
	return d
}

var (
	buildOnce sync.Once
	buildPath string
	buildErr  error
)

// Dnspki builds ./cmd/dnspki once per test binary and returns its path.
// DNSPKI_TEST_BIN names a binary to use instead (say, an older build, to
// see a test fail where that build had a bug).
func Dnspki(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("DNSPKI_TEST_BIN"); p != "" {
		return p
	}
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "dnspki-bin-")
		if err != nil {
			buildErr = err
			return
		}
		buildPath = filepath.Join(dir, "dnspki")
		cmd := exec.Command("go", "build", "-o", buildPath, "./cmd/dnspki")
		cmd.Dir = Root()
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build ./cmd/dnspki: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildPath
}

// Proc is a server or client process a test started.
//
// It is signalled by PID and process group (the group takes the children
// it started) only while it is not reaped: the waiter notices its end
// without reaping it (waitid WNOWAIT), kills what is left of its group,
// and only then reaps it, all under mu, which every signal takes too. A
// reaped PID is free for the kernel to hand out again (PIDs wrap within
// minutes on a busy test machine), and a signal to its group would hit an
// unrelated process, another test's server, say.
type Proc struct {
	Name string
	Cmd  *exec.Cmd
	Log  string // path of the combined stdout/stderr
	done chan struct{}
	err  error

	mu     sync.Mutex
	reaped bool
}

// PID of the process.
func (p *Proc) PID() int { return p.Cmd.Process.Pid }

// Exited reports whether the process has ended.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Output returns what the process printed so far.
func (p *Proc) Output() string {
	b, _ := os.ReadFile(p.Log)
	return string(b)
}

// Wait waits up to d for the process to end and returns its error.
func (p *Proc) Wait(d time.Duration) (error, bool) {
	select {
	case <-p.done:
		return p.err, true
	case <-time.After(d):
		return nil, false
	}
}

// signal sends sig to the process (group: to its process group) unless it
// has been reaped.
func (p *Proc) signal(sig syscall.Signal, group bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.reaped {
		return
	}
	pid := p.PID()
	if group {
		pid = -pid
	}
	syscall.Kill(pid, sig)
}

// Stop ends the process by its PID (and any children it started, by process
// group): SIGTERM, then SIGKILL after 5 s.
func (p *Proc) Stop() {
	p.signal(syscall.SIGTERM, true)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		p.signal(syscall.SIGKILL, true)
		<-p.done
	}
}

// Kill ends the process (and its process group) with SIGKILL, a crash, and
// waits for it.
func (p *Proc) Kill() {
	p.signal(syscall.SIGKILL, true)
	<-p.done
}

// Signal sends sig to the process.
func (p *Proc) Signal(sig syscall.Signal) { p.signal(sig, false) }

// wait waits for the process to end, kills what is left of its process
// group while its PID is still held (a zombie), then reaps it.
func (p *Proc) wait() {
	var info unix.Siginfo
	for {
		if err := unix.Waitid(unix.P_PID, p.PID(), &info, unix.WEXITED|unix.WNOWAIT, nil); err != unix.EINTR {
			break
		}
	}
	p.mu.Lock()
	syscall.Kill(-p.PID(), syscall.SIGKILL) // children it left behind, if any
	p.err = p.Cmd.Wait()
	p.reaped = true
	p.mu.Unlock()
}

// StartOpts tune Start.
type StartOpts struct {
	Dir string   // working directory
	Env []string // extra environment
}

// Start runs a process in the background; it is stopped by PID when the test
// ends, and its output is printed if the test failed.
func Start(t testing.TB, name string, argv []string, o StartOpts) *Proc {
	t.Helper()
	logDir := t.TempDir()
	logPath := filepath.Join(logDir, sanitize(name)+".log")
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = o.Dir
	cmd.Env = append(os.Environ(), o.Env...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		f.Close()
		t.Fatalf("starting %s: %v", name, err)
	}
	p := &Proc{Name: name, Cmd: cmd, Log: logPath, done: make(chan struct{})}
	go func() {
		p.wait()
		f.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			out := p.Output()
			if len(out) > 20000 {
				out = "...\n" + out[len(out)-20000:]
			}
			t.Logf("---- output of %s (pid %d) ----\n%s", name, p.PID(), out)
		}
	})
	return p
}

func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '/' || r == ' ' {
			return '_'
		}
		return r
	}, s)
}

// Run runs a command to completion (bounded by timeout) and returns its
// combined output.
func Run(t testing.TB, timeout time.Duration, dir string, argv ...string) (string, error) {
	t.Helper()
	return RunEnv(t, timeout, dir, nil, argv...)
}

// RunEnv is Run with env added to the environment (KEY=VALUE).
func RunEnv(t testing.TB, timeout time.Duration, dir string, env []string, argv ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = dir
	if len(env) > 0 {
		cmd.Env = append(os.Environ(), env...)
	}
	var b bytes.Buffer
	cmd.Stdout, cmd.Stderr = &b, &b
	err := cmd.Run()
	if ctx.Err() != nil {
		err = fmt.Errorf("%s: timed out after %s", argv[0], timeout)
	}
	return b.String(), err
}

// RunInput is Run with stdin taken from input (nsupdate scripts, say).
func RunInput(t testing.TB, timeout time.Duration, dir, input string, argv ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Stdin = strings.NewReader(input)
	var b bytes.Buffer
	cmd.Stdout, cmd.Stderr = &b, &b
	err := cmd.Run()
	if ctx.Err() != nil {
		err = fmt.Errorf("%s: timed out after %s", argv[0], timeout)
	}
	return b.String(), err
}

// MustRun is Run that fails the test on error.
func MustRun(t testing.TB, timeout time.Duration, dir string, argv ...string) string {
	t.Helper()
	out, err := Run(t, timeout, dir, argv...)
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(argv, " "), err, out)
	}
	return out
}

// Query sends one query to addr and returns the answer. tcp selects TCP; do
// sets EDNS0 with the DO bit (EDNS0 with bufsize 1232 is always sent).
func Query(addr, name string, qtype uint16, tcp, do bool) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	m.RecursionDesired = false
	m.SetEdns0(1232, do)
	return Exchange(addr, m, tcp)
}

// Exchange sends m to addr over UDP or TCP with a 3 s timeout and 2 retries.
func Exchange(addr string, m *dns.Msg, tcp bool) (*dns.Msg, error) {
	c := &dns.Client{Timeout: 3 * time.Second}
	if tcp {
		c.Net = "tcp"
	}
	var err error
	for i := 0; i < 3; i++ {
		var r *dns.Msg
		r, _, err = c.Exchange(m, addr)
		if err == nil {
			return r, nil
		}
	}
	return nil, err
}

// WaitDNS waits until addr answers SOA for zone with NOERROR (bounded).
func WaitDNS(t testing.TB, addr, zone string, timeout time.Duration, p *Proc) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if p != nil && p.Exited() {
			t.Fatalf("%s exited before answering:\n%s", p.Name, p.Output())
		}
		r, err := Query(addr, zone, dns.TypeSOA, false, false)
		if err == nil && r.Rcode == dns.RcodeSuccess && len(r.Answer) > 0 {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	out := ""
	if p != nil {
		out = p.Output()
	}
	t.Fatalf("%s did not answer SOA %s within %s\n%s", addr, zone, timeout, out)
}

// Eventually polls cond every 50 ms until it returns true or timeout passes.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// MustSerial returns the serial addr serves for zone (with retries; fails
// the test if it does not answer).
func MustSerial(t testing.TB, addr, zone string) uint32 {
	t.Helper()
	r, err := Query(addr, zone, dns.TypeSOA, false, false)
	if err != nil || len(r.Answer) == 0 {
		t.Fatalf("SOA %s at %s: %v %v", zone, addr, r, err)
	}
	soa, ok := r.Answer[0].(*dns.SOA)
	if !ok {
		t.Fatalf("SOA %s at %s: answer %v", zone, addr, r.Answer[0])
	}
	return soa.Serial
}

// TXTValues returns the TXT values addr serves at name, each record's
// strings concatenated (as a CA reads them), sorted, asked over TCP (as
// Pebble asks).
// The answer must be authoritative and NOERROR or NXDOMAIN.
func TXTValues(t testing.TB, addr, name string) []string {
	t.Helper()
	r, err := Query(addr, name, dns.TypeTXT, true, false)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Authoritative || r.Rcode != dns.RcodeSuccess && r.Rcode != dns.RcodeNameError {
		t.Fatalf("%s TXT at %s: %v", name, addr, r)
	}
	var out []string
	for _, rr := range r.Answer {
		if tr, ok := rr.(*dns.TXT); ok {
			out = append(out, strings.Join(tr.Txt, ""))
		}
	}
	sort.Strings(out)
	return out
}
