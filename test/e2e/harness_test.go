// Package e2e tests the built wharf binary from the outside: the OCI
// conformance suite, real registry clients, and crashes.
package e2e

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

var (
	binary   string // the wharf binary under test
	repoRoot string
)

func TestMain(m *testing.M) {
	wd, _ := os.Getwd()
	repoRoot = filepath.Clean(filepath.Join(wd, "..", ".."))
	dir, err := os.MkdirTemp("", "wharf-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "wharf")
	// -trimpath keeps the build cache independent of the checkout's path,
	// so TestQuickStart's build of the same code elsewhere reuses it.
	build := exec.Command("go", "build", "-trimpath", "-o", binary, "./cmd/wharf")
	build.Dir = repoRoot
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build wharf:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// sharedDir is the project's shared tools (conformance suite, client scripts),
// beside the repository unless WHARF_SHARED says otherwise.
func sharedDir(t *testing.T) string {
	t.Helper()
	d := os.Getenv("WHARF_SHARED")
	if d == "" {
		d = filepath.Join(repoRoot, "..", "shared")
	}
	if _, err := os.Stat(filepath.Join(d, "oci-conformance", "run.sh")); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("shared tools not found at %s", d)
		}
		t.Skipf("shared tools not found at %s (set WHARF_SHARED)", d)
	}
	return d
}

// wharfProcess is one running wharf serve.
type wharfProcess struct {
	t    *testing.T
	cmd  *exec.Cmd
	addr string
	dir  string
	log  *bytes.Buffer
	done chan struct{}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startWharf runs wharf serve on dataDir with extra environment and waits
// until it is ready.
func startWharf(t *testing.T, dataDir string, env ...string) *wharfProcess {
	t.Helper()
	return startWharfAt(t, dataDir, freeAddr(t), env...)
}

// startWharfAt is startWharf listening on listen; the process's addr is
// where to connect (loopback when listen is every interface).
func startWharfAt(t *testing.T, dataDir, listen string, env ...string) *wharfProcess {
	t.Helper()
	addr := strings.Replace(listen, "0.0.0.0:", "127.0.0.1:", 1)
	p := &wharfProcess{t: t, addr: addr, dir: dataDir, log: &bytes.Buffer{}, done: make(chan struct{})}
	level := "warn" // unless env says otherwise
	for _, e := range env {
		if v, ok := strings.CutPrefix(e, "WHARF_LOG_LEVEL="); ok {
			level = v
		}
	}
	p.cmd = exec.Command(binary, "serve", "--addr", listen, "--data-dir", dataDir, "--log-level", level)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	start := time.Now()
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() { p.kill() })
	for {
		resp, err := http.Get("http://" + p.addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case <-p.done:
			t.Fatalf("wharf exited before it was ready:\n%s", p.log)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Since(start) > 10*time.Second {
			t.Fatalf("wharf not ready after 10s:\n%s", p.log)
		}
	}
	t.Logf("wharf ready on %s in %s", p.addr, time.Since(start).Round(time.Millisecond))
	return p
}

// kill sends SIGKILL and waits for the process to go.
func (p *wharfProcess) kill() {
	if p.cmd.Process != nil {
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
	}
	<-p.done
}

// stop sends SIGTERM and waits for a graceful exit.
func (p *wharfProcess) stop() error {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		return fmt.Errorf("wharf did not stop within 30s")
	}
	if p.cmd.ProcessState.ExitCode() != 0 {
		return fmt.Errorf("wharf exited with %d:\n%s", p.cmd.ProcessState.ExitCode(), p.log)
	}
	return nil
}

// runScript runs a shared shell script against the process and returns its
// output; the test fails if the script fails.
func runScript(t *testing.T, script string, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command(script, args...)
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout = io.MultiWriter(&out, testWriter{t})
	cmd.Stderr = cmd.Stdout
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v", filepath.Base(script), strings.Join(args, " "), err)
	}
	return out.String()
}

// testWriter streams a child's output into the test log line by line.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	for _, line := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		w.t.Log(line)
	}
	return len(p), nil
}
