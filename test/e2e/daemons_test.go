package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/internal/auth"
)

// This file holds what the tests of podman, buildah, ctr, the docker CLI,
// helm and cosign share: a registry with access control on and one
// developer, daemons started in a test's own directories, and reads of the
// registry's state with a password, not through the client under test.

// clientRegistry is a running wharf with access control on, where the user
// dev (password devPassword) is a developer of the namespace team.
type clientRegistry struct {
	p *wharfProcess
	f *accessFixture
}

const devPassword = "dev-password"

func startClientRegistry(t *testing.T) *clientRegistry {
	t.Helper()
	dataDir := t.TempDir()
	p := startWharf(t, dataDir, authEnv()...)
	f := openAccess(t, dataDir)
	f.user("dev", devPassword)
	f.namespace("team", map[string]auth.Role{"dev": auth.RoleDeveloper})
	return &clientRegistry{p: p, f: f}
}

// get reads path on the registry as the system administrator and returns
// the status, the headers and the body.
func (r *clientRegistry) get(t *testing.T, path, accept string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest("GET", "http://"+r.p.addr+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", auth.BasicAuthorization("admin", e2eAdminPassword))
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, b
}

// anyManifest accepts every manifest media type wharf serves.
const anyManifest = "application/vnd.oci.image.manifest.v1+json,application/vnd.oci.image.index.v1+json," +
	"application/vnd.docker.distribution.manifest.v2+json,application/vnd.docker.distribution.manifest.list.v2+json"

// storedManifest is the parts of a manifest or index the tests look at.
type storedManifest struct {
	Digest       string `json:"-"`
	MediaType    string `json:"mediaType"`
	ArtifactType string `json:"artifactType"`
	Config       struct {
		MediaType string `json:"mediaType"`
		Digest    string `json:"digest"`
	} `json:"config"`
	Layers []struct {
		MediaType   string            `json:"mediaType"`
		Digest      string            `json:"digest"`
		Annotations map[string]string `json:"annotations"`
	} `json:"layers"`
	Manifests []struct {
		MediaType    string `json:"mediaType"`
		Digest       string `json:"digest"`
		ArtifactType string `json:"artifactType"`
	} `json:"manifests"`
	Subject *struct {
		Digest string `json:"digest"`
	} `json:"subject"`
}

// manifest fetches repo:ref from the registry and fails the test unless it
// is there.
func (r *clientRegistry) manifest(t *testing.T, repo, ref string) storedManifest {
	t.Helper()
	status, h, b := r.get(t, "/v2/"+repo+"/manifests/"+ref, anyManifest)
	if status != http.StatusOK {
		t.Fatalf("GET manifest %s:%s: %d %s", repo, ref, status, b)
	}
	var m storedManifest
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("manifest %s:%s: %v", repo, ref, err)
	}
	m.Digest = h.Get("Docker-Content-Digest")
	if m.MediaType == "" {
		m.MediaType = h.Get("Content-Type")
	}
	return m
}

// tags lists repo's tags.
func (r *clientRegistry) tags(t *testing.T, repo string) []string {
	t.Helper()
	status, _, b := r.get(t, "/v2/"+repo+"/tags/list", "")
	if status != http.StatusOK {
		t.Fatalf("GET tags of %s: %d %s", repo, status, b)
	}
	var l struct {
		Tags []string `json:"tags"`
	}
	if err := json.Unmarshal(b, &l); err != nil {
		t.Fatal(err)
	}
	return l.Tags
}

// imageConfig fetches the config blob of repo's manifest m.
func (r *clientRegistry) imageConfig(t *testing.T, repo string, m storedManifest) map[string]any {
	t.Helper()
	status, _, b := r.get(t, "/v2/"+repo+"/blobs/"+m.Config.Digest, "")
	if status != http.StatusOK {
		t.Fatalf("GET config of %s: %d %s", repo, status, b)
	}
	var c map[string]any
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatalf("config of %s: %v", repo, err)
	}
	return c
}

// configLabels returns the labels in an image config.
func configLabels(c map[string]any) map[string]any {
	cfg, _ := c["config"].(map[string]any)
	labels, _ := cfg["Labels"].(map[string]any)
	return labels
}

// needRoot skips, or fails under CI, a test that starts a daemon only root
// may run.
func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatal("this test needs root")
	}
	t.Skip("this test needs root")
}

// startDaemon runs a daemon until the test ends and waits until its unix
// socket answers.
func startDaemon(t *testing.T, socket string, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	log, err := os.Create(filepath.Join(t.TempDir(), name+".log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		log.Close()
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(socket); err == nil {
			return
		}
		select {
		case <-done:
			b, _ := os.ReadFile(log.Name())
			t.Fatalf("%s exited:\n%s", name, b)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(log.Name())
			t.Fatalf("%s did not open %s within 30s:\n%s", name, socket, b)
		}
	}
}

// shortTempDir is a fresh directory with a short path: a unix socket's path
// must stay under 108 bytes.
func shortTempDir(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp("", "wharf-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(d) })
	return d
}

// contains reports whether list holds s.
func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// writeFile writes a test file and fails the test on error.
func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// trimmed is sh's output without surrounding space.
func trimmed(s string) string { return strings.TrimSpace(s) }
