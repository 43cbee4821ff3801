package harness

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Server is a dnspki process started by a test.
type Server struct {
	*Proc
	Dir  string // working directory (its ./state is the server's state)
	Conf string // Corefile path, relative to Dir
	Port int
	Addr string // 127.0.0.1:Port
	env  []string
	t    testing.TB
}

// StartDnspki writes corefile to dir/Corefile and runs dnspki there. port is
// the DNS port the Corefile uses (for Addr). It does not wait for answers.
func StartDnspki(t testing.TB, dir, corefile string, port int, env ...string) *Server {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "Corefile"), []byte(corefile), 0o644); err != nil {
		t.Fatal(err)
	}
	return RunDnspki(t, dir, "Corefile", port, env...)
}

// RunDnspki runs dnspki -conf conf in dir.
func RunDnspki(t testing.TB, dir, conf string, port int, env ...string) *Server {
	t.Helper()
	bin := Dnspki(t)
	p := Start(t, "dnspki "+conf, []string{bin, "-conf", conf}, StartOpts{Dir: dir, Env: env})
	return &Server{Proc: p, Dir: dir, Conf: conf, Port: port, Addr: Addr(port), env: env, t: t}
}

// Restart starts the server again with the same configuration and directory
// (after Stop or Kill).
func (s *Server) Restart() {
	s.t.Helper()
	if !s.Exited() {
		s.Stop()
	}
	n := RunDnspki(s.t, s.Dir, s.Conf, s.Port, s.env...)
	s.Proc = n.Proc
}

// Example copies corefile-examples/ into a new directory, replacing in every
// file each key of replace by its value (ports, typically), and returns the
// directory. The examples' relative paths work from there as from the
// repository root.
func Example(t testing.TB, replace map[string]string) string {
	t.Helper()
	dst := t.TempDir()
	src := filepath.Join(Root(), "corefile-examples")
	err := filepath.Walk(src, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(Root(), p)
		out := filepath.Join(dst, rel)
		if info.IsDir() {
			return os.MkdirAll(out, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		s := string(b)
		for k, v := range replace {
			s = strings.ReplaceAll(s, k, v)
		}
		return os.WriteFile(out, []byte(s), info.Mode())
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

// StartExample runs dnspki with corefile-examples/NAME (copied by Example with
// port 1053 replaced by a free port, plus the extra replacements) and waits
// until it answers SOA for zone.
func StartExample(t testing.TB, name, zone string, replace map[string]string, env ...string) *Server {
	t.Helper()
	return StartExampleAt(t, FreePort(t), name, zone, replace, env...)
}

// StartExampleAt is StartExample on a DNS port the caller chose (from
// FreePort), for peers that must be told the address before dnspki starts.
func StartExampleAt(t testing.TB, port int, name, zone string, replace map[string]string, env ...string) *Server {
	t.Helper()
	r := map[string]string{":1053": fmt.Sprintf(":%d", port)}
	for k, v := range replace {
		r[k] = v
	}
	dir := Example(t, r)
	s := RunDnspki(t, dir, filepath.Join("corefile-examples", name), port, env...)
	WaitDNS(t, s.Addr, zone, 30*time.Second, s.Proc)
	return s
}
