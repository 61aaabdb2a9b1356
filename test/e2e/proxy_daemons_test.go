package e2e

import (
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestProxyDockerMirror runs a Docker engine of its own whose
// registry-mirrors is wharf, and pulls a "Docker Hub" image through it: the
// engine asks wharf's root for library/mirrortest, which wharf serves from
// its default proxy namespace, whose upstream (a distribution registry
// with htpasswd) holds the image. There is no other way for the pull to
// succeed here: no Docker Hub, and the engine has no credentials for the
// upstream.
func TestProxyDockerMirror(t *testing.T) {
	needTools(t, "dockerd", "docker", "docker-registry")
	needRoot(t)
	up := startUpstreamRegistry(t)
	p := startWharf(t, t.TempDir())
	proxyNamespace(t, p.addr, "hub", "http://"+up.addr, upstreamUser, upstreamPassword, "--default", "--public")

	d := shortTempDir(t)
	sock := filepath.Join(d, "docker.sock")
	writeFile(t, filepath.Join(d, "daemon.json"), fmt.Sprintf(`{"registry-mirrors": ["http://%s"]}`, p.addr))
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
	for i := 0; ; i++ {
		if err := exec.Command("docker", "--host", "unix://"+sock, "info").Run(); err == nil {
			break
		} else if i == 100 {
			t.Fatalf("docker info: %v", err)
		}
		sh(t, w, nil, true, "sleep", "0.1")
	}
	if out := docker(true, "info"); !strings.Contains(out, p.addr) {
		t.Fatalf("docker info does not list wharf as a mirror:\n%s", out)
	}

	// The upstream gets an image, pushed by the engine itself.
	ctx := filepath.Join(w, "ctx")
	writeFile(t, filepath.Join(ctx, "hello.txt"), "hello through the mirror\n")
	writeFile(t, filepath.Join(ctx, "Dockerfile"), "FROM scratch\nCOPY hello.txt /\nLABEL wharf.test=mirror\n")
	upstreamRef := up.addr + "/library/mirrortest:v1"
	docker(true, "build", "-t", upstreamRef, ctx)
	docker(true, "login", "-u", upstreamUser, "-p", upstreamPassword, up.addr)
	docker(true, "push", upstreamRef)
	docker(true, "logout", up.addr)
	docker(true, "rmi", upstreamRef)

	docker(true, "pull", "mirrortest:v1")
	if got := docker(true, "image", "inspect", "--format", `{{index .Config.Labels "wharf.test"}}`, "mirrortest:v1"); trimmed(got) != "mirror" {
		t.Fatalf("the image pulled through the mirror has label %q", got)
	}
	if status, _, body := httpGet(t, "http://"+p.addr+"/v2/hub/library/mirrortest/tags/list"); status != http.StatusOK || !strings.Contains(string(body), "v1") {
		t.Errorf("wharf did not cache the image in its proxy namespace: %d %s", status, body)
	}
}

// TestProxyContainerdMirror runs a containerd of its own and pulls with
// ctr through a hosts.toml that names wharf as the mirror of a registry:
// containerd adds ns=<registry> to each request, and wharf serves it from
// the proxy namespace whose upstream that is. As above, only the mirror
// can serve the pull: ctr has no credentials for the upstream.
func TestProxyContainerdMirror(t *testing.T) {
	needTools(t, "containerd", "ctr", "crane", "docker-registry")
	needRoot(t)
	up := startUpstreamRegistry(t)
	w := t.TempDir()
	upc := craneAs(t, w, up.addr, upstreamUser, upstreamPassword)
	want := pushLayers(t, upc, w, up.addr+"/library/ctrtest:v1", "hello ctr")
	p := startWharf(t, t.TempDir())
	proxyNamespace(t, p.addr, "mirror", "http://"+up.addr, upstreamUser, upstreamPassword, "--public")

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
	hosts := filepath.Join(d, "certs.d")
	writeFile(t, filepath.Join(hosts, up.addr, "hosts.toml"), fmt.Sprintf(`server = "http://%s"

[host."http://%s"]
  capabilities = ["pull", "resolve"]
`, up.addr, p.addr))
	ctr := func(ok bool, args ...string) string {
		t.Helper()
		return sh(t, w, nil, ok, "ctr", append([]string{"--address", sock, "--namespace", "wharf-e2e"}, args...)...)
	}
	ctr(true, "image", "pull", "--hosts-dir", hosts, up.addr+"/library/ctrtest:v1")
	if got := ctr(true, "image", "ls"); !strings.Contains(got, want) {
		t.Fatalf("ctr image ls lacks %s:\n%s", want, got)
	}
	if status, _, body := httpGet(t, "http://"+p.addr+"/v2/mirror/library/ctrtest/tags/list"); status != http.StatusOK || !strings.Contains(string(body), "v1") {
		t.Errorf("wharf did not cache the image in its proxy namespace: %d %s", status, body)
	}
}

// TestProxyPodmanMirror pulls with podman through a registries.conf that
// names a proxy namespace of wharf as the mirror of a registry: podman
// asks wharf for <namespace>/<repository> (a mirror's location may have a
// path), so no routing is involved. As above, only the mirror can serve
// the pull: podman has no credentials for the upstream.
func TestProxyPodmanMirror(t *testing.T) {
	needTools(t, "podman", "crane", "docker-registry")
	needRoot(t)
	up := startUpstreamRegistry(t)
	w := t.TempDir()
	upc := craneAs(t, w, up.addr, upstreamUser, upstreamPassword)
	want := pushLayers(t, upc, w, up.addr+"/library/podtest:v1", "hello podman")
	p := startWharf(t, t.TempDir())
	proxyNamespace(t, p.addr, "mirror", "http://"+up.addr, upstreamUser, upstreamPassword, "--public")

	store := shortTempDir(t)
	writeFile(t, filepath.Join(w, "registries.conf"), fmt.Sprintf(`unqualified-search-registries = []

[[registry]]
prefix = %[1]q
location = %[1]q
insecure = true

[[registry.mirror]]
location = "%[2]s/mirror"
insecure = true
`, up.addr, p.addr))
	writeFile(t, filepath.Join(w, "auth.json"), `{"auths":{}}`)
	env := []string{
		"REGISTRY_AUTH_FILE=" + filepath.Join(w, "auth.json"),
		"CONTAINERS_REGISTRIES_CONF=" + filepath.Join(w, "registries.conf"),
		"TMPDIR=" + w,
	}
	podman := func(ok bool, args ...string) string {
		t.Helper()
		return sh(t, w, env, ok, "podman", append([]string{"--events-backend", "none", "--cgroup-manager", "cgroupfs",
			"--storage-driver", "vfs", "--root", filepath.Join(store, "root"), "--runroot", filepath.Join(store, "run")}, args...)...)
	}
	podman(true, "pull", up.addr+"/library/podtest:v1")
	if got := trimmed(podman(true, "image", "inspect", "--format", "{{.Digest}}", up.addr+"/library/podtest:v1")); got != want {
		t.Fatalf("podman pulled %s, want %s", got, want)
	}
	if status, _, body := httpGet(t, "http://"+p.addr+"/v2/mirror/library/podtest/tags/list"); status != http.StatusOK || !strings.Contains(string(body), "v1") {
		t.Errorf("wharf did not cache the image in its proxy namespace: %d %s", status, body)
	}
}
