package main

import (
	"strings"
	"testing"

	"github.com/wharf-dev/wharf/internal/httpapi/mgmt"
)

// TestKeyCommands runs wharf key list, rotate and retire against a real
// server.
func TestKeyCommands(t *testing.T) {
	url := startServer(t, true)
	base := cli{t: t, env: map[string]string{"WHARF_URL": url}}
	root := base.as("WHARF_USER", "admin", "WHARF_PASSWORD", "admin-pass")
	root.ok("alice-pass\n", "user", "create", "alice", "--password-stdin")

	ks := decodeJSON[mgmt.List[mgmt.SigningKey]](t, root.ok("", "key", "list", "--json")).Items
	if len(ks) != 1 || !ks[0].Signing {
		t.Fatalf("key list at first start: %+v", ks)
	}
	first := ks[0].ID
	root.fails("CONFLICT", "key", "retire", first)
	base.as("WHARF_USER", "alice", "WHARF_PASSWORD", "alice-pass").fails("DENIED", "key", "rotate")

	out := root.ok("", "key", "rotate")
	if !strings.HasPrefix(out, "key ") || strings.Contains(out, first) {
		t.Fatalf("key rotate printed %q", out)
	}
	out = root.ok("", "key", "list")
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 3 || !strings.HasPrefix(lines[0], "ID") {
		t.Fatalf("key list after rotation:\n%s", out)
	}
	if out := root.ok("", "key", "retire", first); !strings.Contains(out, first+" retired") {
		t.Fatalf("key retire printed %q", out)
	}
	ks = decodeJSON[mgmt.List[mgmt.SigningKey]](t, root.ok("", "key", "list", "--json")).Items
	if len(ks) != 2 || ks[0].ID != first || ks[0].RetiredAt.IsZero() || ks[0].Signing || !ks[1].Signing {
		t.Fatalf("key list after retiring %s: %+v", first, ks)
	}
	root.fails("a key id", "key", "retire")
}
