package e2e

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestBuildahPodman builds an image with buildah from scratch and pushes it
// after a login, then pulls, re-pushes as a Docker schema 2 manifest, pushes a
// manifest list and pulls by digest with podman, reading the registry's state
// after each step. Both run as root with the vfs storage driver in the test's
// own directories; pushing and pulling runs no container.
func TestBuildahPodman(t *testing.T) {
	needTools(t, "buildah", "podman")
	needRoot(t)
	r := startClientRegistry(t)
	R := r.p.addr
	w := t.TempDir()
	store := shortTempDir(t)
	storage := []string{"--storage-driver", "vfs", "--root", filepath.Join(store, "root"), "--runroot", filepath.Join(store, "run")}
	env := []string{
		"REGISTRY_AUTH_FILE=" + filepath.Join(w, "auth.json"),
		"CONTAINERS_REGISTRIES_CONF=" + filepath.Join(w, "registries.conf"),
		"TMPDIR=" + w,
	}
	writeFile(t, filepath.Join(w, "registries.conf"), "unqualified-search-registries = []\n")
	writeFile(t, filepath.Join(w, "auth.json"), `{"auths":{}}`) // buildah wants it to exist
	buildah := func(ok bool, args ...string) string {
		t.Helper()
		return sh(t, w, env, ok, "buildah", append(append([]string{}, storage...), args...)...)
	}
	podman := func(ok bool, args ...string) string {
		t.Helper()
		return sh(t, w, env, ok, "podman", append(append([]string{"--events-backend", "none", "--cgroup-manager", "cgroupfs"}, storage...), args...)...)
	}

	// buildah: an image from scratch with a file and a label.
	writeFile(t, filepath.Join(w, "hello.txt"), "hello from buildah\n")
	ctr := trimmed(buildah(true, "from", "scratch"))
	buildah(true, "copy", ctr, "hello.txt", "/hello.txt")
	buildah(true, "config", "--label", "wharf.test=buildah", ctr)
	buildah(true, "commit", ctr, "localhost/built:v1")
	img := R + "/team/buildah:v1"
	buildah(false, "push", "--tls-verify=false", "localhost/built:v1", "docker://"+img) // not logged in
	buildah(true, "login", "--tls-verify=false", "-u", "dev", "-p", devPassword, R)
	buildah(true, "push", "--tls-verify=false", "localhost/built:v1", "docker://"+img)
	m := r.manifest(t, "team/buildah", "v1")
	if m.MediaType != "application/vnd.oci.image.manifest.v1+json" || len(m.Layers) != 1 {
		t.Fatalf("buildah's push: %+v", m)
	}
	if l := configLabels(r.imageConfig(t, "team/buildah", m)); l["wharf.test"] != "buildah" {
		t.Fatalf("buildah's image labels: %v", l)
	}

	// podman: log in (its own auth file entry is the same file), pull, and
	// push as Docker schema 2 under another name.
	podman(true, "login", "--tls-verify=false", "-u", "dev", "-p", devPassword, R)
	podman(true, "pull", "--tls-verify=false", img)
	if got := trimmed(podman(true, "image", "inspect", "--format", "{{.Labels}}", img)); !strings.Contains(got, "wharf.test:buildah") {
		t.Fatalf("podman pulled labels %s", got)
	}
	podman(true, "tag", img, R+"/team/podman:v2")
	podman(true, "push", "--tls-verify=false", "--format", "v2s2", R+"/team/podman:v2")
	m2 := r.manifest(t, "team/podman", "v2")
	if m2.MediaType != "application/vnd.docker.distribution.manifest.v2+json" || len(m2.Layers) != 1 {
		t.Fatalf("podman's v2s2 push: %+v", m2)
	}

	// A manifest list with the OCI image in it.
	podman(true, "manifest", "create", "localhost/list:v1")
	podman(true, "manifest", "add", "--tls-verify=false", "localhost/list:v1", "docker://"+img)
	podman(true, "manifest", "push", "--all", "--tls-verify=false", "localhost/list:v1", "docker://"+R+"/team/podman:list")
	ml := r.manifest(t, "team/podman", "list")
	if len(ml.Manifests) != 1 || ml.Manifests[0].Digest != m.Digest {
		t.Fatalf("podman's manifest list %+v, want one entry %s", ml, m.Digest)
	}

	// Pull by digest after removing the local copies, then log out.
	podman(true, "rmi", "--all", "--force")
	podman(true, "pull", "--tls-verify=false", R+"/team/podman@"+m2.Digest)
	podman(true, "logout", R)
	out := podman(false, "pull", "--tls-verify=false", R+"/team/podman:v2")
	if !strings.Contains(strings.ToLower(out), "unauthorized") && !strings.Contains(out, "401") {
		t.Fatalf("a pull after logout failed, but not as unauthorized:\n%s", out)
	}
	if tags := r.tags(t, "team/podman"); !contains(tags, "v2") || !contains(tags, "list") {
		t.Fatalf("team/podman tags %v", tags)
	}
}
