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
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/config"
	"github.com/wharf-dev/wharf/internal/server"
)

// testServer is a wharf with access control on, served on loopback.
type testServer struct {
	t   *testing.T
	url string
	pw  string
}

func startReplicaServer(t *testing.T, pw string) *testServer {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.Auth.Enabled = true
	cfg.Auth.BcryptCost = 4
	cfg.AdminPassword = pw
	cfg.Replication.PollInterval = 50 * time.Millisecond
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
	return &testServer{t: t, url: srv.URL, pw: pw}
}

func (s *testServer) do(method, path string, body []byte, hdr ...string) (int, []byte) {
	s.t.Helper()
	req, _ := http.NewRequest(method, s.url+path, bytes.NewReader(body))
	req.SetBasicAuth("admin", s.pw)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// pushImage pushes a one-layer image as repo:tag and returns its digest.
func (s *testServer) pushImage(repo, tag, content string) string {
	s.t.Helper()
	layer, cfg := []byte(content), []byte(`{"architecture":"amd64","os":"linux","c":"`+content+`"}`)
	for _, b := range [][]byte{layer, cfg} {
		if code, body := s.do("POST", "/v2/"+repo+"/blobs/uploads/?digest="+digest.FromBytes(b).String(), b); code != 201 {
			s.t.Fatalf("push blob: %d %s", code, body)
		}
	}
	m := fmt.Appendf(nil, `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%d},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"%s","size":%d}]}`,
		digest.FromBytes(cfg), len(cfg), digest.FromBytes(layer), len(layer))
	if code, body := s.do("PUT", "/v2/"+repo+"/manifests/"+tag, m, "Content-Type", "application/vnd.oci.image.manifest.v1+json"); code != 201 {
		s.t.Fatalf("push manifest: %d %s", code, body)
	}
	return digest.FromBytes(m).String()
}

// head is the digest repo:tag has, "" if none.
func (s *testServer) head(repo, tag string) string {
	s.t.Helper()
	req, _ := http.NewRequest("HEAD", s.url+"/v2/"+repo+"/manifests/"+tag, nil)
	req.SetBasicAuth("admin", s.pw)
	req.Header.Set("Accept", "application/vnd.oci.image.manifest.v1+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		return ""
	}
	return resp.Header.Get("Docker-Content-Digest")
}

// TestReplicationCommand drives `wharf replication` against two wharfs:
// a push rule made from flags, with the destination's access token read
// from stdin, run and waited for; its runs and log; a disable, an update
// from flags that keeps the password; and the refusals.
func TestReplicationCommand(t *testing.T) {
	src, dst := startReplicaServer(t, "source-admin-pw"), startReplicaServer(t, "dest-admin-pw")
	d1 := src.pushImage("team/app", "v1.0.0", "one")
	src.pushImage("team/app", "dev", "dev build")
	code, tok := dst.do("POST", "/api/v1/users/admin/tokens", []byte(`{"name":"dr","scopes":["*:*"]}`))
	if code != 201 {
		t.Fatalf("destination token: %d %s", code, tok)
	}
	var token struct {
		Token string `json:"secret"`
	}
	if err := json.Unmarshal(tok, &token); err != nil || token.Token == "" {
		t.Fatalf("token: %s", tok)
	}
	env := map[string]string{"WHARF_URL": src.url, "WHARF_USER": "admin", "WHARF_PASSWORD": src.pw}
	cli := func(stdin string, args ...string) (string, error) {
		var out bytes.Buffer
		err := runReplication(context.Background(), args, strings.NewReader(stdin), &out, func(k string) string { return env[k] })
		return out.String(), err
	}

	out, err := cli(token.Token+"\n", "add", "--name", "dr", "--push", "--remote", dst.url, "--username", "admin", "--password-stdin",
		"--repo", "team/**", "--tag", "semver", "--map", "team=backup/team", "--deletes", "--bandwidth", "100MiB/s")
	if err != nil || strings.Contains(out, token.Token) || !strings.Contains(out, `"hasPassword": true`) || !strings.Contains(out, `"bandwidthLimit": 104857600`) {
		t.Fatalf("add: %q, %v", out, err)
	}
	if _, err := cli("", "add", "--name", "bad", "--push", "--remote", dst.url, "--repo", "team/**", "--tag", "re:("); err == nil ||
		!strings.Contains(err.Error(), "tags:") || !strings.Contains(err.Error(), "INVALID_REQUEST") {
		t.Errorf("a bad rule: %v", err)
	}
	out, err = cli("", "run", "1", "--wait")
	if err != nil || !strings.Contains(out, `"state": "succeeded"`) || !strings.Contains(out, `"source": "team/app:v1.0.0"`) ||
		!strings.Contains(out, `"result": "copied"`) || strings.Contains(out, "team/app:dev") {
		t.Fatalf("run --wait: %q, %v", out, err)
	}
	if got := dst.head("backup/team/app", "v1.0.0"); got != d1 {
		t.Fatalf("backup/team/app:v1.0.0 at the destination is %q, want %s", got, d1)
	}
	if out, err := cli("", "runs", "1"); err != nil || strings.Count(out, `"id"`) != 1 || !strings.Contains(out, `"trigger": "manual"`) {
		t.Errorf("runs: %q, %v", out, err)
	}
	if out, err := cli("", "log", "1"); err != nil || strings.Count(out, `"seq"`) != 1 {
		t.Errorf("log: %q, %v", out, err)
	}
	if out, err := cli("", "status", "1"); err != nil || !strings.Contains(out, `"copied": 1`) {
		t.Errorf("status: %q, %v", out, err)
	}

	// An update from flags keeps what it does not name, the password too.
	out, err = cli("", "update", "1", "--tag", "v*", "--tag", "dev")
	if err != nil || !strings.Contains(out, `"hasPassword": true`) || !strings.Contains(out, `"dev"`) || !strings.Contains(out, `"to": "backup/team"`) {
		t.Fatalf("update: %q, %v", out, err)
	}
	if out, err = cli("", "run", "1", "--wait"); err != nil || !strings.Contains(out, `"source": "team/app:dev"`) {
		t.Fatalf("run after the update: %q, %v", out, err)
	}
	if out, err := cli("", "disable", "1"); err != nil || !strings.Contains(out, `"enabled": false`) {
		t.Fatalf("disable: %q, %v", out, err)
	}
	if _, err := cli("", "run", "1", "--wait"); err == nil || !strings.Contains(err.Error(), "cancelled") {
		t.Errorf("a run of a disabled rule: %v", err)
	}
	if out, err := cli("", "list"); err != nil || !strings.Contains(out, `"name": "dr"`) || strings.Contains(out, token.Token) {
		t.Errorf("list: %q, %v", out, err)
	}
	if _, err := cli("", "delete", "1"); err != nil {
		t.Fatal(err)
	}
	if _, err := cli("", "show", "1"); err == nil || !strings.Contains(err.Error(), "NOT_FOUND") {
		t.Errorf("show a deleted rule: %v", err)
	}
	if _, err := cli("", "frobnicate"); err != errReplicationUsage {
		t.Errorf("unknown subcommand: %v", err)
	}
}
