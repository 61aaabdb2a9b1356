package e2e

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestQuickStart runs the README's quick start as written: the first sh
// block under "## Quick start", with only the port changed, in a scratch
// directory that looks like a checkout (the module's files are linked), so
// the build, the data and the files the commands make stay there. It needs
// crane, oras and curl, and nothing from the internet. Edit the README and
// this test runs the edit.
func TestQuickStart(t *testing.T) {
	needTools(t, "crane", "oras", "curl")
	readme, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	script := quickStartBlock(t, string(readme))
	_, port, _ := net.SplitHostPort(freeAddr(t))
	for _, host := range []string{"127.0.0.1:5000", "localhost:5000"} {
		script = strings.ReplaceAll(script, host, strings.Replace(host, "5000", port, 1))
	}
	if strings.Contains(script, ":5000") {
		t.Fatalf("the quick start names port 5000 in a way this test does not rewrite:\n%s", script)
	}

	dir := t.TempDir()
	entries, err := os.ReadDir(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		name := e.Name()
		if name == "go.mod" || name == "go.sum" || (e.IsDir() && name != ".git" && name != "data") {
			if err := os.Symlink(filepath.Join(repoRoot, name), filepath.Join(dir, name)); err != nil {
				t.Fatal(err)
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", "set -euo pipefail -x\n"+script)
	cmd.Dir = dir
	// The README's go build, reusing what TestMain compiled (see there).
	// WHARF_HTTP_ADDR keeps a wharf started without --addr off port 5000.
	cmd.Env = append(os.Environ(), "GOFLAGS=-trimpath", "WHARF_HTTP_ADDR=127.0.0.1:"+port)
	// wharf runs in the background: the script runs in a process group of
	// its own, ended whatever happens, and writes to a file rather than a
	// pipe, which wharf would hold open after the script ends.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	logFile, err := os.Create(filepath.Join(t.TempDir(), "quickstart.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })
	err = cmd.Wait()
	b, _ := os.ReadFile(logFile.Name())
	out := string(b)
	t.Logf("quick start:\n%s", out)
	if err != nil {
		t.Fatalf("the README's quick start failed: %v", err)
	}
	for _, want := range []string{
		"ready",                           // readyz
		"hello.txt",                       // the image's file, pulled back
		"application/spdx+json",           // the SBOM, discovered as a referrer
		"<title>Registry · wharf</title>", // the web UI
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the quick start's output does not show %q", want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "data", "wharf.db")); err != nil {
		t.Errorf("no data where the quick start says: %v", err)
	}
}

// quickStartBlock returns the first ```sh block under the README's
// "## Quick start" heading.
func quickStartBlock(t *testing.T, readme string) string {
	t.Helper()
	_, section, ok := strings.Cut(readme, "\n## Quick start\n")
	if !ok {
		t.Fatal(`README.md has no "## Quick start" section`)
	}
	if i := strings.Index(section, "\n## "); i >= 0 {
		section = section[:i]
	}
	_, block, ok := strings.Cut(section, "\n```sh\n")
	if !ok {
		t.Fatal("the quick start has no ```sh block")
	}
	block, _, ok = strings.Cut(block, "\n```\n")
	if !ok {
		t.Fatal("the quick start's sh block does not end")
	}
	return block
}
