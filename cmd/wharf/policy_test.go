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
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/config"
	"github.com/wharf-dev/wharf/internal/server"
)

// TestPolicyAndUsageCommands runs `wharf policy` and `wharf usage` against
// a real server with access control on, and checks that the rules they set
// hold on /v2.
func TestPolicyAndUsageCommands(t *testing.T) {
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.Auth.Enabled = true
	cfg.Auth.BcryptCost = 4
	cfg.AdminPassword = "lifecycle-test-pw"
	cfg.Retention.Interval = 100 * time.Millisecond // the scheduled run, checked at the end
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	cfg.Resolve()
	s, err := server.New(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(func() { srv.Close(); s.Close() })
	env := map[string]string{"WHARF_URL": srv.URL, "WHARF_USER": "admin", "WHARF_PASSWORD": "lifecycle-test-pw"}
	getenv := func(k string) string { return env[k] }

	do := func(method, path string, body []byte, hdr ...string) (int, []byte) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, bytes.NewReader(body))
		req.SetBasicAuth("admin", "lifecycle-test-pw")
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	if code, b := do("POST", "/api/v1/namespaces", []byte(`{"name":"team"}`)); code != 201 {
		t.Fatalf("create namespace: %d %s", code, b)
	}
	policy := func(stdin string, args ...string) (string, error) {
		var out bytes.Buffer
		err := runPolicy(context.Background(), args, strings.NewReader(stdin), &out, getenv)
		return out.String(), err
	}

	if out, err := policy("", "immutable", "add", "team", "v*"); err != nil || !strings.Contains(out, `"pattern": "v*"`) {
		t.Fatalf("immutable add: %q, %v", out, err)
	}
	if _, err := policy("", "immutable", "add", "team", "re:("); err == nil || !strings.Contains(err.Error(), "invalid tag pattern") || !strings.Contains(err.Error(), "INVALID_REQUEST") {
		t.Errorf("bad pattern: %v", err)
	}
	if out, err := policy("", "immutable", "list", "--url", srv.URL, "team"); err != nil || strings.Count(out, `"pattern"`) != 1 {
		t.Errorf("immutable list: %q, %v", out, err)
	}
	// On /v2: v1 can be pushed once, then not moved or deleted; latest moves.
	image := func(tag, name string) (int, []byte) {
		t.Helper()
		cfg := []byte(`{"n":"` + name + `"}`)
		if code, b := do("POST", "/v2/team/app/blobs/uploads/?digest="+digest.FromBytes(cfg).String(), cfg); code != 201 {
			t.Fatalf("push config: %d %s", code, b)
		}
		m := fmt.Appendf(nil, `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%d},"layers":[]}`,
			digest.FromBytes(cfg), len(cfg))
		return do("PUT", "/v2/team/app/manifests/"+tag, m, "Content-Type", "application/vnd.oci.image.manifest.v1+json")
	}
	for _, step := range []struct {
		tag, name string
		code      int
	}{{"v1", "a", 201}, {"v1", "a", 201}, {"v1", "b", 403}, {"latest", "a", 201}, {"latest", "b", 201}} {
		if code, b := image(step.tag, step.name); code != step.code || (code == 403 && !strings.Contains(string(b), `"DENIED"`)) {
			t.Errorf("push %s as %s: %d %s; want %d", step.name, step.tag, code, b, step.code)
		}
	}
	if code, b := do("DELETE", "/v2/team/app/manifests/v1", nil); code != 403 || !strings.Contains(string(b), "immutable") {
		t.Errorf("delete v1: %d %s", code, b)
	}

	if _, err := policy("", "quota", "set", "team", "2KiB"); err != nil {
		t.Fatal(err)
	}
	if out, err := policy("", "quota", "show", "team"); err != nil || !strings.Contains(out, `"limitBytes": 2048`) {
		t.Errorf("quota show: %q, %v", out, err)
	}

	// On /v2: a blob within the quota is pushed, one past it refused with
	// DENIED and the numbers.
	push := func(repo string, b []byte) (int, []byte) {
		code, body := do("POST", "/v2/"+repo+"/blobs/uploads/?digest="+digest.FromBytes(b).String(), b, "Content-Type", "application/octet-stream")
		return code, body
	}
	if code, b := push("team/app", bytes.Repeat([]byte("a"), 1000)); code != 201 {
		t.Fatalf("push within the quota: %d %s", code, b)
	}
	code, b := push("team/app", bytes.Repeat([]byte("b"), 1000))
	var oci struct {
		Errors []struct {
			Code    string         `json:"code"`
			Message string         `json:"message"`
			Detail  map[string]any `json:"detail"`
		} `json:"errors"`
	}
	if json.Unmarshal(b, &oci); code != 403 || len(oci.Errors) != 1 || oci.Errors[0].Code != "DENIED" ||
		oci.Errors[0].Detail["limitBytes"] != float64(2048) || !strings.Contains(oci.Errors[0].Message, "quota") {
		t.Errorf("push past the quota: %d %s", code, b)
	}

	if code, b := do("GET", "/metrics", nil); code != 200 || !strings.Contains(string(b), `wharf_quota_refusals_total{namespace="team",operation="upload"} 1`) {
		t.Errorf("metrics do not count the quota refusal: %d", code)
	}

	var out bytes.Buffer
	if err := runUsage(context.Background(), []string{"team"}, &out, getenv); err != nil || !strings.Contains(out.String(), "namespace team: 1.5 KiB of 2.0 KiB, 3 blobs, 2 manifests, 2 tags") ||
		!strings.Contains(out.String(), "team/app") {
		t.Errorf("usage: %q, %v", out.String(), err)
	}
	// A pull of latest, counted: the repository's figures and its tags'.
	if code, _ := do("GET", "/v2/team/app/manifests/latest", nil); code != 200 {
		t.Fatalf("pull latest: %d", code)
	}
	if err := s.FlushPulls(context.Background()); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := runUsage(context.Background(), []string{"team/app"}, &out, getenv); err != nil ||
		!strings.Contains(out.String(), "repository team/app: ") || !strings.Contains(out.String(), "  1 pulls (1 in the last 30 days)") ||
		!regexp.MustCompile(`(?m)^ +latest +sha256:[0-9a-f]{12} +1 +1 `).MatchString(out.String()) ||
		!regexp.MustCompile(`(?m)^ +v1 +sha256:[0-9a-f]{12} +0 +0 `).MatchString(out.String()) {
		t.Errorf("usage team/app: %q, %v", out.String(), err)
	}
	out.Reset()
	if err := runUsage(context.Background(), nil, &out, getenv); err != nil || !strings.Contains(out.String(), "registry: ") ||
		!strings.Contains(out.String(), ", 1 repositories, 2 tags") || !regexp.MustCompile(`(?m)^ +team +1\.5 KiB +2\.0 KiB$`).MatchString(out.String()) {
		t.Errorf("usage of the registry: %q, %v", out.String(), err)
	}

	pol := `{"scope":"team","keep":["latest"],"untaggedAfter":"7d"}`
	if out, err := policy(pol, "retention", "preview", "-"); err != nil || !strings.Contains(out, `"dryRun": true`) {
		t.Errorf("preview from stdin: %q, %v", out, err)
	}
	if _, err := policy(`{"scope":"team","keepLast":[{"pattern":"*","count":-1}]}`, "retention", "add", "-"); err == nil || !strings.Contains(err.Error(), "keepLast[0].count") {
		t.Errorf("negative count: %v", err)
	}
	if _, err := policy(`{"scope":"team","keepWithin":"soon"}`, "retention", "add", "-"); err == nil || !strings.Contains(err.Error(), "not a retention policy") {
		t.Errorf("bad duration: %v", err)
	}
	if out, err := policy(pol, "retention", "add", "-"); err != nil || !strings.Contains(out, `"id": 1`) {
		t.Fatalf("retention add: %q, %v", out, err)
	}
	if out, err := policy("", "retention", "preview", "1"); err != nil || !strings.Contains(out, `"repositories": 1`) {
		t.Errorf("retention preview 1: %q, %v", out, err)
	}
	if out, err := policy("", "retention", "run", "--dry-run"); err != nil || !strings.Contains(out, `"dryRun": true`) {
		t.Errorf("retention run --dry-run: %q, %v", out, err)
	}
	if _, err := policy("", "retention", "frobnicate"); err != errPolicyUsage {
		t.Errorf("unknown subcommand: %v", err)
	}

	// The scheduled run applies a policy that no longer keeps latest.
	if _, err := policy("", "retention", "delete", "1"); err != nil {
		t.Fatal(err)
	}
	if _, err := policy(`{"scope":"team","keep":["v1"]}`, "retention", "add", "-"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, _ := do("GET", "/v2/team/app/manifests/latest", nil)
		if code == 404 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("latest is still there (%d) 10s after a policy dropped it", code)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if code, _ := do("GET", "/v2/team/app/manifests/v1", nil); code != 200 {
		t.Errorf("v1, kept and immutable: %d", code)
	}
	// Each deletion is audited as the job's, and so is the run when it ends.
	for {
		_, b := do("GET", "/api/v1/audit?action=retention.run&actor=system:retention", nil)
		_, tags := do("GET", "/api/v1/audit?action=tag.delete&actor=system:retention", nil)
		if strings.Contains(string(b), "1 tags and 1 manifests") && strings.Contains(string(tags), `"team/app:latest"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the scheduled deletion is not audited: %s", b)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, b := do("GET", "/metrics", nil); !strings.Contains(string(b), `wharf_retention_deletions_total{kind="tag"} 1`) {
		t.Error("metrics do not count the retention deletion")
	}
}
