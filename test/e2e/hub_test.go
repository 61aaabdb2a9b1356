package e2e

import (
	"bytes"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
)

// TestDockerHubCleanupScript runs the cleanup scripts of docs/migration.md
// ("From Docker Hub"), written as teams write them for Docker Hub (curl and
// jq: log in with /v2/users/login, list the tags, keep the newest 50
// commit-SHA tags, delete the rest), against wharf with access control on,
// with only the host changed. 60 SHA tags pushed one after the other, with
// latest and version tags beside them: exactly the 10 oldest SHA tags go.
// Then, past 100 tags, the script that follows next keeps the newest 50.
func TestDockerHubCleanupScript(t *testing.T) {
	needTools(t, "bash", "curl", "jq")
	doc, err := os.ReadFile(filepath.Join(repoRoot, "docs", "migration.md"))
	if err != nil {
		t.Fatal(err)
	}
	onePage := docScript(t, doc, "# Keep the newest 50 commit-SHA tags of a repository; delete the others.")
	everyPage := docScript(t, doc, "# Keep the newest 50 commit-SHA tags of a repository of any size.")
	for _, b := range e2eBackends(t) {
		t.Run(b.name, func(t *testing.T) {
			p := startWharf(t, t.TempDir(), append(b.env(t), authEnv()...)...)
			reg := &hubRegistry{t: t, url: "http://" + p.addr, user: "admin", password: e2eAdminPassword}
			const repo = "myorg/myapp"
			sha := func(i int) string { s := sha1.Sum(fmt.Appendf(nil, "commit %d", i)); return hex.EncodeToString(s[:]) }
			var shas []string // oldest first
			for i := 1; i <= 60; i++ {
				d := reg.pushImage(repo, sha(i), i)
				shas = append(shas, sha(i))
				switch i {
				case 1:
					reg.tag(repo, "v1.0.0", d) // names an image whose SHA tag goes
				case 30:
					reg.tag(repo, "v1.1.0", d)
				case 60:
					reg.tag(repo, "latest", d)
				}
			}
			before := reg.tags(repo)
			if len(before) != 63 {
				t.Fatalf("%d tags pushed, want 63", len(before))
			}
			out := reg.runScript(onePage)
			if n := strings.Count(out, "deleting "); n != 10 {
				t.Errorf("the script deleted %d tags, want 10:\n%s", n, out)
			}
			want := append(slices.Clone(shas[10:]), "latest", "v1.0.0", "v1.1.0")
			slices.Sort(want)
			if got := reg.tags(repo); !slices.Equal(got, want) {
				t.Fatalf("tags after the script: %d, want the newest 50 SHA tags, latest and the version tags\ngot  %v\nwant %v", len(got), got, want)
			}
			// The manifests stay: a version tag of a deleted SHA tag's image pulls.
			if code := reg.get("/v2/" + repo + "/manifests/v1.0.0"); code != http.StatusOK {
				t.Errorf("pull v1.0.0 after the cleanup: %d", code)
			}

			// 70 more SHA tags: 123 tags, more than one page.
			for i := 61; i <= 130; i++ {
				reg.pushImage(repo, sha(i), i)
				shas = append(shas, sha(i))
			}
			out = reg.runScript(everyPage)
			if n := strings.Count(out, "deleting "); n != 70 {
				t.Errorf("the paging script deleted %d tags, want 70:\n%s", n, out)
			}
			want = append(slices.Clone(shas[80:]), "latest", "v1.0.0", "v1.1.0")
			slices.Sort(want)
			if got := reg.tags(repo); !slices.Equal(got, want) {
				t.Fatalf("tags after the paging script: %d\ngot  %v\nwant %v", len(got), got, want)
			}
			if err := p.stop(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// docScript returns the fenced bash block of doc whose second line is marker.
func docScript(t *testing.T, doc []byte, marker string) string {
	t.Helper()
	for _, m := range regexp.MustCompile("(?s)```bash\n(.*?)```").FindAllSubmatch(doc, -1) {
		if lines := strings.SplitN(string(m[1]), "\n", 3); len(lines) > 1 && lines[1] == marker {
			return string(m[1])
		}
	}
	t.Fatalf("docs/migration.md has no script %q", marker)
	return ""
}

// hubRegistry pushes to a running wharf as a user (Basic on /v2) and runs
// scripts against it.
type hubRegistry struct {
	t              *testing.T
	url            string
	user, password string
}

func (h *hubRegistry) do(method, path string, body []byte, contentType string) (int, []byte) {
	h.t.Helper()
	req, err := http.NewRequest(method, h.url+path, bytes.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	req.SetBasicAuth(h.user, h.password)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func (h *hubRegistry) get(path string) int {
	code, _ := h.do("GET", path, nil, "")
	return code
}

const ociImageManifest = "application/vnd.oci.image.manifest.v1+json"

// pushImage pushes image n (its own config, one shared layer) under tag.
func (h *hubRegistry) pushImage(repo, tag string, n int) digest.Digest {
	h.t.Helper()
	cfg := fmt.Appendf(nil, `{"architecture":"amd64","os":"linux","n":%d}`, n)
	layer := []byte("the layer every image shares")
	for _, b := range [][]byte{cfg, layer} {
		if code, body := h.do("POST", "/v2/"+repo+"/blobs/uploads/?digest="+digest.FromBytes(b).String(), b, "application/octet-stream"); code != http.StatusCreated {
			h.t.Fatalf("push blob: %d %s", code, body)
		}
	}
	m := fmt.Appendf(nil, `{"schemaVersion":2,"mediaType":%q,"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%d},`+
		`"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"%s","size":%d}]}`,
		ociImageManifest, digest.FromBytes(cfg), len(cfg), digest.FromBytes(layer), len(layer))
	h.put(repo, tag, m)
	return digest.FromBytes(m)
}

// tag points tag at manifest d of repo.
func (h *hubRegistry) tag(repo, tag string, d digest.Digest) {
	h.t.Helper()
	code, m := h.do("GET", "/v2/"+repo+"/manifests/"+d.String(), nil, "")
	if code != http.StatusOK {
		h.t.Fatalf("get %s: %d", d, code)
	}
	h.put(repo, tag, m)
}

func (h *hubRegistry) put(repo, ref string, m []byte) {
	h.t.Helper()
	if code, body := h.do("PUT", "/v2/"+repo+"/manifests/"+ref, m, ociImageManifest); code != http.StatusCreated {
		h.t.Fatalf("push %s:%s: %d %s", repo, ref, code, body)
	}
}

// tags lists repo's tags on /v2, sorted.
func (h *hubRegistry) tags(repo string) []string {
	h.t.Helper()
	code, body := h.do("GET", "/v2/"+repo+"/tags/list", nil, "")
	var list struct {
		Tags []string `json:"tags"`
	}
	if code != http.StatusOK || json.Unmarshal(body, &list) != nil {
		h.t.Fatalf("tags of %s: %d %s", repo, code, body)
	}
	slices.Sort(list.Tags)
	return list.Tags
}

// runScript runs a script with its HUB line pointed at this wharf, the
// only change, and the credentials in HUB_USERNAME and HUB_PASSWORD.
func (h *hubRegistry) runScript(script string) string {
	h.t.Helper()
	hub := regexp.MustCompile(`(?m)^HUB=.*$`)
	if len(hub.FindAllString(script, -1)) != 1 {
		h.t.Fatalf("the script does not set HUB on one line:\n%s", script)
	}
	file := filepath.Join(h.t.TempDir(), "cleanup.sh")
	if err := os.WriteFile(file, []byte(hub.ReplaceAllString(script, "HUB="+h.url)), 0o755); err != nil {
		h.t.Fatal(err)
	}
	cmd := exec.Command("bash", file)
	cmd.Env = append(os.Environ(), "HUB_USERNAME="+h.user, "HUB_PASSWORD="+h.password)
	out, err := cmd.CombinedOutput()
	if err != nil {
		h.t.Fatalf("the cleanup script failed: %v\n%s", err, out)
	}
	return string(out)
}
