package e2e

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// The upstreams of the pull-through cache tests: the CNCF distribution
// registry 2.8 as Debian packages it (docker-registry, installed by
// .ci/run), with htpasswd authentication, and a second wharf.

// upstreamRegistry is a running docker-registry with htpasswd authentication
// (user upstreamUser), counting from its access log the requests it
// answered.
type upstreamRegistry struct {
	t    *testing.T
	addr string
	dir  string
	cmd  *exec.Cmd
	done chan struct{}
	mu   sync.Mutex
	log  bytes.Buffer
}

const (
	upstreamUser     = "mirror"
	upstreamPassword = "mirror-password"
)

// startUpstreamRegistry runs docker-registry on a free loopback port with its
// storage in a directory of the test's.
func startUpstreamRegistry(t *testing.T) *upstreamRegistry {
	t.Helper()
	needTools(t, "docker-registry")
	d := &upstreamRegistry{t: t, addr: freeAddr(t), dir: t.TempDir()}
	hash, err := bcrypt.GenerateFromPassword([]byte(upstreamPassword), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(d.dir, "htpasswd"), upstreamUser+":"+string(hash)+"\n")
	writeFile(t, filepath.Join(d.dir, "config.yml"), fmt.Sprintf(`version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
http:
  addr: %s
auth:
  htpasswd:
    realm: upstream
    path: %s
`, filepath.Join(d.dir, "storage"), d.addr, filepath.Join(d.dir, "htpasswd")))
	d.start()
	t.Cleanup(d.kill)
	return d
}

// start runs the registry (again, after kill, on the same port and storage).
func (d *upstreamRegistry) start() {
	d.t.Helper()
	d.cmd = exec.Command("docker-registry", "serve", filepath.Join(d.dir, "config.yml"))
	w := lockedWriter{mu: &d.mu, w: &d.log}
	d.cmd.Stdout, d.cmd.Stderr = w, w
	if err := d.cmd.Start(); err != nil {
		d.t.Fatal(err)
	}
	d.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { _ = cmd.Wait(); close(done) }(d.cmd, d.done)
	for i := 0; ; i++ {
		resp, err := http.Get("http://" + d.addr + "/v2/")
		if err == nil {
			resp.Body.Close()
			return
		}
		select {
		case <-d.done:
			d.t.Fatalf("docker-registry exited:\n%s", d.logText())
		case <-time.After(20 * time.Millisecond):
		}
		if i == 500 {
			d.t.Fatalf("docker-registry not up after 10s:\n%s", d.logText())
		}
	}
}

// kill stops the registry with SIGKILL.
func (d *upstreamRegistry) kill() {
	if d.cmd != nil && d.cmd.Process != nil {
		_ = d.cmd.Process.Signal(syscall.SIGKILL)
		<-d.done
	}
}

func (d *upstreamRegistry) logText() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.log.String()
}

// gets counts the GET requests for path (/v2/...) that the registry
// answered with 200 to a pull-through cache (by its User-Agent, so that
// the test's own reads are not counted), from its access log.
func (d *upstreamRegistry) gets(path string) int {
	re := regexp.MustCompile(`"GET ` + regexp.QuoteMeta(path) + `(\?[^ ]*)? HTTP/[0-9.]+" 200 [0-9]+ "[^"]*" "wharf \(pull-through cache\)"`)
	return len(re.FindAllString(d.logText(), -1))
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// craneAs runs crane with the credentials of user on registry host, in a
// configuration of the test's own.
func craneAs(t *testing.T, dir, host, user, password string) func(ok bool, args ...string) string {
	t.Helper()
	env := []string{"DOCKER_CONFIG=" + filepath.Join(dir, "crane-"+strings.ReplaceAll(host, ":", "_"))}
	if user != "" {
		sh(t, dir, env, true, "crane", "auth", "login", host, "-u", user, "-p", password)
	}
	return func(ok bool, args ...string) string {
		t.Helper()
		return sh(t, dir, env, ok, "crane", append([]string{"--insecure"}, args...)...)
	}
}

// pushLayers pushes an image of one layer per content to ref with crane
// and returns its digest.
func pushLayers(t *testing.T, crane func(bool, ...string) string, dir, ref string, contents ...string) string {
	t.Helper()
	var args []string
	for i, c := range contents {
		layer := filepath.Join(dir, fmt.Sprintf("layer-%d-%s.tar", i, randomHex()))
		src := filepath.Join(dir, "src-"+randomHex())
		writeFile(t, filepath.Join(src, fmt.Sprintf("file%d.txt", i)), c)
		sh(t, dir, nil, true, "tar", "-cf", layer, "-C", src, ".")
		args = append(args, "-f", layer)
	}
	crane(true, append([]string{"append", "--oci-empty-base", "-t", ref}, args...)...)
	return trimmed(crane(true, "digest", ref))
}

// throttle forwards connections to target at about rate bytes per second
// each way, so that a transfer lasts long enough to be interrupted. It is
// the network, not a registry: what it forwards is the upstream's.
type throttle struct {
	ln     net.Listener
	target string
	rate   int
}

func startThrottle(t *testing.T, target string, rate int) *throttle {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	th := &throttle{ln: ln, target: target, rate: rate}
	t.Cleanup(func() { ln.Close() })
	go th.serve()
	return th
}

func (th *throttle) addr() string { return th.ln.Addr().String() }

func (th *throttle) serve() {
	for {
		c, err := th.ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			up, err := net.Dial("tcp", th.target)
			if err != nil {
				return
			}
			defer up.Close()
			// Small socket buffers, set before any byte flows (which
			// turns off Linux's growing them to megabytes): the upstream
			// is held to the rate too, so that killing it cuts a transfer.
			_ = up.(*net.TCPConn).SetReadBuffer(64 << 10)
			_ = c.(*net.TCPConn).SetWriteBuffer(64 << 10)
			done := make(chan struct{}, 2)
			go func() { th.copy(up, c); done <- struct{}{} }()
			go func() { th.copy(c, up); done <- struct{}{} }()
			<-done
		}()
	}
}

// copy copies in 16 KiB steps, pausing to keep to the rate.
func (th *throttle) copy(dst, src net.Conn) {
	buf := make([]byte, 16<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
			time.Sleep(time.Duration(n) * time.Second / time.Duration(th.rate))
		}
		if err != nil {
			if tc, ok := dst.(*net.TCPConn); ok {
				_ = tc.CloseWrite()
			}
			return
		}
	}
}
