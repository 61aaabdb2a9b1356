package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/wharf-dev/wharf/internal/oci"
	"github.com/wharf-dev/wharf/internal/remote"
)

// TestBackupRestore backs up a registry while pushes go on, images are
// deleted and garbage collection runs (the server's own job every 200 ms and
// wharf gc in a loop beside it, with a 100 ms grace), then restores the
// backup into fresh stores: every image acknowledged before the backup
// started pulls whole there, byte for byte, and wharf scrub finds nothing.
// A second backup copies only blobs the first did not have. On S3 +
// PostgreSQL two replicas serve and collect, and the restore goes into a
// new prefix and a new database.
func TestBackupRestore(t *testing.T) {
	for _, b := range e2eBackends(t) {
		t.Run(b.name, func(t *testing.T) {
			env := append(b.env(t), "WHARF_GC_INTERVAL=200ms", "WHARF_GC_RELEASED_GRACE=100ms", "WHARF_GC_UNREFERENCED_GRACE=1m")
			dataDir := t.TempDir()
			servers := []*wharfProcess{startWharf(t, dataDir, env...)}
			if b.name != "fs+sqlite" {
				servers = append(servers, startWharf(t, t.TempDir(), env...))
			}
			cmdEnv := append([]string{"WHARF_DATA_DIR=" + dataDir}, env...)
			load := startLoad(t, servers)
			load.seed(t, 30)

			// Pushes, deletions and collections go on around the backup.
			stop := make(chan struct{})
			var wg sync.WaitGroup
			wg.Go(func() { load.run(t, stop) })
			var gcRuns, gcHeld int
			wg.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					gc := exec.Command(binary, "gc", "--json")
					gc.Env = append(os.Environ(), cmdEnv...)
					out, err := gc.Output()
					var rep struct{ Held int }
					if err == nil && json.Unmarshal(out, &rep) == nil { // a failed collection changes nothing checked here
						gcRuns++
						gcHeld += rep.Held
					}
				}
			})
			time.Sleep(300 * time.Millisecond)
			acked := load.acknowledged()
			dir := filepath.Join(t.TempDir(), "backup")
			out := wharfCmd(t, cmdEnv, true, "backup", dir)
			time.Sleep(300 * time.Millisecond)
			close(stop)
			wg.Wait()
			if load.deleted() == 0 {
				t.Fatalf("the load deleted no image during the test; it proves nothing about garbage collection")
			}
			t.Logf("backup of %d acknowledged images during %d pushes, %d deletions and %d runs of wharf gc, which left %d blobs' bytes for after the backup: %s",
				len(acked), load.pushed(), load.deleted(), gcRuns, gcHeld, out)

			// A second backup copies only what is new.
			again := wharfCmd(t, cmdEnv, true, "backup", dir)
			var copied, present int
			if _, err := fmt.Sscanf(again[strings.Index(again, "copied "):], "copied %d", &copied); err != nil {
				t.Fatalf("second backup: %s", again)
			}
			if _, err := fmt.Sscanf(again[strings.LastIndex(again, ", ")+2:], "%d were in the directory already", &present); err != nil || present == 0 || copied >= present {
				t.Fatalf("the second backup copied %d blobs and found %d present:\n%s", copied, present, again)
			}

			// Restore the first snapshot into fresh stores.
			snaps := wharfCmd(t, nil, true, "restore", "--list", dir)
			lines := strings.Split(strings.TrimSpace(snaps), "\n")
			if len(lines) != 3 {
				t.Fatalf("restore --list after two backups:\n%s", snaps)
			}
			first := strings.Fields(lines[1])[0] // under the header, oldest first
			target := append([]string{"WHARF_DATA_DIR=" + t.TempDir()}, b.env(t)...)
			wharfCmd(t, target, true, "restore", "--snapshot", first, dir)
			if out := wharfCmd(t, target, false, "restore", "--snapshot", first, dir); !strings.Contains(out, "needs an empty") {
				t.Fatalf("a restore into the restored stores was not refused for them not being empty:\n%s", out)
			}
			if out := wharfCmd(t, target, true, "scrub"); !strings.Contains(out, ": 0 problems") {
				t.Fatalf("scrub of the restored registry:\n%s", out)
			}
			restored := startWharfEnv(t, target)
			c, err := remote.New(remote.Options{URL: "http://" + restored.addr})
			if err != nil {
				t.Fatal(err)
			}
			for _, img := range acked {
				pullWhole(t, c, img)
			}
			t.Logf("%d images pulled whole from the restored registry", len(acked))
		})
	}
}

// wharfCmd runs the wharf binary with env and returns its output; the test
// fails unless it succeeds (ok) or fails (!ok).
func wharfCmd(t *testing.T, env []string, ok bool, args ...string) string {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if (err == nil) != ok {
		t.Fatalf("wharf %s: %v, want success %v:\n%s", strings.Join(args, " "), err, ok, out.String())
	}
	return out.String()
}

// startWharfEnv serves the stores env names (WHARF_DATA_DIR among them).
func startWharfEnv(t *testing.T, env []string) *wharfProcess {
	t.Helper()
	var dir string
	for _, e := range env {
		if v, ok := strings.CutPrefix(e, "WHARF_DATA_DIR="); ok {
			dir = v
		}
	}
	return startWharf(t, dir, env...)
}

// image is one image the load pushed.
type image struct {
	repo, tag string
	manifest  oci.Descriptor
	blobs     []oci.Descriptor
}

// load pushes images to a registry's replicas, round robin, and deletes
// some again.
type load struct {
	clients []*remote.Client
	mu      sync.Mutex
	keep    []image // pushed and never deleted, in the order acknowledged
	n, dels int
}

func startLoad(t *testing.T, servers []*wharfProcess) *load {
	l := &load{}
	for _, s := range servers {
		c, err := remote.New(remote.Options{URL: "http://" + s.addr})
		if err != nil {
			t.Fatal(err)
		}
		l.clients = append(l.clients, c)
	}
	return l
}

// push pushes one image of two random layers to repo:tag.
func (l *load) push(ctx context.Context, repo, tag string) (image, error) {
	l.mu.Lock()
	c := l.clients[l.n%len(l.clients)]
	l.n++
	l.mu.Unlock()
	img := image{repo: repo, tag: tag}
	var diffIDs []digest.Digest
	for _, size := range []int{64 << 10, 256 << 10} {
		b := make([]byte, size)
		_, _ = rand.Read(b)
		d := oci.Descriptor{MediaType: v1.MediaTypeImageLayer, Digest: digest.FromBytes(b), Size: int64(size)}
		if err := c.PutBlob(ctx, repo, d, bytes.NewReader(b)); err != nil {
			return img, err
		}
		img.blobs = append(img.blobs, d)
		diffIDs = append(diffIDs, d.Digest)
	}
	cfg, _ := json.Marshal(v1.Image{Platform: v1.Platform{OS: "linux", Architecture: "amd64"}, RootFS: v1.RootFS{Type: "layers", DiffIDs: diffIDs}})
	cd := oci.Descriptor{MediaType: v1.MediaTypeImageConfig, Digest: digest.FromBytes(cfg), Size: int64(len(cfg))}
	if err := c.PutBlob(ctx, repo, cd, bytes.NewReader(cfg)); err != nil {
		return img, err
	}
	m := v1.Manifest{MediaType: v1.MediaTypeImageManifest, Config: cd, Layers: img.blobs}
	m.SchemaVersion = 2
	payload, _ := json.Marshal(m)
	img.manifest = oci.Descriptor{MediaType: m.MediaType, Digest: digest.FromBytes(payload), Size: int64(len(payload))}
	img.blobs = append(img.blobs, cd)
	return img, c.PutManifest(ctx, repo, tag, img.manifest, payload)
}

// seed pushes n images to keep.
func (l *load) seed(t *testing.T, n int) {
	for i := range n {
		img, err := l.push(context.Background(), fmt.Sprintf("keep/seed%d", i%5), fmt.Sprintf("v%d", i))
		if err != nil {
			t.Fatalf("seed push: %v", err)
		}
		l.mu.Lock()
		l.keep = append(l.keep, img)
		l.mu.Unlock()
	}
}

// run pushes images to keep and images it deletes again at once (their
// blobs go to garbage collection), until stop.
func (l *load) run(t *testing.T, stop <-chan struct{}) {
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		default:
		}
		ctx := context.Background()
		img, err := l.push(ctx, "keep/load", fmt.Sprintf("t%d", i))
		if err == nil {
			l.mu.Lock()
			l.keep = append(l.keep, img)
			l.mu.Unlock()
		}
		gone, err := l.push(ctx, "churn/load", fmt.Sprintf("t%d", i))
		if err == nil && l.deleteManifest(gone) == nil {
			l.mu.Lock()
			l.dels++
			l.mu.Unlock()
		}
	}
}

func (l *load) deleteManifest(img image) error {
	host := l.clients[0].Host()
	req, _ := http.NewRequest(http.MethodDelete, "http://"+host+"/v2/"+img.repo+"/manifests/"+img.manifest.Digest.String(), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("delete %s: %s", img.manifest.Digest, resp.Status)
	}
	return nil
}

func (l *load) acknowledged() []image {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]image(nil), l.keep...)
}

func (l *load) pushed() int  { l.mu.Lock(); defer l.mu.Unlock(); return l.n }
func (l *load) deleted() int { l.mu.Lock(); defer l.mu.Unlock(); return l.dels }

// pullWhole pulls img by tag and every blob of it, checking digests.
func pullWhole(t *testing.T, c *remote.Client, img image) {
	t.Helper()
	ctx := context.Background()
	d, _, err := c.Manifest(ctx, img.repo, img.tag)
	if err != nil || d.Digest != img.manifest.Digest {
		t.Fatalf("%s:%s in the restored registry: %v, %s; want %s", img.repo, img.tag, err, d.Digest, img.manifest.Digest)
	}
	for _, b := range img.blobs {
		rc, err := c.OpenBlob(ctx, img.repo, b.Digest)
		if err != nil {
			t.Fatalf("%s:%s: blob %s: %v", img.repo, img.tag, b.Digest, err)
		}
		v := digest.Canonical.Digester()
		n, err := io.Copy(v.Hash(), rc)
		rc.Close()
		if err != nil || n != b.Size || v.Digest() != b.Digest {
			t.Fatalf("%s:%s: blob %s: %d bytes with digest %s, %v", img.repo, img.tag, b.Digest, n, v.Digest(), err)
		}
	}
}
