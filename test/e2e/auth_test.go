package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/internal/auth"
	"github.com/wharf-dev/wharf/internal/meta"
	"github.com/wharf-dev/wharf/internal/meta/sqlite"
)

const e2eAdminPassword = "e2e-admin-password"

// authEnv turns access control on, with a known admin password and a cheap
// bcrypt cost.
func authEnv() []string {
	return []string{"WHARF_AUTH_ENABLED=true", "WHARF_ADMIN_PASSWORD=" + e2eAdminPassword, "WHARF_AUTH_BCRYPT_COST=4"}
}

// TestConformanceWithAuth runs the conformance suite against wharf with
// access control on, logged in as the system administrator: every request
// goes through the token flow.
func TestConformanceWithAuth(t *testing.T) {
	shared := sharedDir(t)
	for _, b := range e2eBackends(t) {
		t.Run(b.name, func(t *testing.T) {
			p := startWharf(t, t.TempDir(), append(b.env(t), authEnv()...)...)
			env := []string{"OCI_VERSION=1.1", "OCI_API_BLOBS_UPLOAD_CANCEL=true", "OCI_USERNAME=admin", "OCI_PASSWORD=" + e2eAdminPassword}
			out := runScript(t, filepath.Join(shared, "oci-conformance", "run.sh"), env, p.addr, t.TempDir())
			m := regexp.MustCompile(`conformance: (\d+) passed, (\d+) failed, (\d+) skipped`).FindStringSubmatch(out)
			if m == nil {
				t.Fatal("no conformance summary line")
			}
			if m[2] != "0" || m[1] == "0" {
				t.Fatalf("conformance with auth: %s passed, %s failed, %s skipped", m[1], m[2], m[3])
			}
			if err := p.stop(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// clientModules are the Go clients and the versions the shared
// clients/run.sh pins; needTools installs them the same way when missing.
var clientModules = map[string]string{
	"crane":  "github.com/google/go-containerregistry/cmd/crane@v0.22.1",
	"oras":   "oras.land/oras/cmd/oras@v1.3.6",
	"regctl": "github.com/regclient/regclient/cmd/regctl@v0.11.7",
}

// needTools makes sure the clients are on PATH: Go clients are installed
// from the module proxy; anything else missing skips the test, or fails it
// under CI (.ci/run installs skopeo).
func needTools(t *testing.T, names ...string) {
	t.Helper()
	gobin := filepath.Join(goEnv(t, "GOPATH"), "bin")
	t.Setenv("PATH", gobin+string(os.PathListSeparator)+os.Getenv("PATH"))
	for _, n := range names {
		if _, err := exec.LookPath(n); err == nil {
			continue
		}
		if mod, ok := clientModules[n]; ok {
			if out, err := exec.Command("go", "install", mod).CombinedOutput(); err == nil {
				continue
			} else if os.Getenv("CI") != "" {
				t.Fatalf("go install %s: %v\n%s", mod, err, out)
			}
		}
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not installed", n)
		}
		t.Skipf("%s is not installed", n)
	}
}

func goEnv(t *testing.T, name string) string {
	out, err := exec.Command("go", "env", name).Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}

// accessFixture seeds users, a namespace and tokens into a stopped or
// running wharf's SQLite database, as the management API would.
type accessFixture struct {
	t  *testing.T
	st *sqlite.Store
}

func openAccess(t *testing.T, dataDir string) *accessFixture {
	t.Helper()
	st, err := sqlite.Open(context.Background(), sqlite.Options{Path: filepath.Join(dataDir, "wharf.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return &accessFixture{t: t, st: st}
}

func (f *accessFixture) user(name, password string) {
	f.t.Helper()
	h, err := auth.HashPassword(password, 4)
	if err != nil {
		f.t.Fatal(err)
	}
	if err := f.st.CreateUser(context.Background(), meta.User{Name: name, PasswordHash: h}); err != nil {
		f.t.Fatal(err)
	}
}

func (f *accessFixture) namespace(name string, members map[string]auth.Role) {
	f.t.Helper()
	ctx := context.Background()
	if err := f.st.CreateNamespace(ctx, meta.Namespace{Name: name}); err != nil {
		f.t.Fatal(err)
	}
	for u, r := range members {
		if err := f.st.PutMember(ctx, meta.Member{Namespace: name, User: u, Role: string(r)}); err != nil {
			f.t.Fatal(err)
		}
	}
}

func (f *accessFixture) token(owner, name string, scopes ...string) string {
	f.t.Helper()
	var ss auth.ScopeSet
	for _, s := range scopes {
		sc, err := auth.ParseScope(s)
		if err != nil {
			f.t.Fatal(err)
		}
		ss = append(ss, sc)
	}
	js, _ := json.Marshal(ss)
	secret, hash, err := auth.NewAccessToken()
	if err != nil {
		f.t.Fatal(err)
	}
	err = f.st.CreateToken(context.Background(), meta.Token{ID: "pat-" + owner + "-" + name, Kind: meta.TokenPersonal, Name: name, Owner: owner, Hash: hash, Scopes: js})
	if err != nil {
		f.t.Fatal(err)
	}
	return secret
}

// sh runs a client command in dir with env and returns its output; it fails
// the test unless the command's success is wantOK.
func sh(t *testing.T, dir string, env []string, wantOK bool, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		_ = cmd.Process.Kill()
		err = <-done
	}
	if (err == nil) != wantOK {
		t.Fatalf("%s %s: err %v, want success %v:\n%s", name, strings.Join(args, " "), err, wantOK, out.String())
	}
	return out.String()
}

// TestClientsLogIn logs in with crane, oras, regctl and skopeo, with a
// password and with a personal access token, and pushes and pulls through
// the token flow; a read-only token is refused a push.
func TestClientsLogIn(t *testing.T) {
	needTools(t, "crane", "oras", "regctl", "skopeo")
	dataDir := t.TempDir()
	p := startWharf(t, dataDir, authEnv()...)
	f := openAccess(t, dataDir)
	f.user("dev", "dev-password")
	f.user("prod", "prod-password")
	f.namespace("team", map[string]auth.Role{"dev": auth.RoleDeveloper, "prod": auth.RoleReadonly})
	devToken := f.token("dev", "ci", "team/*:pull,push")
	prodToken := f.token("prod", "puller", "team/*:pull")
	R := p.addr

	for _, cred := range []struct{ mode, user, secret string }{
		{"password", "dev", "dev-password"},
		{"token", "dev", devToken},
	} {
		t.Run(cred.mode, func(t *testing.T) {
			w := t.TempDir()
			layer := filepath.Join(w, "layer.tar")
			src := filepath.Join(w, "src")
			if err := os.MkdirAll(src, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(src, "hello.txt"), []byte("hello "+cred.mode+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			sh(t, w, nil, true, "tar", "-cf", layer, "-C", src, ".")
			docker := []string{"DOCKER_CONFIG=" + filepath.Join(w, "docker")}
			img := R + "/team/crane-" + cred.mode + ":v1"

			// crane: log in, push, read back.
			sh(t, w, docker, false, "crane", "--insecure", "digest", img) // not logged in: refused
			sh(t, w, docker, true, "crane", "auth", "login", R, "-u", cred.user, "-p", cred.secret)
			sh(t, w, docker, true, "crane", "--insecure", "append", "--oci-empty-base", "-f", layer, "-t", img)
			d := strings.TrimSpace(sh(t, w, docker, true, "crane", "--insecure", "digest", img))
			if !strings.HasPrefix(d, "sha256:") {
				t.Fatalf("crane digest: %q", d)
			}
			sh(t, w, docker, true, "crane", "--insecure", "pull", "--format", "oci", img, filepath.Join(w, "pulled"))
			// The catalog shows dev only what dev may pull.
			for _, repo := range strings.Fields(sh(t, w, docker, true, "crane", "--insecure", "catalog", R)) {
				if !strings.HasPrefix(repo, "team/") {
					t.Fatalf("dev's catalog lists %s", repo)
				}
			}

			// oras: log in, push an artifact, pull it back.
			art := R + "/team/oras-" + cred.mode + ":v1"
			if err := os.WriteFile(filepath.Join(w, "note.txt"), []byte("note "+cred.mode), 0o644); err != nil {
				t.Fatal(err)
			}
			sh(t, w, docker, true, "oras", "login", "--plain-http", "-u", cred.user, "-p", cred.secret, R)
			sh(t, w, docker, true, "oras", "push", "--plain-http", art, "note.txt")
			out := filepath.Join(w, "oras-out")
			sh(t, w, docker, true, "oras", "pull", "--plain-http", "-o", out, art)
			if b, err := os.ReadFile(filepath.Join(out, "note.txt")); err != nil || string(b) != "note "+cred.mode {
				t.Fatalf("oras pulled %q, %v", b, err)
			}

			// regctl: log in, copy crane's image, read its digest.
			regctl := []string{"REGCTL_CONFIG=" + filepath.Join(w, "regctl.json")}
			sh(t, w, regctl, true, "regctl", "registry", "set", R, "--tls", "disabled")
			sh(t, w, regctl, true, "regctl", "registry", "login", R, "-u", cred.user, "-p", cred.secret)
			rimg := R + "/team/regctl-" + cred.mode + ":v1"
			sh(t, w, regctl, true, "regctl", "image", "copy", img, rimg)
			if got := strings.TrimSpace(sh(t, w, regctl, true, "regctl", "image", "digest", rimg)); got != d {
				t.Fatalf("regctl copy digest %q, want %q", got, d)
			}

			// skopeo: log in, copy, inspect.
			skopeo := []string{"REGISTRY_AUTH_FILE=" + filepath.Join(w, "auth.json")}
			policy := filepath.Join(w, "policy.json")
			if err := os.WriteFile(policy, []byte(`{"default":[{"type":"insecureAcceptAnything"}]}`), 0o644); err != nil {
				t.Fatal(err)
			}
			sh(t, w, skopeo, true, "skopeo", "login", "--tls-verify=false", "-u", cred.user, "-p", cred.secret, R)
			simg := R + "/team/skopeo-" + cred.mode + ":v1"
			sh(t, w, skopeo, true, "skopeo", "--policy", policy, "copy", "--src-tls-verify=false", "--dest-tls-verify=false", "docker://"+img, "docker://"+simg)
			insp := sh(t, w, skopeo, true, "skopeo", "inspect", "--tls-verify=false", "--raw", "docker://"+simg)
			if !strings.Contains(insp, "schemaVersion") {
				t.Fatalf("skopeo inspect: %s", insp)
			}
		})
	}

	// Seen by the system administrator, the catalog holds more.
	f.namespace("hidden", nil)
	adminCfg := []string{"DOCKER_CONFIG=" + filepath.Join(t.TempDir(), "docker")}
	sh(t, dataDir, adminCfg, true, "crane", "auth", "login", R, "-u", "admin", "-p", e2eAdminPassword)
	sh(t, dataDir, adminCfg, true, "crane", "--insecure", "copy", R+"/team/crane-password:v1", R+"/hidden/app:v1")
	if cat := sh(t, dataDir, adminCfg, true, "crane", "--insecure", "catalog", R); !strings.Contains(cat, "hidden/app") {
		t.Fatalf("admin's catalog lacks hidden/app:\n%s", cat)
	}
	devCfg := []string{"DOCKER_CONFIG=" + filepath.Join(t.TempDir(), "docker")}
	sh(t, dataDir, devCfg, true, "crane", "auth", "login", R, "-u", "dev", "-p", "dev-password")
	if cat := sh(t, dataDir, devCfg, true, "crane", "--insecure", "catalog", R); strings.Contains(cat, "hidden/") || !strings.Contains(cat, "team/") {
		t.Fatalf("dev's catalog:\n%s", cat)
	}

	t.Run("read-only token", func(t *testing.T) {
		w := t.TempDir()
		docker := []string{"DOCKER_CONFIG=" + filepath.Join(w, "docker")}
		sh(t, w, docker, true, "crane", "auth", "login", R, "-u", "prod", "-p", prodToken)
		sh(t, w, docker, true, "crane", "--insecure", "digest", R+"/team/crane-password:v1")
		out := sh(t, w, docker, false, "crane", "--insecure", "copy", R+"/team/crane-password:v1", R+"/team/prod-push:v1")
		if !strings.Contains(out, "DENIED") && !strings.Contains(out, "403") {
			t.Fatalf("read-only push refused, but not with DENIED:\n%s", out)
		}
		sh(t, w, docker, true, "crane", "auth", "login", R, "-u", "prod", "-p", "wrong-password")
		sh(t, w, docker, false, "crane", "--insecure", "digest", R+"/team/crane-password:v1")
		sh(t, w, []string{"REGISTRY_AUTH_FILE=" + filepath.Join(w, "auth.json")}, false,
			"skopeo", "login", "--tls-verify=false", "-u", "prod", "-p", "wrong-password", R)
	})

	// The pushes went in as the principals that logged in, and the logins
	// went through the token endpoint (a login is recorded per token fetch
	// that ran bcrypt or touched a token, not per request).
	for _, tc := range []struct{ actor, action, result string }{
		{"user:dev", "push", "ok"},
		{"token:pat-dev-ci", "push", "ok"},
		{"user:dev", "login", "ok"},
		{"user:prod", "login", "failed"},
	} {
		ev := f.audit(meta.AuditQuery{Actor: tc.actor, Action: tc.action, Result: tc.result})
		if len(ev) == 0 {
			t.Errorf("no audit event %+v", tc)
		}
	}
}

// audit waits for wharf's audit queue to write events matching q.
func (f *accessFixture) audit(q meta.AuditQuery) []meta.AuditEvent {
	f.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		ev, err := f.st.Audit(context.Background(), q)
		if err != nil {
			f.t.Fatal(err)
		}
		if len(ev) > 0 || time.Now().After(deadline) {
			return ev
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestGeneratedAdminPassword: without WHARF_ADMIN_PASSWORD the first start
// prints a generated password once, it logs in, and a restart prints none.
func TestGeneratedAdminPassword(t *testing.T) {
	dataDir := t.TempDir()
	p := startWharf(t, dataDir, "WHARF_AUTH_ENABLED=true")
	m := regexp.MustCompile(`user=admin password=(\S+)`).FindStringSubmatch(p.log.String())
	if m == nil {
		t.Fatalf("no generated password in the log:\n%s", p.log)
	}
	ping := func(p *wharfProcess, password string) int {
		req, _ := http.NewRequest("GET", "http://"+p.addr+"/v2/", nil)
		req.Header.Set("Authorization", auth.BasicAuthorization("admin", password))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if s := ping(p, m[1]); s != http.StatusOK {
		t.Fatalf("the printed password: %d", s)
	}
	if err := p.stop(); err != nil {
		t.Fatal(err)
	}
	p2 := startWharf(t, dataDir, "WHARF_AUTH_ENABLED=true", "WHARF_ADMIN_PASSWORD=ignored-now")
	if strings.Contains(p2.log.String(), "password=") {
		t.Fatalf("a restart printed a password:\n%s", p2.log)
	}
	if s := ping(p2, m[1]); s != http.StatusOK {
		t.Fatalf("the first password after a restart: %d", s)
	}
}
