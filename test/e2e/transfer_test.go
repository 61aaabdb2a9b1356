package e2e

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestExportImport exports a registry holding signed images (cosign, in
// the tag schema and as an OCI 1.1 referrer), an SPDX attestation and a
// multi-platform index, through the API as a user and from the data
// directory while the server runs; imports it into a second wharf through
// the API and into a third data directory; and finds the same tags naming
// the same digests, referrers included, with cosign still verifying the
// signatures there. skopeo reads the layout (oci:) and the tar
// (oci-archive:) and gets the same manifests.
func TestExportImport(t *testing.T) {
	needTools(t, "crane", "cosign", "skopeo")
	a := startClientRegistry(t)
	A := a.p.addr
	w := t.TempDir()
	_, d1 := cranePush(t, a, w, "team/signed:v1", "sign me")
	_, d2 := cranePush(t, a, t.TempDir(), "team/signed:v2", "sign me as a referrer")
	crane := func(args ...string) string {
		t.Helper()
		return sh(t, w, []string{"DOCKER_CONFIG=" + filepath.Join(w, "crane")}, true, "crane", append([]string{"--insecure"}, args...)...)
	}
	crane("mutate", A+"/team/signed:v1", "--set-platform", "linux/amd64", "-t", A+"/team/multi:amd64")
	crane("mutate", A+"/team/signed:v2", "--set-platform", "linux/arm64", "-t", A+"/team/multi:arm64")
	crane("index", "append", "-m", A+"/team/multi:amd64", "-m", A+"/team/multi:arm64", "-t", A+"/team/multi:v1")

	env := []string{"DOCKER_CONFIG=" + filepath.Join(w, "cosign-docker"), "COSIGN_PASSWORD=e2e-key-password",
		"TUF_ROOT=" + filepath.Join(w, "tuf"), "SIGSTORE_NO_CACHE=true", "COSIGN_EXPERIMENTAL=1"}
	insecure := []string{"--allow-http-registry", "--allow-insecure-registry"}
	cosign := func(ok bool, args ...string) string {
		t.Helper()
		return sh(t, w, env, ok, "cosign", append(args, insecure...)...)
	}
	sh(t, w, env, true, "cosign", "generate-key-pair")
	sh(t, w, env, true, "cosign", "login", A, "-u", "dev", "-p", devPassword)
	cosign(true, "sign", "--key", "cosign.key", "--tlog-upload=false", "-y", A+"/team/signed@"+d1)
	writeFile(t, filepath.Join(w, "sbom.json"), `{"spdxVersion":"SPDX-2.3","SPDXID":"SPDXRef-DOCUMENT","name":"signed","dataLicense":"CC0-1.0","packages":[]}`)
	cosign(true, "attest", "--key", "cosign.key", "--tlog-upload=false", "-y", "--type", "spdxjson", "--predicate", "sbom.json", A+"/team/signed@"+d1)
	cosign(true, "sign", "--key", "cosign.key", "--tlog-upload=false", "-y", "--registry-referrers-mode=oci-1-1", A+"/team/signed@"+d2)
	want := registryState(t, a, "team/signed", "team/multi")
	if !strings.Contains(want["team/signed"]["v2"], "referrer") {
		t.Fatalf("the oci-1-1 signature is not a referrer of v2: %v", want)
	}

	// Export through the API, as dev, to a layout directory; and from the
	// data directory, beside the running server, to a tar.
	wharf := func(ok bool, env []string, args ...string) string {
		t.Helper()
		return sh(t, w, env, ok, binary, args...)
	}
	asDev := []string{"WHARF_PASSWORD=" + devPassword}
	layout := filepath.Join(w, "layout")
	wharf(false, nil, "export", "--url", "http://"+A, "--output", layout, "--namespace", "team") // anonymous: refused
	out := wharf(true, asDev, "export", "--url", "http://"+A, "--user", "dev", "--output", layout, "--namespace", "team")
	if !strings.Contains(out, "exported 2 repositories") {
		t.Fatalf("export through the API:\n%s", out)
	}
	tarball := filepath.Join(w, "team.tar")
	wharf(true, []string{"WHARF_DATA_DIR=" + a.p.dir}, "export", "--output", tarball, "--namespace", "team")

	// Import the layout into a second wharf through its API...
	b := startClientRegistry(t)
	wharf(false, nil, "import", "--url", "http://"+b.p.addr, layout) // anonymous: refused
	if got := registryRepos(t, b); len(got) != 0 {
		t.Fatalf("a refused import left repositories %v", got)
	}
	wharf(true, asDev, "import", "--url", "http://"+b.p.addr, "--user", "dev", layout)
	if got := registryState(t, b, "team/signed", "team/multi"); !equalState(want, got) {
		t.Fatalf("imported through the API:\n got %v\nwant %v", got, want)
	}
	// ... where cosign verifies the signatures and the attestation.
	B := b.p.addr
	sh(t, w, env, true, "cosign", "login", B, "-u", "dev", "-p", devPassword)
	cosign(true, "verify", "--key", "cosign.pub", "--insecure-ignore-tlog=true", B+"/team/signed@"+d1)
	cosign(true, "verify-attestation", "--key", "cosign.pub", "--insecure-ignore-tlog=true", "--type", "spdxjson", B+"/team/signed@"+d1)
	cosign(true, "verify", "--key", "cosign.pub", "--insecure-ignore-tlog=true", "--experimental-oci11", B+"/team/signed@"+d2)

	// Import the tar into a fresh data directory, then serve it.
	c := t.TempDir()
	wharf(true, []string{"WHARF_DATA_DIR=" + c}, "import", tarball)
	cp := startWharf(t, c, authEnv()...)
	if got := registryState(t, &clientRegistry{p: cp}, "team/signed", "team/multi"); !equalState(want, got) {
		t.Fatalf("imported into a data directory:\n got %v\nwant %v", got, want)
	}

	// skopeo reads both forms of the layout.
	for _, src := range []string{"oci:" + layout + ":team/signed:v1", "oci-archive:" + tarball + ":team/signed:v1"} {
		raw := sh(t, w, nil, true, "skopeo", "inspect", "--raw", src)
		if got := fmt.Sprintf("sha256:%x", sha256.Sum256([]byte(raw))); got != d1 {
			t.Fatalf("skopeo inspect %s: manifest %s, want %s", src, got, d1)
		}
		dir := filepath.Join(t.TempDir(), "copy")
		sh(t, w, nil, true, "skopeo", "copy", "--preserve-digests", src, "dir:"+dir)
	}
}

// registryRepos lists r's repositories.
func registryRepos(t *testing.T, r *clientRegistry) []string {
	t.Helper()
	status, _, body := r.get(t, "/v2/_catalog", "")
	if status != http.StatusOK {
		t.Fatalf("catalog: %d %s", status, body)
	}
	var c struct {
		Repositories []string `json:"repositories"`
	}
	if err := json.Unmarshal(body, &c); err != nil {
		t.Fatal(err)
	}
	return c.Repositories
}

// registryState reads, for each repository, every tag's digest and the
// digests of its referrers.
func registryState(t *testing.T, r *clientRegistry, repos ...string) map[string]map[string]string {
	t.Helper()
	out := map[string]map[string]string{}
	for _, repo := range repos {
		out[repo] = map[string]string{}
		for _, tag := range r.tags(t, repo) {
			m := r.manifest(t, repo, tag)
			s := m.Digest
			status, _, body := r.get(t, "/v2/"+repo+"/referrers/"+m.Digest, "")
			if status != http.StatusOK {
				t.Fatalf("referrers of %s@%s: %d %s", repo, m.Digest, status, body)
			}
			var idx storedManifest
			if err := json.Unmarshal(body, &idx); err != nil {
				t.Fatal(err)
			}
			var refs []string
			for _, d := range idx.Manifests {
				refs = append(refs, d.Digest)
			}
			slices.Sort(refs)
			for _, d := range refs {
				s += " referrer " + d
			}
			out[repo][tag] = s
		}
	}
	return out
}

func equalState(a, b map[string]map[string]string) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

// TestExportDockerArchive builds an image with a Docker engine of its own
// and pushes it, then exports it as a docker archive that docker load and
// skopeo read back; and imports what docker save writes (the format before
// Docker 25, without an OCI index), which then pulls with the image's
// config and layers.
func TestExportDockerArchive(t *testing.T) {
	needTools(t, "dockerd", "docker", "skopeo", "crane")
	needRoot(t)
	r := startClientRegistry(t)
	R := r.p.addr
	w := t.TempDir()
	docker := startDockerEngine(t, w)
	ctx := filepath.Join(w, "ctx")
	writeFile(t, filepath.Join(ctx, "hello.txt"), "hello from an archive\n")
	writeFile(t, filepath.Join(ctx, "Dockerfile"), "FROM scratch\nCOPY hello.txt /\nLABEL wharf.test=archive\n")
	img := R + "/team/archive:v1"
	docker(true, "build", "-t", img, ctx)
	docker(true, "login", "-u", "dev", "-p", devPassword, R)
	docker(true, "push", img)
	pushed := r.manifest(t, "team/archive", "v1")
	docker(true, "rmi", img)

	asDev := []string{"WHARF_PASSWORD=" + devPassword}
	arch := filepath.Join(w, "archive.tar")
	sh(t, w, asDev, true, binary, "export", "--url", "http://"+R, "--user", "dev", "--format", "docker-archive",
		"--hostname", R, "--output", arch, "team/archive:v1")
	if out := docker(true, "load", "-i", arch); !strings.Contains(out, img) {
		t.Fatalf("docker load did not load %s:\n%s", img, out)
	}
	if got := docker(true, "image", "inspect", "--format", "{{.Id}} {{index .Config.Labels \"wharf.test\"}}", img); trimmed(got) != pushed.Config.Digest+" archive" {
		t.Fatalf("docker loaded %q, want image %s labelled archive", got, pushed.Config.Digest)
	}
	dir := filepath.Join(t.TempDir(), "copy")
	sh(t, w, nil, true, "skopeo", "copy", "docker-archive:"+arch, "dir:"+dir)
	if b, err := os.ReadFile(filepath.Join(dir, "manifest.json")); err != nil || !strings.Contains(string(b), strings.TrimPrefix(pushed.Config.Digest, "sha256:")) {
		t.Fatalf("skopeo's copy of the docker archive: %s %v", b, err)
	}

	// docker save (Docker 20.10: no index.json) imports, under a new name.
	saved := filepath.Join(w, "saved.tar")
	docker(true, "save", "-o", saved, img)
	if out := sh(t, w, nil, true, "tar", "-tf", saved); strings.Contains(out, "index.json") {
		t.Logf("this docker save writes an OCI index too; the import takes that path")
	}
	sh(t, w, asDev, true, binary, "import", "--url", "http://"+R, "--user", "dev", "--map", "team/archive=team/saved", saved)
	got := r.manifest(t, "team/saved", "v1")
	if got.Config.Digest != pushed.Config.Digest || len(got.Layers) != 1 {
		t.Fatalf("docker save imported as %+v, want the config %s and one layer", got, pushed.Config.Digest)
	}
	docker(true, "rmi", img)
	docker(true, "pull", R+"/team/saved:v1")
	if got := docker(true, "image", "inspect", "--format", "{{index .Config.Labels \"wharf.test\"}}", R+"/team/saved:v1"); trimmed(got) != "archive" {
		t.Fatalf("the imported image pulled with label %q", got)
	}
}

// startDockerEngine runs a Docker engine of its own, as TestDockerCLI does,
// and returns a docker CLI bound to it.
func startDockerEngine(t *testing.T, w string) func(ok bool, args ...string) string {
	t.Helper()
	d := shortTempDir(t)
	sock := filepath.Join(d, "docker.sock")
	writeFile(t, filepath.Join(d, "daemon.json"), "{}")
	startDaemon(t, sock, "dockerd",
		"--config-file", filepath.Join(d, "daemon.json"),
		"--data-root", filepath.Join(d, "root"), "--exec-root", filepath.Join(d, "exec"),
		"--pidfile", filepath.Join(d, "docker.pid"), "--host", "unix://"+sock,
		"--storage-driver", "vfs", "--bridge", "none", "--iptables=false", "--ip6tables=false")
	env := []string{"DOCKER_CONFIG=" + filepath.Join(w, "docker-config"), "DOCKER_HOST=unix://" + sock, "DOCKER_BUILDKIT=0"}
	docker := func(ok bool, args ...string) string {
		t.Helper()
		return sh(t, w, env, ok, "docker", args...)
	}
	for i := 0; ; i++ {
		if err := exec.Command("docker", "--host", "unix://"+sock, "info").Run(); err == nil {
			break
		} else if i == 100 {
			t.Fatalf("docker info: %v", err)
		}
		sh(t, w, nil, true, "sleep", "0.1")
	}
	return docker
}
