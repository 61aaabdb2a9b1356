package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/config"
	"github.com/wharf-dev/wharf/internal/httpapi/mgmt"
	"github.com/wharf-dev/wharf/internal/server"
)

// startServer runs a real wharf server (fs + SQLite) with authentication
// on, or off, and the admin password "admin-pass".
func startServer(t *testing.T, authOn bool) string {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.Auth.Enabled = authOn
	cfg.Auth.BcryptCost = 4
	cfg.AdminPassword = "admin-pass"
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	cfg.Resolve()
	s, err := server.New(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(func() {
		srv.Close()
		_ = s.Close()
	})
	return srv.URL
}

// cli runs wharf commands against one server as one identity.
type cli struct {
	t   *testing.T
	env map[string]string
}

func (c cli) as(vars ...string) cli {
	env := map[string]string{"WHARF_URL": c.env["WHARF_URL"]}
	for i := 0; i+1 < len(vars); i += 2 {
		env[vars[i]] = vars[i+1]
	}
	return cli{t: c.t, env: env}
}

// run runs "wharf noun args..." with stdin and returns what it printed.
func (c cli) run(stdin, noun string, args ...string) (string, error) {
	var out bytes.Buffer
	err := runAdmin(context.Background(), noun, args, strings.NewReader(stdin), &out, func(k string) string { return c.env[k] })
	return out.String(), err
}

// ok runs a command that must succeed.
func (c cli) ok(stdin, noun string, args ...string) string {
	c.t.Helper()
	out, err := c.run(stdin, noun, args...)
	if err != nil {
		c.t.Fatalf("wharf %s %s: %v\n%s", noun, strings.Join(args, " "), err, out)
	}
	return out
}

// fails runs a command that must fail with an error containing want.
func (c cli) fails(want, noun string, args ...string) {
	c.t.Helper()
	out, err := c.run("", noun, args...)
	if err == nil || !strings.Contains(err.Error(), want) {
		c.t.Fatalf("wharf %s %s: error %v, want one containing %q\n%s", noun, strings.Join(args, " "), err, want, out)
	}
}

func decodeJSON[T any](t *testing.T, s string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("not the JSON expected: %v\n%s", err, s)
	}
	return v
}

func TestAdminCommands(t *testing.T) {
	url := startServer(t, true)
	base := cli{t: t, env: map[string]string{"WHARF_URL": url}}
	root := base.as("WHARF_USER", "admin", "WHARF_PASSWORD", "admin-pass")

	root.ok("alice-pass\n", "user", "create", "alice", "--password-stdin")
	root.ok("", "user", "create", "bob")
	root.ok("", "namespace", "create", "team")
	root.ok("", "member", "set", "team", "alice", "developer")
	out := root.ok("", "member", "list", "team")
	if !strings.Contains(out, "alice") || !strings.Contains(out, "developer") || !strings.HasPrefix(out, "USER") {
		t.Errorf("member list:\n%s", out)
	}

	// An administrator's token that may manage everything works alone.
	tok := decodeJSON[mgmt.Token](t, root.ok("", "token", "create", "cli", "--scope", "*:*", "--json"))
	if !strings.HasPrefix(tok.Secret, "wharf_") || tok.Username != "admin" {
		t.Fatalf("token create: %+v", tok)
	}
	admin := base.as("WHARF_TOKEN", tok.Secret)
	users := decodeJSON[mgmt.List[mgmt.User]](t, admin.ok("", "user", "list", "--json")).Items
	if len(users) != 3 || users[0].Name != "admin" || !users[0].Admin || users[1].Name != "alice" || !users[1].HasPassword {
		t.Errorf("user list --json: %+v", users)
	}
	out = admin.ok("", "user", "list")
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 4 || !strings.HasPrefix(lines[0], "NAME") {
		t.Errorf("user list table:\n%s", out)
	}
	// The secret is shown once: listings do not hold it.
	if out := root.ok("", "token", "list", "--json"); strings.Contains(out, tok.Secret) || !strings.Contains(out, tok.ID) {
		t.Errorf("token list shows the secret or misses the token:\n%s", out)
	}

	// Alice manages her own tokens and password, not the namespace.
	alice := base.as("WHARF_USER", "alice", "WHARF_PASSWORD", "alice-pass")
	at := decodeJSON[mgmt.Token](t, alice.ok("", "token", "create", "ci", "--scope", "team/*:pull,push", "--expires", "24h", "--json"))
	if at.ExpiresAt.IsZero() || len(at.Scopes) != 1 || at.Scopes[0].Pattern != "team/*" {
		t.Errorf("alice's token: %+v", at)
	}
	if out := alice.ok("", "token", "list"); !strings.Contains(out, "team/*:pull,push") {
		t.Errorf("alice's token list:\n%s", out)
	}
	alice.fails("DENIED", "member", "set", "team", "alice", "admin")
	alice.fails("DENIED", "user", "list")
	alice.fails("NOT_FOUND", "namespace", "get", "other")
	alice.ok("alice-new\n", "user", "passwd")
	alice.fails("UNAUTHORIZED", "namespace", "list") // the old password
	alice = base.as("WHARF_USER", "alice", "WHARF_PASSWORD", "alice-new")
	if out := alice.ok("", "namespace", "list"); !strings.Contains(out, "team") {
		t.Errorf("alice's namespaces:\n%s", out)
	}
	// Her token is scoped to team/*: it may not act as her whole account.
	aliceTok := base.as("WHARF_TOKEN", at.Secret)
	aliceTok.fails("DENIED", "token", "create", "more", "--scope", "*:*", "--for", "alice")

	// A robot, made by the namespace's admin.
	root.ok("", "member", "set", "team", "alice", "admin")
	robot := decodeJSON[mgmt.Token](t, alice.ok("", "token", "create", "builder", "--namespace", "team", "--scope", "team/*:pull,push", "--json"))
	if robot.Username != "team+builder" {
		t.Errorf("robot: %+v", robot)
	}
	alice.fails("INVALID_REQUEST", "token", "create", "wide", "--namespace", "team", "--scope", "other/*:pull")
	pushImage(t, url, "team+builder", robot.Secret, "team/app", "v1")
	if out := base.as("WHARF_TOKEN", robot.Secret).ok("", "repo", "tags", "team/app"); !strings.Contains(out, "v1") {
		t.Errorf("robot's tag list:\n%s", out)
	}
	if out := alice.ok("", "token", "list", "--namespace", "team"); !strings.Contains(out, "team+builder") {
		t.Errorf("robot list:\n%s", out)
	}

	// Repositories and tags.
	d := pushImage(t, url, "admin", "admin-pass", "team/app", "v2")
	if out := alice.ok("", "repo", "list"); !strings.Contains(out, "team/app") {
		t.Errorf("repo list:\n%s", out)
	}
	alice.ok("", "repo", "untag", "team/app", "v1")
	alice.ok("", "repo", "delete", "team/app", d.String())
	if tags := decodeJSON[mgmt.List[mgmt.Tag]](t, alice.ok("", "repo", "tags", "team/app", "--json")).Items; len(tags) != 0 {
		t.Errorf("tags after untag and delete: %+v", tags)
	}

	// Revocation takes effect at once.
	alice.ok("", "token", "revoke", at.ID)
	aliceTok.fails("UNAUTHORIZED", "namespace", "list")
	alice.ok("", "token", "revoke", robot.ID, "--namespace", "team")

	// Admin flags, htpasswd import, deletion.
	if out := root.ok("", "user", "get", "alice"); !strings.Contains(out, "NAMESPACE") || !strings.Contains(out, "team") || !strings.Contains(out, "admin") {
		t.Errorf("user get alice:\n%s", out)
	}
	root.ok("", "user", "set", "bob", "--disabled=true")
	if u := decodeJSON[mgmt.User](t, root.ok("", "user", "get", "bob", "--json")); !u.Disabled {
		t.Errorf("bob not disabled: %+v", u)
	}
	root.ok("", "user", "delete", "bob")
	root.fails("NOT_FOUND", "user", "get", "bob")
	root.fails("CONFLICT", "namespace", "create", "team")

	// The audit log saw it all.
	events := decodeJSON[mgmt.List[mgmt.AuditEvent]](t, root.ok("", "audit", "--action", "member.put", "--json")).Items
	if len(events) != 3 || events[0].Result != "ok" || events[1].Result != "denied" || events[0].Actor != "user:admin" {
		t.Errorf("member.put events: %+v", events)
	}
	out = root.ok("", "audit", "--target", "user:bob", "--limit", "2")
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 3 || !strings.Contains(lines[1], "user.delete") {
		t.Errorf("audit table:\n%s", out)
	}
	root.fails("INVALID_REQUEST", "audit", "--since", "yesterday")
	alice.fails("DENIED", "audit")

	// docker login keeps a refresh token; its owner lists and revokes it.
	refresh := fetchRefreshToken(t, url, "alice", "alice-new")
	sessions := decodeJSON[mgmt.List[mgmt.Token]](t, alice.ok("", "token", "list", "--refresh", "--json")).Items
	if len(sessions) != 1 || sessions[0].Kind != "refresh" {
		t.Fatalf("refresh tokens: %+v", sessions)
	}
	alice.ok("", "token", "revoke", sessions[0].ID)
	resp, err := http.PostForm(url+"/token", map[string][]string{
		"grant_type": {"refresh_token"}, "refresh_token": {refresh}, "service": {"wharf"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		t.Error("a revoked refresh token still logs in")
	}

	// Usage errors.
	root.fails("usage", "user")
	root.fails("usage", "user", "frobnicate")
	root.fails("want a user name", "user", "create")
	root.fails("nothing to change", "user", "set", "alice")
	base.fails("UNAUTHORIZED", "user", "list")
}

// TestAdminCommandsWithoutAuth: without access control the commands work
// from the registry's own machine, as the local administrator, for what
// needs no accounts: namespaces, immutable tags, quotas, usage, retention,
// repositories and the audit log. Accounts need access control.
func TestAdminCommandsWithoutAuth(t *testing.T) {
	url := startServer(t, false)
	env := map[string]string{"WHARF_URL": url}
	c := cli{t: t, env: env}
	c.ok("", "namespace", "create", "team")
	pushImage(t, url, "", "", "team/app", "v1")
	policy := func(args ...string) string {
		t.Helper()
		var out bytes.Buffer
		if err := runPolicy(context.Background(), args, strings.NewReader(""), &out, func(k string) string { return env[k] }); err != nil {
			t.Fatalf("wharf policy %s: %v", strings.Join(args, " "), err)
		}
		return out.String()
	}
	policy("immutable", "add", "team", "v*")
	policy("quota", "set", "team", "1GiB")
	var usage bytes.Buffer
	if err := runUsage(context.Background(), []string{"team"}, &usage, func(k string) string { return env[k] }); err != nil ||
		!strings.Contains(usage.String(), "of 1.0 GiB") || !strings.Contains(usage.String(), "team/app") {
		t.Errorf("usage: %v\n%s", err, usage.String())
	}
	if out := c.ok("", "repo", "tags", "team/app"); !strings.Contains(out, "v1") {
		t.Errorf("repo tags:\n%s", out)
	}
	// The immutability rule holds on /v2: v1 cannot be untagged.
	c.fails("immutable", "repo", "untag", "team/app", "v1")
	if out := c.ok("", "audit", "--action", "immutability.add"); !strings.Contains(out, "local:admin") {
		t.Errorf("audit:\n%s", out)
	}
	c.fails("need access control", "user", "list")
	c.fails("need access control", "token", "create", "t", "--for", "admin", "--scope", "*:*")
}

// pushImage pushes a one-layer image through /v2 with Basic credentials and
// returns its manifest's digest.
func pushImage(t *testing.T, url, user, password, repo, tag string) digest.Digest {
	t.Helper()
	put := func(method, path, ctype string, body []byte) *http.Response {
		req, err := http.NewRequest(method, url+path, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.SetBasicAuth(user, password)
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, b)
		}
		return resp
	}
	cfg := []byte(`{"os":"linux","tag":"` + tag + `"}`)
	layer := []byte("layer of " + tag)
	for _, b := range [][]byte{cfg, layer} {
		put("POST", fmt.Sprintf("/v2/%s/blobs/uploads/?digest=%s", repo, digest.FromBytes(b)), "application/octet-stream", b)
	}
	m := fmt.Appendf(nil, `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",`+
		`"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%d},`+
		`"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"%s","size":%d}]}`,
		digest.FromBytes(cfg), len(cfg), digest.FromBytes(layer), len(layer))
	put("PUT", "/v2/"+repo+"/manifests/"+tag, "application/vnd.oci.image.manifest.v1+json", m)
	return digest.FromBytes(m)
}

// fetchRefreshToken logs in at /token for an offline token, as docker login
// does, and returns the refresh token.
func fetchRefreshToken(t *testing.T, url, user, password string) string {
	t.Helper()
	req, err := http.NewRequest("GET", url+"/token?service=wharf&offline_token=true", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(user, password)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		RefreshToken string `json:"refresh_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || body.RefreshToken == "" {
		t.Fatalf("/token: %d, %v, no refresh token", resp.StatusCode, err)
	}
	return body.RefreshToken
}
