package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// wharfCLI runs the built binary's administration commands with env.
func wharfCLI(t *testing.T, env []string, stdin string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestAdminCLI drives the management API with the built binary's CLI
// against a built server with authentication on, across a restart.
func TestAdminCLI(t *testing.T) {
	dir := t.TempDir()
	serverEnv := []string{"WHARF_AUTH_ENABLED=true", "WHARF_ADMIN_PASSWORD=e2e-admin-pw", "WHARF_AUTH_BCRYPT_COST=4"}
	p := startWharf(t, dir, serverEnv...)
	url := "WHARF_URL=http://" + p.addr
	run := func(env []string, stdin string, args ...string) string {
		t.Helper()
		out, err := wharfCLI(t, append([]string{url}, env...), stdin, args...)
		if err != nil {
			t.Fatalf("wharf %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	admin := []string{"WHARF_USER=admin", "WHARF_PASSWORD=e2e-admin-pw"}
	var tok struct{ ID, Secret string }
	if err := json.Unmarshal([]byte(run(admin, "", "token", "create", "e2e", "--scope", "*:*", "--json")), &tok); err != nil || tok.Secret == "" {
		t.Fatalf("token create: %v %+v", err, tok)
	}
	withToken := []string{"WHARF_TOKEN=" + tok.Secret, "WHARF_USER=", "WHARF_PASSWORD="}
	run(withToken, "bob-password\n", "user", "create", "bob", "--password-stdin")
	run(withToken, "", "namespace", "create", "team", "--public")
	run(withToken, "", "member", "set", "team", "bob", "readonly")

	// The token and everything it made survive a restart.
	if err := p.stop(); err != nil {
		t.Fatal(err)
	}
	p = startWharf(t, dir, serverEnv...)
	url = "WHARF_URL=http://" + p.addr
	if out := run(withToken, "", "user", "list"); !strings.Contains(out, "bob") || !strings.HasPrefix(out, "NAME") {
		t.Errorf("user list:\n%s", out)
	}
	if out := run(withToken, "", "member", "list", "team"); !strings.Contains(out, "readonly") {
		t.Errorf("member list:\n%s", out)
	}
	if out := run(withToken, "", "audit", "--action", "member.put"); !strings.Contains(out, "team:bob") {
		t.Errorf("audit:\n%s", out)
	}

	// A refusal exits non-zero with the problem's code and detail.
	bob := []string{"WHARF_USER=bob", "WHARF_PASSWORD=bob-password"}
	out, err := wharfCLI(t, append([]string{url}, bob...), "", "user", "list")
	if err == nil || !strings.Contains(out, "wharf user: DENIED") {
		t.Errorf("bob's user list: %v\n%s", err, out)
	}
	run(withToken, "", "token", "revoke", tok.ID)
	out, err = wharfCLI(t, append([]string{url}, withToken...), "", "namespace", "list")
	if err == nil || !strings.Contains(out, "UNAUTHORIZED") {
		t.Errorf("revoked token: %v\n%s", err, out)
	}
}
