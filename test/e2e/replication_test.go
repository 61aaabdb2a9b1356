package e2e

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// Replication against real registries on loopback: the source is the
// wharf under test on each backend; the targets are a second wharf and
// the CNCF distribution registry 2.8 (Debian's docker-registry) with
// htpasswd authentication. Servers of these tests listen on 31400-31499.

const replAdminPW = "repl-admin-pw"

// replPort is a free loopback address in the replication tests' range.
func replPort(t *testing.T) string {
	t.Helper()
	for p := 31400; p < 31500; p++ {
		addr := "127.0.0.1:" + strconv.Itoa(p)
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			continue
		}
		ln.Close()
		return addr
	}
	t.Fatal("no free port in 31400-31499")
	return ""
}

// replEnv is a wharf with access control on and the replication job
// polling often, on backend env.
func replEnv(t *testing.T, backend []string) []string {
	t.Helper()
	key := filepath.Join(t.TempDir(), "replication.key")
	var b [32]byte
	_, _ = rand.Read(b[:])
	if err := os.WriteFile(key, []byte(hex.EncodeToString(b[:])+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return append(append([]string{}, backend...), "WHARF_AUTH_ENABLED=true", "WHARF_ADMIN_PASSWORD="+replAdminPW,
		"WHARF_AUTH_BCRYPT_COST=4", "WHARF_REPLICATION_POLL_INTERVAL=100ms", "WHARF_REPLICATION_CREDENTIALS_KEY_FILE="+key)
}

// distribution is a running docker-registry (distribution 2.8) with
// htpasswd authentication and deletes enabled.
type distribution struct {
	addr, user, password string
}

func startDistribution(t *testing.T, user, password string) *distribution {
	t.Helper()
	bin, err := exec.LookPath("docker-registry")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("docker-registry is not installed (.ci/run installs Debian's)")
		}
		t.Skip("docker-registry is not installed")
	}
	dir := t.TempDir()
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "htpasswd"), user+":"+string(hash)+"\n")
	addr := replPort(t)
	writeFile(t, filepath.Join(dir, "config.yml"), fmt.Sprintf(`version: 0.1
log: {level: warn}
storage:
  filesystem: {rootdirectory: %s}
  delete: {enabled: true}
http:
  addr: %s
auth:
  htpasswd: {realm: distribution, path: %s}
`, filepath.Join(dir, "data"), addr, filepath.Join(dir, "htpasswd")))
	cmd := exec.Command(bin, "serve", filepath.Join(dir, "config.yml"))
	var log strings.Builder
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-done })
	for start := time.Now(); ; {
		resp, err := http.Get("http://" + addr + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusUnauthorized {
				break
			}
		}
		select {
		case <-done:
			t.Fatalf("docker-registry exited:\n%s", log.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Since(start) > 10*time.Second {
			t.Fatalf("docker-registry not ready after 10s:\n%s", log.String())
		}
	}
	return &distribution{addr: addr, user: user, password: password}
}

// replCLI runs `wharf replication ...` against p as its administrator.
func replCLI(t *testing.T, p *wharfProcess, ok bool, stdin string, args ...string) string {
	t.Helper()
	out, err := wharfCLI(t, []string{"WHARF_URL=http://" + p.addr, "WHARF_USER=admin", "WHARF_PASSWORD=" + replAdminPW, "WHARF_TOKEN="},
		stdin, append([]string{"replication"}, args...)...)
	if (err == nil) != ok {
		t.Fatalf("wharf replication %s: %v, want success %v:\n%s", strings.Join(args, " "), err, ok, out)
	}
	return out
}

// addRule creates a rule from flags on p and returns its ID.
func addRule(t *testing.T, p *wharfProcess, password string, args ...string) string {
	t.Helper()
	stdin := ""
	if password != "" {
		args, stdin = append(args, "--password-stdin"), password+"\n"
	}
	out := replCLI(t, p, true, stdin, append([]string{"add"}, args...)...)
	if password != "" && strings.Contains(out, password) {
		t.Fatalf("the rule shown back holds its password:\n%s", out)
	}
	var r struct {
		ID     int64 `json:"id"`
		Remote struct {
			HasPassword bool `json:"hasPassword"`
		} `json:"remote"`
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil || r.ID == 0 || r.Remote.HasPassword != (password != "") {
		t.Fatalf("rule: %v\n%s", err, out)
	}
	return strconv.FormatInt(r.ID, 10)
}

type replRun struct {
	Run struct {
		ID       int64  `json:"id"`
		State    string `json:"state"`
		Attempts int    `json:"attempts"`
		Copied   int64  `json:"copied"`
		Skipped  int64  `json:"skipped"`
		Deleted  int64  `json:"deleted"`
		Failed   int64  `json:"failed"`
		Error    string `json:"error"`
	} `json:"run"`
	Log []struct {
		Source, Destination, Result, Reason string
	} `json:"log"`
}

// runRule runs rule id on p, waits for it to end and returns it with its log.
func runRule(t *testing.T, p *wharfProcess, id string, ok bool) replRun {
	t.Helper()
	out := replCLI(t, p, ok, "", "run", id, "--wait")
	var r replRun
	if err := json.Unmarshal([]byte(out[:strings.LastIndex(out, "}")+1]), &r); err != nil {
		t.Fatalf("run output: %v\n%s", err, out)
	}
	t.Logf("run %d of rule %s: %s, %d copied, %d skipped, %d deleted, %d failed", r.Run.ID, id, r.Run.State, r.Run.Copied, r.Run.Skipped, r.Run.Deleted, r.Run.Failed)
	return r
}

// replTools are crane and cosign logged in to the registries of a test.
type replTools struct {
	t   *testing.T
	dir string
	env []string
}

func newReplTools(t *testing.T) *replTools {
	needTools(t, "crane", "cosign")
	dir := t.TempDir()
	return &replTools{t: t, dir: dir, env: []string{
		"DOCKER_CONFIG=" + filepath.Join(dir, "docker"), "COSIGN_PASSWORD=e2e-key-password",
		"TUF_ROOT=" + filepath.Join(dir, "tuf"), "SIGSTORE_NO_CACHE=true", "COSIGN_EXPERIMENTAL=1",
	}}
}

func (c *replTools) run(ok bool, name string, args ...string) string {
	c.t.Helper()
	return sh(c.t, c.dir, c.env, ok, name, args...)
}

func (c *replTools) login(addr, user, password string) {
	c.t.Helper()
	c.run(true, "crane", "auth", "login", addr, "-u", user, "-p", password)
}

// push pushes a one-layer image of content (and extra random bytes) as
// ref and returns its digest.
func (c *replTools) push(ref, content string, random int) string {
	c.t.Helper()
	src := filepath.Join(c.dir, "src-"+hex.EncodeToString(randomBytes(4)))
	writeFile(c.t, filepath.Join(src, "hello.txt"), content+"\n")
	if random > 0 {
		if err := os.WriteFile(filepath.Join(src, "random.bin"), randomBytes(random), 0o644); err != nil {
			c.t.Fatal(err)
		}
	}
	layer := src + ".tar"
	c.run(true, "tar", "-cf", layer, "-C", src, ".")
	c.run(true, "crane", "--insecure", "append", "--oci-empty-base", "-f", layer, "-t", ref)
	return c.digest(ref, true)
}

// digest is ref's digest, "" if absent (with !ok).
func (c *replTools) digest(ref string, ok bool) string {
	c.t.Helper()
	return trimmed(c.run(ok, "crane", "--insecure", "digest", ref))
}

func (c *replTools) cosign(ok bool, args ...string) string {
	c.t.Helper()
	return c.run(ok, "cosign", append(args, "--allow-http-registry", "--allow-insecure-registry")...)
}

// TestReplication copies between the wharf under test and real registries:
// push rules to distribution 2.8 (htpasswd) and to a second wharf, a pull
// rule from distribution into the second wharf; tag patterns (semver,
// glob), repository globs and mappings choose what goes where; digests
// arrive equal and cosign signatures (tag schema and OCI 1.1 referrers)
// verify at each destination; deletions travel when the rule says; the
// password is never shown back; the metrics count what was done.
func TestReplication(t *testing.T) {
	for _, b := range e2eBackends(t) {
		t.Run(b.name, func(t *testing.T) {
			tools := newReplTools(t)
			src := startWharfAt(t, t.TempDir(), replPort(t), replEnv(t, b.env(t))...)
			dst := startWharfAt(t, t.TempDir(), replPort(t), replEnv(t, nil)...)
			dist := startDistribution(t, "repl", "repl-dist-pw")
			S, W, D := src.addr, dst.addr, dist.addr
			for _, a := range []string{S, W} {
				tools.login(a, "admin", replAdminPW)
			}
			tools.login(D, dist.user, dist.password)

			d100 := tools.push(S+"/team/app:v1.0.0", "app 1.0.0", 0)
			d110 := tools.push(S+"/team/app:v1.1.0", "app 1.1.0", 200<<10)
			tools.push(S+"/team/app:dev", "app dev", 0)
			tools.push(S+"/team/app:v0.9.0", "app 0.9.0", 0)
			dcli := tools.push(S+"/team/tools/cli:2.0.0", "cli 2.0.0", 0)
			tools.push(S+"/other/x:1.0.0", "other", 0)
			tools.run(true, "cosign", "generate-key-pair")
			sign := "--key=cosign.key --tlog-upload=false -y"
			tools.cosign(true, append(strings.Fields("sign "+sign), S+"/team/app@"+d100)...)
			tools.cosign(true, append(strings.Fields("sign --registry-referrers-mode=oci-1-1 "+sign), S+"/team/app@"+d110)...)
			verify := func(ref string, oci11 bool) {
				t.Helper()
				args := []string{"verify", "--key", "cosign.pub", "--insecure-ignore-tlog=true"}
				if oci11 {
					args = append(args, "--experimental-oci11")
				}
				tools.cosign(true, append(args, ref)...)
			}

			// Push to distribution 2.8, with its htpasswd credentials.
			toDist := addRule(t, src, dist.password, "--name", "to-dist", "--push", "--remote", "http://"+D, "--username", dist.user,
				"--repo", "team/**", "--tag", "semver:>=1.0", "--deletes")
			run := runRule(t, src, toDist, true)
			if run.Run.Copied != 3 || run.Run.Failed != 0 || len(run.Log) != 3 {
				t.Fatalf("to-dist: %+v", run)
			}
			for ref, want := range map[string]string{"team/app:v1.0.0": d100, "team/app:v1.1.0": d110, "team/tools/cli:2.0.0": dcli} {
				if got := tools.digest(D+"/"+ref, true); got != want {
					t.Errorf("%s at distribution: %s, want %s", ref, got, want)
				}
			}
			tools.digest(D+"/team/app:dev", false)
			tools.digest(D+"/team/app:v0.9.0", false)
			tools.digest(D+"/other/x:1.0.0", false)
			verify(D+"/team/app@"+d100, false)
			verify(D+"/team/app@"+d110, true) // distribution has no referrers API: the fallback tag carries it
			if again := runRule(t, src, toDist, true); again.Run.Copied != 0 || again.Run.Skipped != 3 {
				t.Fatalf("a second run copied again: %+v", again)
			}

			// Push to a second wharf, renamed, with its administrator's password.
			toWharf := addRule(t, src, replAdminPW, "--name", "to-wharf", "--push", "--remote", "http://"+W, "--username", "admin",
				"--repo", "team/*", "--tag", "v*", "--exclude-tag", "semver:<1", "--map", "team=dr/team")
			if run := runRule(t, src, toWharf, true); run.Run.Copied != 2 || len(run.Log) != 2 {
				t.Fatalf("to-wharf: %+v", run)
			}
			if got := tools.digest(W+"/dr/team/app:v1.0.0", true); got != d100 {
				t.Errorf("dr/team/app:v1.0.0 at the second wharf: %s, want %s", got, d100)
			}
			tools.digest(W+"/dr/team/app:v0.9.0", false)
			tools.digest(W+"/dr/team/tools/cli:2.0.0", false) // team/* is one path component
			verify(W+"/dr/team/app@"+d100, false)
			verify(W+"/dr/team/app@"+d110, true)

			// Pull from distribution into the second wharf.
			fromDist := addRule(t, dst, dist.password, "--name", "from-dist", "--pull", "--remote", "http://"+D, "--username", dist.user,
				"--repo", "team/app", "--tag", "v1.1.*", "--map", "team=mirror")
			if run := runRule(t, dst, fromDist, true); run.Run.Copied != 1 {
				t.Fatalf("from-dist: %+v", run)
			}
			if got := tools.digest(W+"/mirror/app:v1.1.0", true); got != d110 {
				t.Errorf("mirror/app:v1.1.0: %s, want %s", got, d110)
			}
			verify(W+"/mirror/app@"+d110, true)

			// A deleted tag goes from distribution (deletes on), not from
			// the second wharf (off).
			tools.run(true, "crane", "--insecure", "delete", S+"/team/app@"+d110)
			run = runRule(t, src, toDist, true)
			if run.Run.Deleted != 1 {
				t.Fatalf("to-dist after a delete: %+v", run)
			}
			tools.digest(D+"/team/app:v1.1.0", false)
			if got := tools.digest(D+"/team/app:v1.0.0", true); got != d100 {
				t.Errorf("team/app:v1.0.0 at distribution after the delete: %s", got)
			}
			runRule(t, src, toWharf, true)
			tools.digest(W+"/dr/team/app:v1.1.0", true)

			// A wrong password fails the run, saying why.
			bad := addRule(t, src, "wrong", "--name", "bad-password", "--push", "--remote", "http://"+D, "--username", dist.user, "--repo", "team/app")
			if run := runRule(t, src, bad, false); run.Run.State != "failed" || !strings.Contains(run.Run.Error+fmt.Sprint(run.Log), "401") &&
				!strings.Contains(strings.ToLower(run.Run.Error+fmt.Sprint(run.Log)), "unauthorized") {
				t.Fatalf("a run with a wrong password: %+v", run)
			}

			// The password is never shown back.
			for _, path := range []string{"/api/v1/replication/rules", "/api/v1/replication/rules/" + toDist} {
				req, _ := http.NewRequest("GET", "http://"+S+path, nil)
				req.SetBasicAuth("admin", replAdminPW)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || strings.Contains(string(body), dist.password) || !strings.Contains(strings.ReplaceAll(string(body), " ", ""), `"hasPassword":true`) {
					t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
				}
			}
			if out := replCLI(t, src, true, "", "show", toDist); strings.Contains(out, dist.password) {
				t.Fatalf("wharf replication show prints the password:\n%s", out)
			}

			// The metrics count it.
			if n := metric(t, "http://"+S, `wharf_replication_artifacts_total{result="copied",rule="to-dist"}`); n != 3 {
				t.Errorf("copied artifacts of to-dist in the metrics: %v, want 3", n)
			}
			if n := metric(t, "http://"+S, `wharf_replication_artifacts_total{result="deleted",rule="to-dist"}`); n != 1 {
				t.Errorf("deleted artifacts of to-dist in the metrics: %v, want 1", n)
			}
			if n := metric(t, "http://"+S, `wharf_replication_bytes_total{rule="to-dist"}`); n < 200<<10 {
				t.Errorf("bytes sent by to-dist in the metrics: %v", n)
			}
		})
	}
}

// replGet reads path from p's management API as its administrator into v.
func replGet(t *testing.T, p *wharfProcess, path string, v any) {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+p.addr+path, nil)
	req.SetBasicAuth("admin", replAdminPW)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("GET %s: %v\n%s", path, err, body)
	}
}

// TestReplicationResume kills the replica running a replication run with
// SIGKILL in the middle of a big blob: on fs+SQLite the restarted process,
// on S3+PostgreSQL the other replica, resumes the run. What the run's log
// holds is not done again, the run ends once with two attempts, and the
// target holds exact copies.
func TestReplicationResume(t *testing.T) {
	for _, b := range e2eBackends(t) {
		t.Run(b.name, func(t *testing.T) {
			tools := newReplTools(t)
			env := replEnv(t, b.env(t))
			srcDir := t.TempDir()
			src := startWharfAt(t, srcDir, replPort(t), env...)
			replicas := []*wharfProcess{src}
			if b.name != "fs+sqlite" {
				replicas = append(replicas, startWharfAt(t, t.TempDir(), replPort(t), env...))
			}
			dst := startWharfAt(t, t.TempDir(), replPort(t), replEnv(t, nil)...)
			S, W := src.addr, dst.addr
			tools.login(S, "admin", replAdminPW)
			tools.login(W, "admin", replAdminPW)
			small := tools.push(S+"/team/a:v1", "small", 0)
			big := tools.push(S+"/team/big:v1", "big", 24<<20)

			// One artifact at a time, 4 MiB/s: the big one takes about 6 s.
			id := addRule(t, src, replAdminPW, "--name", "resume", "--push", "--remote", "http://"+W, "--username", "admin",
				"--repo", "team/*", "--concurrency", "1", "--bandwidth", "4MiB", "--chunk-size", "1MiB")
			var run struct {
				ID       int64  `json:"id"`
				State    string `json:"state"`
				Attempts int    `json:"attempts"`
				Error    string `json:"error"`
			}
			if err := json.Unmarshal([]byte(replCLI(t, src, true, "", "run", id)), &run); err != nil || run.ID == 0 {
				t.Fatalf("run: %v", err)
			}
			type logLine struct{ Source, Result string }
			var lines struct{ Items []logLine }
			runPath := fmt.Sprintf("/api/v1/replication/runs/%d", run.ID)
			for start := time.Now(); len(lines.Items) == 0; time.Sleep(100 * time.Millisecond) {
				if time.Since(start) > 30*time.Second {
					t.Fatal("team/a:v1 was not copied within 30s")
				}
				replGet(t, src, runPath+"/log", &lines)
			}
			time.Sleep(2 * time.Second) // into the big blob
			replGet(t, src, runPath, &run)
			if run.State != "running" || len(lines.Items) != 1 || lines.Items[0].Source != "team/a:v1" {
				t.Fatalf("before the kill: %+v %+v", run, lines)
			}
			holder := 0
			for i, p := range replicas {
				if jobRuns(t, "http://"+p.addr, "replication") > 0 {
					holder = i
				}
			}
			replicas[holder].kill()
			t.Logf("killed replica %d in the middle of team/big:v1", holder)
			tools.digest(W+"/team/big:v1", false)

			survivor := replicas[(holder+1)%len(replicas)]
			if len(replicas) == 1 {
				survivor = startWharfAt(t, srcDir, replPort(t), env...)
			}
			for start := time.Now(); run.State == "running" || run.State == "queued"; time.Sleep(200 * time.Millisecond) {
				if time.Since(start) > 60*time.Second {
					t.Fatalf("the run did not end within 60s of the kill: %+v", run)
				}
				replGet(t, survivor, runPath, &run)
			}
			replGet(t, survivor, runPath+"/log", &lines)
			want := []logLine{{"team/a:v1", "copied"}, {"team/big:v1", "copied"}}
			if run.State != "succeeded" || run.Attempts != 2 || fmt.Sprint(lines.Items) != fmt.Sprint(want) {
				var why struct {
					Items []struct{ Source, Result, Reason string }
				}
				replGet(t, survivor, runPath+"/log", &why)
				t.Logf("the run's log, with reasons: %+v", why.Items)
				t.Fatalf("after the resume: %+v, log %+v; want succeeded in 2 attempts, log %+v", run, lines.Items, want)
			}
			if got := tools.digest(W+"/team/a:v1", true); got != small {
				t.Errorf("team/a:v1 at the target: %s, want %s", got, small)
			}
			if got := tools.digest(W+"/team/big:v1", true); got != big {
				t.Errorf("team/big:v1 at the target: %s, want %s", got, big)
			}
		})
	}
}

// TestReplicationOnEvent: a push rule with --on-event copies what crane
// pushes, and deletes what crane deletes, within seconds, from the
// source's event stream, on both backends.
func TestReplicationOnEvent(t *testing.T) {
	for _, b := range e2eBackends(t) {
		t.Run(b.name, func(t *testing.T) {
			tools := newReplTools(t)
			src := startWharfAt(t, t.TempDir(), replPort(t), replEnv(t, b.env(t))...)
			dst := startWharfAt(t, t.TempDir(), replPort(t), replEnv(t, nil)...)
			S, W := src.addr, dst.addr
			tools.login(S, "admin", replAdminPW)
			tools.login(W, "admin", replAdminPW)
			addRule(t, src, replAdminPW, "--name", "on-event", "--push", "--remote", "http://"+W, "--username", "admin",
				"--repo", "team/**", "--tag", "semver", "--on-event", "--deletes")
			time.Sleep(500 * time.Millisecond) // the job's first look sets its cursor
			eventually := func(what string, ok func() bool) {
				t.Helper()
				for start := time.Now(); !ok(); time.Sleep(100 * time.Millisecond) {
					if time.Since(start) > 20*time.Second {
						t.Fatalf("%s: not within 20s", what)
					}
				}
			}
			quiet := func(name string, args ...string) *exec.Cmd {
				cmd := exec.Command(name, args...)
				cmd.Dir, cmd.Env = tools.dir, append(os.Environ(), tools.env...)
				return cmd
			}
			digestAt := func(ref string) string {
				out, err := quiet("crane", "--insecure", "digest", ref).Output()
				if err != nil {
					return ""
				}
				return strings.TrimSpace(string(out))
			}
			d := tools.push(S+"/team/app:1.0.0", "one", 0)
			tools.push(S+"/team/app:latest", "latest", 0)
			tools.run(true, "cosign", "generate-key-pair")
			eventually("team/app:1.0.0 at the destination", func() bool { return digestAt(W+"/team/app:1.0.0") == d })
			tools.run(true, "cosign", "sign", "--key=cosign.key", "--tlog-upload=false", "-y", "--allow-http-registry", "--allow-insecure-registry", S+"/team/app@"+d)
			eventually("the signature at the destination", func() bool {
				return quiet("cosign", "verify", "--key", "cosign.pub", "--insecure-ignore-tlog=true",
					"--allow-http-registry", "--allow-insecure-registry", W+"/team/app@"+d).Run() == nil
			})
			tools.run(true, "crane", "--insecure", "delete", S+"/team/app@"+d)
			eventually("team/app:1.0.0 deleted at the destination", func() bool { return digestAt(W+"/team/app:1.0.0") == "" })
			if digestAt(W+"/team/app:latest") != "" {
				t.Fatal("team/app:latest was replicated: the rule selects semver tags")
			}
		})
	}
}
