package main

import (
	"strings"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/internal/httpapi/mgmt"
)

// TestProxyCommands: a proxy namespace is created with its upstream and
// changed field by field; the password is read from stdin and never
// printed; flags that need a proxy say so.
func TestProxyCommands(t *testing.T) {
	url := startServer(t, true)
	root := cli{t: t, env: map[string]string{"WHARF_URL": url}}.as("WHARF_USER", "admin", "WHARF_PASSWORD", "admin-pass")

	root.fails("--upstream needs --kind proxy", "namespace", "create", "x", "--upstream", "docker.io")
	root.fails("needs --upstream", "namespace", "create", "x", "--kind", "proxy")
	root.fails("INVALID_REQUEST", "namespace", "create", "x", "--kind", "proxy", "--upstream", "ftp://nowhere")
	out := root.ok("hub-s3cret\n", "namespace", "create", "hub", "--kind", "proxy", "--upstream", "docker.io",
		"--upstream-user", "bot", "--upstream-password-stdin", "--public", "--default")
	if !strings.Contains(out, "pull-through cache of docker.io") {
		t.Errorf("create: %s", out)
	}
	up := decodeJSON[mgmt.Upstream](t, root.ok("", "proxy", "get", "hub", "--json"))
	if up.URL != "https://registry-1.docker.io" || up.Username != "bot" || !up.HasPassword || !up.Default {
		t.Errorf("upstream: %+v", up)
	}
	// set changes what is given and keeps the rest, the password included.
	root.ok("", "proxy", "set", "hub", "--tag-check-interval", "2h", "--allow-push")
	up = decodeJSON[mgmt.Upstream](t, root.ok("", "proxy", "get", "hub", "--json"))
	if time.Duration(up.TagCheckInterval) != 2*time.Hour || !up.AllowPush || !up.HasPassword || up.Username != "bot" || !up.Default {
		t.Errorf("after set: %+v", up)
	}
	root.fails("--tag-check-interval", "proxy", "set", "hub", "--tag-check-interval", "soon")
	out = root.ok("", "proxy", "list")
	if !strings.Contains(out, "registry-1.docker.io") || !strings.HasPrefix(out, "NAMESPACE") || strings.Contains(out, "hub-s3cret") {
		t.Errorf("proxy list:\n%s", out)
	}
	if out := root.ok("", "namespace", "list"); !strings.Contains(out, "proxy") {
		t.Errorf("namespace list lacks the kind:\n%s", out)
	}
	root.fails("NOT_FOUND", "proxy", "get", "nowhere")
}
