package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
)

// TestJSONListings: with --json every listing prints {"items": [...]}, the
// shape docs/management.md gives the API's listings, and nothing else: an
// array even when empty. The policy commands, whose answers are always JSON,
// do the same, and a change with nothing to return prints {"ok": true}.
func TestJSONListings(t *testing.T) {
	url := startServer(t, true)
	root := cli{t: t, env: map[string]string{"WHARF_URL": url, "WHARF_USER": "admin", "WHARF_PASSWORD": "admin-pass"}}
	root.ok("", "namespace", "create", "team")
	root.ok("", "token", "create", "laptop", "--scope", "*:*")
	policy := func(args ...string) string {
		t.Helper()
		var out bytes.Buffer
		if err := runPolicy(context.Background(), args, strings.NewReader(""), &out, func(k string) string { return root.env[k] }); err != nil {
			t.Fatalf("wharf policy %s: %v", strings.Join(args, " "), err)
		}
		return out.String()
	}
	listings := map[string]string{
		"user list":                   root.ok("", "user", "list", "--json"),
		"namespace list":              root.ok("", "namespace", "list", "--json"),
		"member list team":            root.ok("", "member", "list", "team", "--json"),
		"token list":                  root.ok("", "token", "list", "--json"),
		"token list --refresh":        root.ok("", "token", "list", "--refresh", "--json"),
		"token list --namespace team": root.ok("", "token", "list", "--namespace", "team", "--json"),
		"repo list":                   root.ok("", "repo", "list", "--json"),
		"key list":                    root.ok("", "key", "list", "--json"),
		"audit":                       root.ok("", "audit", "--json"),
		"policy immutable list team":  policy("immutable", "list", "team"),
		"policy retention list":       policy("retention", "list"),
		"policy quota list":           policy("quota", "list"),
	}
	for what, out := range listings {
		var v map[string]json.RawMessage
		if err := json.Unmarshal([]byte(out), &v); err != nil {
			t.Errorf("%s --json is not an object: %v\n%s", what, err, out)
			continue
		}
		items, ok := v["items"]
		if len(v) != 1 || !ok || !bytes.HasPrefix(bytes.TrimSpace(items), []byte("[")) {
			t.Errorf("%s --json is not {\"items\": [...]}:\n%s", what, out)
		}
	}
	var tokens struct{ Items []struct{ Name string } }
	_ = json.Unmarshal([]byte(listings["token list"]), &tokens)
	if len(tokens.Items) != 1 || tokens.Items[0].Name != "laptop" {
		t.Errorf("token list --json items: %+v", tokens.Items)
	}
	rule := policy("immutable", "add", "team", "v*")
	var r struct{ ID json.Number }
	if err := json.Unmarshal([]byte(rule), &r); err != nil || r.ID == "" {
		t.Fatalf("immutable add: %v\n%s", err, rule)
	}
	if out := policy("immutable", "delete", "team", r.ID.String()); strings.TrimSpace(strings.Join(strings.Fields(out), "")) != `{"ok":true}` {
		t.Errorf("immutable delete printed %q", out)
	}
}
