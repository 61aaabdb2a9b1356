package e2e

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/wharf-dev/wharf/internal/access/ldap/slapdtest"
	"github.com/wharf-dev/wharf/internal/access/oidc/oidctest"
	"github.com/wharf-dev/wharf/internal/auth"
	"github.com/wharf-dev/wharf/internal/testbrowser"
	"github.com/wharf-dev/wharf/internal/testport"
)

// Secrets of TestCompanySignIn, none of which may appear in wharf's log,
// its answers, or what the clients print.
const (
	aliceDirPW = "alice-directory-pw-93c1"
	bobDirPW   = "bob-directory-pw-5d2e"
)

// TestCompanySignIn runs the built wharf configured through the
// environment, as an operator would, with company sign-in from three
// sources at once: Debian's slapd (LDAP over StartTLS), a real OpenID
// Connect provider (oidc-provider) and a CI token issuer (workload
// identity), each mapped to a namespace. The real clients sign in:
// docker login with a directory password; wharf login's device flow
// approved in headless Chromium, then crane with the stored token; crane
// with a CI job's OIDC token. Each gets exactly its mapping's access. With
// the directory down docker login says the directory is unavailable, and
// the local administrator still gets in. No secret is in wharf's log (at
// debug level), in the clients' output, or in any answer.
func TestCompanySignIn(t *testing.T) {
	needTools(t, "crane", "dockerd", "docker")
	needRoot(t)
	testbrowser.Require(t)
	oidctest.RequireProvider(t)

	dir := slapdtest.Start(t)
	dir.AddUser("alice", aliceDirPW)
	dir.AddUser("bob", bobDirPW)
	dir.SetGroup("team-a-devs", "alice")
	l := testport.Listen(t)
	addr := l.Addr().String()
	l.Close()
	op := oidctest.StartProvider(t, "http://"+addr+"/auth/oidc/callback")
	op.SetAccount("carol", oidctest.Account{Email: "carol@example.org", Groups: []string{"team-b"}})
	ci := oidctest.Start(t)

	env := append(authEnv(),
		"WHARF_LOG_LEVEL=debug",
		"WHARF_AUTH_LDAP_URL="+dir.URL, "WHARF_AUTH_LDAP_START_TLS=true", "WHARF_AUTH_LDAP_CA_FILE="+dir.CAFile,
		"WHARF_AUTH_LDAP_BIND_DN="+slapdtest.ServiceDN, "WHARF_AUTH_LDAP_BIND_PASSWORD="+slapdtest.ServicePassword,
		"WHARF_AUTH_LDAP_USER_BASE_DN="+slapdtest.PeopleDN, "WHARF_AUTH_LDAP_USER_FILTER=(objectClass=inetOrgPerson)",
		"WHARF_AUTH_LDAP_GROUP_BASE_DN="+slapdtest.GroupsDN, "WHARF_AUTH_LDAP_GROUP_FILTER=(objectClass=groupOfNames)",
		"WHARF_AUTH_LDAP_TIMEOUT=1s",
		"WHARF_AUTH_LDAP_GROUP_ROLES=[{group: team-a-devs, namespace: team-a, role: developer}]",
		"WHARF_AUTH_OIDC_ISSUER="+op.URL, "WHARF_AUTH_OIDC_CLIENT_ID="+op.ClientID, "WHARF_AUTH_OIDC_CLIENT_SECRET="+op.ClientSecret,
		"WHARF_AUTH_OIDC_REDIRECT_URL=http://"+addr+"/auth/oidc/callback", "WHARF_AUTH_OIDC_SCOPES=openid,profile,email,groups",
		"WHARF_AUTH_OIDC_OFFLINE_ACCESS=true", "WHARF_AUTH_OIDC_DEVICE_FLOW=true",
		"WHARF_AUTH_OIDC_GROUP_ROLES=[{group: team-b, namespace: team-b, role: developer}]",
		"WHARF_AUTH_WORKLOAD_RULES=[{name: app-main, namespace: ci, issuer: '"+ci.URL+"', audience: wharf, "+
			"subject: 'repo:org/app:ref:refs/heads/main', scopes: ['ci/app:pull,push']}]",
	)
	dataDir := t.TempDir()
	p := startWharfAt(t, dataDir, addr, env...)
	R := p.addr
	f := openAccess(t, dataDir)
	f.namespace("ci", nil)
	var outputs bytes.Buffer // everything the clients printed
	w := t.TempDir()
	run := func(env []string, ok bool, name string, args ...string) string {
		t.Helper()
		out := sh(t, w, env, ok, name, args...)
		outputs.WriteString(out)
		return out
	}

	// docker login with the directory password; the group's namespace
	// takes a push, another namespace refuses it.
	engine := startDockerEngine(t, w)
	docker := func(ok bool, args ...string) string {
		t.Helper()
		out := engine(ok, args...)
		outputs.WriteString(out)
		return out
	}
	ctxDir := filepath.Join(w, "ctx")
	writeFile(t, filepath.Join(ctxDir, "hello.txt"), "hello from the directory\n")
	writeFile(t, filepath.Join(ctxDir, "Dockerfile"), "FROM scratch\nCOPY hello.txt /\n")
	docker(true, "build", "-q", "-t", R+"/team-a/app:v1", ctxDir)
	docker(true, "tag", R+"/team-a/app:v1", R+"/team-b/app:v1")
	docker(false, "login", "-u", "alice", "-p", "not-"+aliceDirPW, R)
	docker(true, "login", "-u", "alice", "-p", aliceDirPW, R)
	docker(true, "push", R+"/team-a/app:v1")
	if out := docker(false, "push", R+"/team-b/app:v1"); !strings.Contains(out, "denied") {
		t.Errorf("alice's push outside her group's namespace failed, but not as denied:\n%s", out)
	}

	// wharf login: the device flow, approved in the browser at the
	// provider; the token it stores pushes with crane as carol's group
	// allows.
	craneEnv := []string{"DOCKER_CONFIG=" + filepath.Join(w, "crane")}
	login := exec.Command(binary, "login", "--docker-config", filepath.Join(w, "crane", "config.json"), "http://"+R)
	var loginOut lockedBuffer
	stderr, err := login.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	login.Stdout = &loginOut
	if err := login.Start(); err != nil {
		t.Fatal(err)
	}
	verify := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			loginOut.Write([]byte(sc.Text() + "\n"))
			if m := regexp.MustCompile(`^Open (http\S+)`).FindStringSubmatch(sc.Text()); m != nil {
				verify <- m[1]
			}
		}
	}()
	var link string
	select {
	case link = <-verify:
	case <-time.After(30 * time.Second):
		t.Fatalf("wharf login printed no link:\n%s", loginOut.String())
	}
	b := testbrowser.Start(t)
	b.Do(chromedp.Navigate(link))
	// The provider asks to confirm the code, then to sign in, then to
	// consent.
	b.Do(chromedp.WaitReady(chromedp.CSS(`button[autofocus]`)), chromedp.Click(chromedp.CSS(`button[autofocus]`)),
		chromedp.WaitReady(chromedp.CSS(`input[name="login"]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name="login"]`), "carol"),
		chromedp.SendKeys(chromedp.CSS(`input[name="password"]`), "anything"),
		chromedp.Submit(chromedp.CSS(`input[name="login"]`)),
		chromedp.WaitReady(chromedp.CSS(`input[name="prompt"][value="consent"]`)),
		chromedp.Submit(chromedp.CSS(`input[name="prompt"][value="consent"]`)))
	done := make(chan error, 1)
	go func() { done <- login.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("wharf login: %v\n%s", err, loginOut.String())
		}
	case <-time.After(60 * time.Second):
		_ = login.Process.Kill()
		t.Fatalf("wharf login did not finish:\n%s", loginOut.String())
	}
	outputs.WriteString(loginOut.String())
	if !strings.Contains(loginOut.String(), "Signed in to "+R+" as carol") {
		t.Errorf("wharf login says:\n%s", loginOut.String())
	}
	stored, err := os.ReadFile(filepath.Join(w, "crane", "config.json"))
	if err != nil || !strings.Contains(string(stored), `"auths"`) {
		t.Fatalf("wharf login stored %s, %v", stored, err)
	}
	layer := filepath.Join(w, "layer.tar")
	run(nil, true, "tar", "-cf", layer, "-C", ctxDir, "hello.txt")
	run(craneEnv, true, "crane", "--insecure", "append", "--oci-empty-base", "-f", layer, "-t", R+"/team-b/app:v2")
	run(craneEnv, false, "crane", "--insecure", "append", "--oci-empty-base", "-f", layer, "-t", R+"/team-a/app:v2")

	// A CI job's OIDC token as the password: its rule's repository, and
	// nothing else; a token of another branch, nothing.
	jobEnv := []string{"DOCKER_CONFIG=" + filepath.Join(w, "job")}
	jwt := ci.Mint(t, map[string]any{"aud": "wharf", "sub": "repo:org/app:ref:refs/heads/main"})
	run(jobEnv, true, "crane", "auth", "login", R, "-u", "workload", "-p", jwt)
	run(jobEnv, true, "crane", "--insecure", "append", "--oci-empty-base", "-f", layer, "-t", R+"/ci/app:main")
	run(jobEnv, false, "crane", "--insecure", "append", "--oci-empty-base", "-f", layer, "-t", R+"/ci/other:main")
	branch := ci.Mint(t, map[string]any{"aud": "wharf", "sub": "repo:org/app:ref:refs/heads/feature"})
	run(jobEnv, true, "crane", "auth", "login", R, "-u", "workload", "-p", branch)
	run(jobEnv, false, "crane", "--insecure", "digest", R+"/ci/app:main")

	// The directory down: a directory user's login is refused as
	// unavailable (docker's engine shows the status, not the body, which
	// names the directory: internal/server's TestLDAPSignIn), not as a
	// wrong password; the local administrator gets in.
	dir.Stop()
	if out := docker(false, "login", "-u", "bob", "-p", bobDirPW, R); !strings.Contains(out, "503 Service Unavailable") {
		t.Errorf("docker login with the directory down does not say it is unavailable:\n%s", out)
	}
	docker(true, "login", "-u", "admin", "-p", e2eAdminPassword, R)

	// A refused password is not echoed back in the answer.
	req, _ := http.NewRequest("GET", "http://"+R+"/token?service=wharf", nil)
	req.Header.Set("Authorization", auth.BasicAuthorization("alice", "wrong-"+aliceDirPW))
	if resp, err := http.DefaultClient.Do(req); err == nil {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		outputs.Write(body)
	}

	if err := p.stop(); err != nil {
		t.Fatal(err)
	}
	secrets := map[string]string{
		"the OIDC client secret": op.ClientSecret, "the LDAP service password": slapdtest.ServicePassword,
		"alice's directory password": aliceDirPW, "bob's directory password": bobDirPW,
		"the CI job's token": jwt, "the CI job's token's signature": jwt[strings.LastIndexByte(jwt, '.')+1:],
	}
	for what, s := range secrets {
		if strings.Contains(p.log.String(), s) {
			t.Errorf("wharf's log holds %s", what)
		}
		if strings.Contains(outputs.String(), s) {
			t.Errorf("the clients' output or an answer holds %s", what)
		}
	}
	// wharf login's token is in the docker config, and nowhere else.
	if m := regexp.MustCompile(`"auth":\s*"([^"]+)"`).FindSubmatch(stored); m != nil {
		if strings.Contains(p.log.String(), string(m[1])) || strings.Contains(outputs.String(), string(m[1])) {
			t.Errorf("wharf login's token was printed or logged")
		}
	}
	if !strings.Contains(p.log.String(), "level=DEBUG") {
		t.Errorf("wharf's log is not at debug level; the check above saw less than it should")
	}
}

// lockedBuffer is a bytes.Buffer two goroutines write.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
