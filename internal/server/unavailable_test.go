package server_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/config"
)

// These tests stop a store under a running wharf and start it again. Each
// starts a PostgreSQL or versitygw of its own, on a free port, with the
// scripts every other test uses; the shared servers named by the
// environment are never touched, but their variables say the software is
// installed here.

func TestMetadataStoreOutage(t *testing.T) {
	t.Parallel()
	pg := startPostgres(t)
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.Database.Driver = "postgres"
	cfg.Database.Postgres.URL = pg.vars["WHARF_TEST_POSTGRES_URL"]
	tr := openTestRegistry(t, cfg)

	layer := []byte("layer pushed before the outage")
	m1, _ := tr.pushImage("app", "v1", []byte(`{"v":1}`), layer)
	// v2 is never read before the outage, so no cache can answer for it.
	m2, d2 := tr.pushImage("app", "v2", []byte(`{"v":2}`), layer)

	pg.stop()
	for _, ref := range []string{"v2", d2.String()} {
		wantUnavailable(t, "get manifest "+ref, tr.do("GET", "/v2/app/manifests/"+ref, nil, "Accept", ociManifest), "metadata store unavailable")
	}
	wantUnavailable(t, "head blob", tr.do("HEAD", "/v2/app/blobs/"+digest.FromBytes(layer).String(), nil), "")
	wantUnavailable(t, "start upload", tr.do("POST", "/v2/app/blobs/uploads/", nil), "metadata store unavailable")
	wantNotReady(t, tr, "metadata store")

	pg.start()
	want(t, "readyz after restart", tr.do("GET", "/readyz", nil), http.StatusOK, "")
	for ref, m := range map[string][]byte{"v1": m1, "v2": m2, d2.String(): m2} {
		r := tr.do("GET", "/v2/app/manifests/"+ref, nil, "Accept", ociManifest)
		want(t, "get manifest "+ref+" after restart", r, http.StatusOK, "")
		if !bytes.Equal(r.body, m) {
			t.Fatalf("manifest %s after restart = %s, want %s", ref, r.body, m)
		}
	}
	wantBlob(t, tr, "app", layer)
	tr.pushImage("app", "v3", []byte(`{"v":3}`), []byte("layer pushed after the outage"))
	want(t, "get v3", tr.do("GET", "/v2/app/manifests/v3", nil, "Accept", ociManifest), http.StatusOK, "")
}

func TestContentStoreOutage(t *testing.T) {
	t.Parallel()
	s3 := startS3(t)
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.Storage.Driver = "s3"
	cfg.Storage.S3 = config.S3Storage{
		Endpoint:        s3.vars["WHARF_TEST_S3_ENDPOINT"],
		Bucket:          s3.vars["WHARF_TEST_S3_BUCKET"],
		AccessKeyID:     s3.vars["WHARF_TEST_S3_ACCESS_KEY"],
		SecretAccessKey: s3.vars["WHARF_TEST_S3_SECRET_KEY"],
		PathStyle:       true,
		Prefix:          "outage",
	}
	tr := openTestRegistry(t, cfg)

	layer := []byte("layer pushed before the outage")
	m1, _ := tr.pushImage("app", "v1", []byte(`{"v":1}`), layer)
	pending := []byte("blob whose upload the outage interrupts")
	pd := digest.FromBytes(pending)
	r := tr.do("POST", "/v2/app/blobs/uploads/", nil)
	want(t, "start upload", r, http.StatusAccepted, "")
	location := r.header.Get("Location")

	s3.stop()
	wantUnavailable(t, "get blob", tr.do("GET", "/v2/app/blobs/"+digest.FromBytes(layer).String(), nil), "content store unavailable")
	wantUnavailable(t, "commit upload", tr.do("PUT", location+"?digest="+pd.String(), pending, "Content-Type", "application/octet-stream"), "content store unavailable")
	// Manifests live in the database alone: pulls of them carry on.
	r = tr.do("GET", "/v2/app/manifests/v1", nil, "Accept", ociManifest)
	want(t, "get manifest during the outage", r, http.StatusOK, "")
	wantNotReady(t, tr, "content store")

	s3.start()
	want(t, "readyz after restart", tr.do("GET", "/readyz", nil), http.StatusOK, "")
	wantBlob(t, tr, "app", layer)
	// The upload the outage interrupted is still there to finish.
	r = tr.do("PUT", location+"?digest="+pd.String(), pending, "Content-Type", "application/octet-stream")
	want(t, "commit upload after restart", r, http.StatusCreated, "")
	wantBlob(t, tr, "app", pending)
	r = tr.do("GET", "/v2/app/manifests/v1", nil, "Accept", ociManifest)
	want(t, "get manifest after restart", r, http.StatusOK, "")
	if !bytes.Equal(r.body, m1) {
		t.Fatalf("manifest after restart = %s, want %s", r.body, m1)
	}
	tr.pushImage("app", "v2", []byte(`{"v":2}`), []byte("layer pushed after the outage"))
}

// wantUnavailable fails t unless r is a 503 UNAVAILABLE with a Retry-After
// and, for a GET, the message msg.
func wantUnavailable(t *testing.T, what string, r response, msg string) {
	t.Helper()
	want(t, what, r, http.StatusServiceUnavailable, "")
	if len(r.body) > 0 {
		want(t, what, r, http.StatusServiceUnavailable, "UNAVAILABLE")
		if !bytes.Contains(r.body, []byte(`"message":"`+msg+`"`)) {
			t.Fatalf("%s: body %s, want the message %q", what, r.body, msg)
		}
	}
	if r.header.Get("Retry-After") == "" {
		t.Fatalf("%s: no Retry-After", what)
	}
}

// wantNotReady fails t unless /readyz is 503 naming store, while /healthz,
// liveness only, stays 200.
func wantNotReady(t *testing.T, tr *testRegistry, store string) {
	t.Helper()
	r := tr.do("GET", "/readyz", nil)
	if r.status != http.StatusServiceUnavailable || !bytes.Contains(r.body, []byte(store)) {
		t.Fatalf("readyz: %d %s, want 503 naming the %s", r.status, r.body, store)
	}
	want(t, "healthz", tr.do("GET", "/healthz", nil), http.StatusOK, "")
}

// wantBlob fails t unless repo serves blob b whole.
func wantBlob(t *testing.T, tr *testRegistry, repo string, b []byte) {
	t.Helper()
	d := digest.FromBytes(b)
	r := tr.do("GET", "/v2/"+repo+"/blobs/"+d.String(), nil)
	want(t, "get blob "+d.String(), r, http.StatusOK, "")
	if !bytes.Equal(r.body, b) {
		t.Fatalf("blob %s = %q, want %q", d, r.body, b)
	}
}

// service is a server of a test's own that the test can stop and start.
type service struct {
	vars  map[string]string // what the start script exports
	start func()
	stop  func()
}

// requireInstalled skips t unless envVar is set, which the start scripts'
// users do once the software is installed; in CI it fails instead.
func requireInstalled(t *testing.T, envVar, script string) {
	t.Helper()
	if os.Getenv(envVar) != "" {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is not set; CI must run the outage tests (see scripts/%s)", envVar, script)
	}
	t.Skipf("%s is not set; eval \"$(scripts/%s ...)\" to run this test", envVar, script)
}

// startPostgres starts a throwaway PostgreSQL cluster; stop is a fast
// shutdown, as a restart or failover does it, and start runs the script again.
func startPostgres(t *testing.T) *service {
	requireInstalled(t, "WHARF_TEST_POSTGRES_URL", "start-postgres.sh")
	// Under the system's temp directory, not t.TempDir: as root the script
	// hands the directory to the postgres user, who cannot enter the test's.
	dir, err := os.MkdirTemp("", "wharf-outage-pg-")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(freePort(t))
	pidFile := filepath.Join(dir, "data", "postmaster.pid")
	s := &service{}
	s.start = func() { s.vars = runScript(t, nil, "start-postgres.sh", dir, port) }
	s.stop = func() {
		pid, ok := readPid(t, pidFile)
		if !ok {
			return
		}
		if err := syscall.Kill(pid, syscall.SIGINT); err != nil {
			t.Fatalf("stop postgres: %v", err)
		}
		waitFor(t, "postgres to stop", func() bool { _, err := os.Stat(pidFile); return errors.Is(err, os.ErrNotExist) })
	}
	t.Cleanup(func() {
		s.stop()
		_ = os.RemoveAll(dir)
	})
	s.start()
	return s
}

// startS3 starts a versitygw; stop kills it and start runs the script again,
// which keeps the keys of the first start.
func startS3(t *testing.T) *service {
	requireInstalled(t, "WHARF_TEST_S3_ENDPOINT", "start-s3.sh")
	dir := t.TempDir()
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	pidFile := filepath.Join(dir, "versitygw.pid")
	s := &service{}
	s.start = func() { s.vars = runScript(t, []string{"S3_ADDR=" + addr}, "start-s3.sh", dir) }
	s.stop = func() {
		pid, ok := readPid(t, pidFile)
		if !ok {
			return
		}
		_ = syscall.Kill(pid, syscall.SIGTERM)
		waitFor(t, "versitygw to stop", func() bool { return exited(pid) })
		_ = os.Remove(pidFile)
	}
	t.Cleanup(s.stop)
	s.start()
	return s
}

// runScript runs scripts/name and returns the variables it exports.
func runScript(t *testing.T, env []string, name string, args ...string) map[string]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join("..", "..", "scripts", name), args...)
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v\n%s", name, err, stderr.Bytes())
	}
	vars := map[string]string{}
	for _, line := range strings.Split(string(out), "\n") {
		k, v, ok := strings.Cut(strings.TrimPrefix(line, "export "), "=")
		if ok {
			vars[k] = strings.Trim(v, "'")
		}
	}
	return vars
}

// readPid returns the pid on the first line of file, if file exists.
func readPid(t *testing.T, file string) (int, bool) {
	t.Helper()
	b, err := os.ReadFile(file)
	if errors.Is(err, os.ErrNotExist) {
		return 0, false
	}
	if err != nil {
		t.Fatal(err)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return pid, true
}

// exited reports whether process pid is gone or a zombie: the scripts
// detach their servers, so the test cannot wait for them.
func exited(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return true
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	_, rest, _ := strings.Cut(string(stat), ") ")
	return strings.HasPrefix(rest, "Z")
}

func waitFor(t *testing.T, what string, done func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !done(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
