package main

import (
	"strings"
	"testing"
)

// TestPasswordRulesCLI: user create, user set and user passwd refuse a
// password that is too short or is the user name, with the server's reason;
// before, "x" was accepted.
func TestPasswordRulesCLI(t *testing.T) {
	url := startServer(t, true)
	root := cli{t: t, env: map[string]string{"WHARF_URL": url}}.as("WHARF_USER", "admin", "WHARF_PASSWORD", "admin-pass")
	refused := func(c cli, stdin, says string, args ...string) {
		t.Helper()
		out, err := c.run(stdin, "user", args...)
		if err == nil || !strings.Contains(err.Error(), "INVALID_REQUEST") || !strings.Contains(err.Error(), says) {
			t.Errorf("wharf user %s with %q: %v, want INVALID_REQUEST saying %q\n%s", strings.Join(args, " "), stdin, err, says, out)
		}
	}
	refused(root, "x\n", "password refused: it has 1 characters; at least 8 are required", "create", "alice", "--password-stdin")
	refused(root, "alice\n", "at least 8", "create", "alice", "--password-stdin")
	refused(root, "Alexander\n", "password refused: it is the user name", "create", "alexander", "--password-stdin")
	root.fails("NOT_FOUND", "user", "get", "alice")

	root.ok("alice-pass\n", "user", "create", "alice", "--password-stdin")
	refused(root, "short\n", "at least 8 are required", "set", "alice", "--password-stdin")
	alice := root.as("WHARF_USER", "alice", "WHARF_PASSWORD", "alice-pass")
	refused(alice, "short\n", "at least 8 are required", "passwd")
	alice.ok("", "user", "get", "alice") // the old password still works
}
