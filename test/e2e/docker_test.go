package e2e

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/internal/auth"
	"github.com/wharf-dev/wharf/internal/meta"
)

// TestContainerdCtr runs a containerd daemon of its own and pulls, tags and
// pushes with ctr over plain HTTP with a user and password: an image crane
// pushed comes back byte for byte, and ctr's push lands under a new tag.
func TestContainerdCtr(t *testing.T) {
	needTools(t, "containerd", "ctr", "crane")
	needRoot(t)
	r := startClientRegistry(t)
	R := r.p.addr
	d := shortTempDir(t)
	sock := filepath.Join(d, "containerd.sock")
	writeFile(t, filepath.Join(d, "config.toml"), fmt.Sprintf(`version = 2
root = %q
state = %q
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = %q
[plugins."io.containerd.internal.v1.opt"]
  path = %q
`, filepath.Join(d, "root"), filepath.Join(d, "state"), sock, filepath.Join(d, "opt")))
	startDaemon(t, sock, "containerd", "--config", filepath.Join(d, "config.toml"))

	w := t.TempDir()
	img, want := cranePush(t, r, w, "team/crane:v1", "hello ctr")
	ctr := func(ok bool, args ...string) string {
		t.Helper()
		return sh(t, w, nil, ok, "ctr", append([]string{"--address", sock, "--namespace", "wharf-e2e"}, args...)...)
	}
	ctr(false, "image", "pull", "--plain-http", img) // anonymous: refused
	ctr(true, "image", "pull", "--plain-http", "--user", "dev:"+devPassword, img)
	if got := ctr(true, "image", "ls"); !strings.Contains(got, want) {
		t.Fatalf("ctr image ls lacks %s:\n%s", want, got)
	}
	ctr(true, "image", "tag", img, R+"/team/ctr:v2")
	ctr(false, "image", "push", "--plain-http", "--user", "dev:wrong", R+"/team/ctr:v2")
	ctr(true, "image", "push", "--plain-http", "--user", "dev:"+devPassword, R+"/team/ctr:v2")
	if m := r.manifest(t, "team/ctr", "v2"); m.Digest != want {
		t.Fatalf("ctr pushed %s, want %s", m.Digest, want)
	}
}

// TestDockerCLI runs a Docker engine of its own (vfs storage, no bridge, no
// iptables: pulling, building FROM scratch and pushing run no container) and
// logs in, builds, pushes, pulls by digest and logs out with the docker CLI.
// The engine treats 127.0.0.0/8 as an insecure registry, so it speaks plain
// HTTP to wharf.
func TestDockerCLI(t *testing.T) {
	needTools(t, "dockerd", "docker")
	needRoot(t)
	r := startClientRegistry(t)
	R := r.p.addr
	d := shortTempDir(t)
	sock := filepath.Join(d, "docker.sock")
	writeFile(t, filepath.Join(d, "daemon.json"), "{}")
	startDaemon(t, sock, "dockerd",
		"--config-file", filepath.Join(d, "daemon.json"),
		"--data-root", filepath.Join(d, "root"), "--exec-root", filepath.Join(d, "exec"),
		"--pidfile", filepath.Join(d, "docker.pid"), "--host", "unix://"+sock,
		"--storage-driver", "vfs", "--bridge", "none", "--iptables=false", "--ip6tables=false")
	w := t.TempDir()
	env := []string{"DOCKER_CONFIG=" + filepath.Join(w, "config"), "DOCKER_HOST=unix://" + sock, "DOCKER_BUILDKIT=0"}
	docker := func(ok bool, args ...string) string {
		t.Helper()
		return sh(t, w, env, ok, "docker", args...)
	}
	// The engine answers once its socket exists, but may still be starting.
	for i := 0; ; i++ {
		if err := exec.Command("docker", "--host", "unix://"+sock, "info").Run(); err == nil {
			break
		} else if i == 100 {
			t.Fatalf("docker info: %v", err)
		}
		sh(t, w, nil, true, "sleep", "0.1")
	}

	ctx := filepath.Join(w, "ctx")
	writeFile(t, filepath.Join(ctx, "hello.txt"), "hello from docker\n")
	writeFile(t, filepath.Join(ctx, "Dockerfile"), "FROM scratch\nCOPY hello.txt /\nLABEL wharf.test=docker\n")
	img := R + "/team/docker:v1"
	docker(true, "build", "-t", img, ctx)
	// Not logged in: refused at once. (A 401 without insufficient_scope made
	// the engine retry the upload five times over 50 seconds.)
	start := time.Now()
	out := docker(false, "push", img)
	if !strings.Contains(out, "denied") {
		t.Fatalf("an anonymous push failed, but not as denied:\n%s", out)
	}
	if took := time.Since(start); took > 15*time.Second {
		t.Fatalf("an anonymous push took %s to be refused:\n%s", took, out)
	}
	sh(t, w, env, false, "docker", "login", "-u", "dev", "-p", "wrong", R)
	// A reader may pull, not push, and docker prints the registry's reason.
	// (Refused anonymously, the engine prints a message of its own,
	// "requested access to the resource is denied", whatever the answer.)
	r.f.user("reader", "reader-password")
	if err := r.f.st.PutMember(context.Background(), meta.Member{Namespace: "team", User: "reader", Role: string(auth.RoleReadonly)}); err != nil {
		t.Fatal(err)
	}
	docker(true, "login", "-u", "reader", "-p", "reader-password", R)
	out = docker(false, "push", img)
	if !strings.Contains(out, "push to team/docker is denied: it needs role developer, ci, maintainer or admin in namespace team; user reader has role readonly there") {
		t.Errorf("docker's push as a reader does not say why it was denied:\n%s", out)
	}
	docker(true, "login", "-u", "dev", "-p", devPassword, R)
	docker(true, "push", img)
	m := r.manifest(t, "team/docker", "v1")
	if len(m.Layers) != 1 || !strings.Contains(m.MediaType, "manifest") {
		t.Fatalf("docker's push: %+v", m)
	}
	if l := configLabels(r.imageConfig(t, "team/docker", m)); l["wharf.test"] != "docker" {
		t.Fatalf("docker's image labels: %v", l)
	}

	// Another tag of the same image mounts its blobs; pull it back by digest.
	docker(true, "tag", img, R+"/team/docker-copy:v1")
	docker(true, "push", R+"/team/docker-copy:v1")
	if m2 := r.manifest(t, "team/docker-copy", "v1"); m2.Digest != m.Digest {
		t.Fatalf("the retagged push is %s, want %s", m2.Digest, m.Digest)
	}
	docker(true, "rmi", img, R+"/team/docker-copy:v1")
	docker(true, "pull", R+"/team/docker@"+m.Digest)
	if got := docker(true, "image", "inspect", "--format", "{{index .Config.Labels \"wharf.test\"}}", R+"/team/docker@"+m.Digest); trimmed(got) != "docker" {
		t.Fatalf("docker pulled label %q", got)
	}
	docker(true, "logout", R)
	docker(false, "pull", R+"/team/docker:v1")
}

// cranePush logs crane in as dev and pushes a one-layer image with content
// to ref on r; it returns the image's reference and digest.
func cranePush(t *testing.T, r *clientRegistry, w, ref, content string) (string, string) {
	t.Helper()
	layer := filepath.Join(w, "layer.tar")
	writeFile(t, filepath.Join(w, "src", "hello.txt"), content+"\n")
	sh(t, w, nil, true, "tar", "-cf", layer, "-C", filepath.Join(w, "src"), ".")
	env := []string{"DOCKER_CONFIG=" + filepath.Join(w, "crane")}
	img := r.p.addr + "/" + ref
	sh(t, w, env, true, "crane", "auth", "login", r.p.addr, "-u", "dev", "-p", devPassword)
	sh(t, w, env, true, "crane", "--insecure", "append", "--oci-empty-base", "-f", layer, "-t", img)
	return img, trimmed(sh(t, w, env, true, "crane", "--insecure", "digest", img))
}
