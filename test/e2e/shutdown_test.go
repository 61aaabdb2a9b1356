package e2e

import (
	"io"
	"net/http"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
)

// TestGracefulShutdown sends SIGTERM while an upload is streaming: the
// request in flight completes, new connections are refused, and the process
// exits cleanly. The data is there after a restart.
func TestGracefulShutdown(t *testing.T) {
	dir := t.TempDir()
	p := startWharf(t, dir)
	base := "http://" + p.addr
	blob := randomBytes(1 << 20)
	d := digest.FromBytes(blob)

	resp, err := http.Post(base+"/v2/shutdown/blobs/uploads/", "", nil)
	if err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("start upload: %v %v", resp, err)
	}
	loc := resp.Header.Get("Location")
	pr, pw := io.Pipe()
	result := make(chan int, 1)
	go func() {
		req, _ := http.NewRequest("PUT", base+loc+"?digest="+d.String(), pr)
		req.ContentLength = int64(len(blob))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			result <- 0
			return
		}
		resp.Body.Close()
		result <- resp.StatusCode
	}()
	_, _ = pw.Write(blob[:len(blob)/2])
	time.Sleep(100 * time.Millisecond) // the request is now in flight
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	time.Sleep(200 * time.Millisecond)
	_, _ = pw.Write(blob[len(blob)/2:])
	pw.Close()
	if status := <-result; status != http.StatusCreated {
		t.Fatalf("upload in flight during shutdown: status %d\n%s", status, p.log)
	}
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		t.Fatal("wharf did not exit after SIGTERM")
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("exit code %d:\n%s", code, p.log)
	}

	p2 := startWharf(t, dir)
	checkBlob(t, "http://"+p2.addr, "shutdown", d, len(blob))
}

// TestVersionAndBadConfig: `wharf version` prints a version, and an invalid
// option stops `wharf serve` with a message naming it.
func TestVersionAndBadConfig(t *testing.T) {
	out, err := exec.Command(binary, "version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "wharf ") {
		t.Fatalf("wharf version: %q %v", out, err)
	}
	cmd := exec.Command(binary, "serve", "--addr", freeAddr(t), "--data-dir", t.TempDir())
	cmd.Env = append(cmd.Environ(), "WHARF_LOG_LEVEL=loud")
	out, err = cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "log.level") {
		t.Fatalf("bad log level accepted or not named: %v\n%s", err, out)
	}
}
