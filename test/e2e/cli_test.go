package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestHelp: `wharf CMD --help`, `-h` and `wharf help CMD` print the
// command's usage on standard output and exit 0, for every command `wharf
// --help` lists, and for an administration command's verbs.
func TestHelp(t *testing.T) {
	out, err := exec.Command(binary, "--help").Output()
	if err != nil {
		t.Fatalf("wharf --help: %v", err)
	}
	var cmds []string
	for _, m := range regexp.MustCompile(`(?m)^  ([a-z]+) `).FindAllStringSubmatch(string(out), -1) {
		cmds = append(cmds, m[1])
	}
	if len(cmds) < 10 {
		t.Fatalf("wharf --help lists %d commands:\n%s", len(cmds), out)
	}
	for _, c := range cmds {
		for _, args := range [][]string{{c, "--help"}, {c, "-h"}, {"help", c}} {
			cmd := exec.Command(binary, args...)
			var stderr strings.Builder
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil || !strings.Contains(string(out), "wharf "+c) || stderr.Len() > 0 {
				t.Errorf("wharf %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, out, stderr.String())
			}
		}
	}
	for _, args := range [][]string{{"user", "list", "--help"}, {"policy", "retention", "add", "-h"}, {"token", "create", "x", "--help"}} {
		if out, err := exec.Command(binary, args...).Output(); err != nil || !strings.Contains(string(out), "wharf "+args[0]) {
			t.Errorf("wharf %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	// A bad flag is still an error, pointing at --help.
	out, err = exec.Command(binary, "gc", "--bogus").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "wharf gc --help") {
		t.Errorf("wharf gc --bogus: %v\n%s", err, out)
	}
}

// TestGCAndScrubTakeDataDir: gc and scrub find the data where `wharf serve
// --data-dir` put it.
func TestGCAndScrubTakeDataDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "registry-data")
	p := startWharf(t, dir)
	l := &crashLoad{base: "http://" + p.addr}
	for _, b := range []string{"one", "two"} {
		if !l.pushBlob("e2e/app", []byte(b), false) {
			t.Fatal("push blob failed")
		}
	}
	if err := p.stop(); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"gc", "--data-dir", dir, "--dry-run"}, {"scrub", "--data-dir", dir}} {
		cmd := exec.Command(binary, args...)
		cmd.Dir = t.TempDir() // not beside ./data
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("wharf %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		if args[0] == "scrub" && !strings.Contains(string(out), "re-hashed 2 blobs") {
			t.Errorf("scrub did not read the pushed image's 2 blobs:\n%s", out)
		}
		if _, err := os.Stat(filepath.Join(cmd.Dir, "data")); err == nil {
			t.Errorf("wharf %s made ./data instead of using --data-dir", args[0])
		}
	}
}

// TestMisspeltVariable: a WHARF_* variable that is no option stops serve,
// naming the option meant, instead of starting an open registry.
func TestMisspeltVariable(t *testing.T) {
	cmd := exec.Command(binary, "serve", "--addr", freeAddr(t), "--data-dir", t.TempDir())
	cmd.Env = append(os.Environ(), "WHARF_AUTH_ENABLE=true")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "did you mean WHARF_AUTH_ENABLED (auth.enabled)?") {
		t.Fatalf("serve with WHARF_AUTH_ENABLE: %v\n%s", err, out)
	}
}
