package e2e

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
)

// pushed is an image the registry acknowledged: its tag PUT returned 201.
type pushed struct {
	repo, tag string
	manifest  digest.Digest
	blobs     map[digest.Digest]int
}

// crashLoad pushes images with unique tags from several goroutines until
// stop closes, and records what was acknowledged and every blob attempted.
type crashLoad struct {
	base string
	mu   sync.Mutex
	acks []pushed
	all  map[digest.Digest]bool
}

func (l *crashLoad) run(stop <-chan struct{}, workers int, round int) {
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				l.pushOne(fmt.Sprintf("crash/r%d", w%3), fmt.Sprintf("t%d-%d-%d", round, w, i))
			}
		}(w)
	}
	wg.Wait()
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// pushOne pushes a config and two layers (one chunked) and a manifest; any
// error just ends the attempt, as it would for a client whose registry died.
func (l *crashLoad) pushOne(repo, tag string) {
	cfg, small, big := randomBytes(200), randomBytes(4096), randomBytes(512<<10+mrand.IntN(512<<10))
	blobs := map[digest.Digest]int{}
	for i, b := range [][]byte{cfg, small, big} {
		d := digest.FromBytes(b)
		l.mu.Lock()
		l.all[d] = true
		l.mu.Unlock()
		if !l.pushBlob(repo, b, i == 2) {
			return
		}
		blobs[d] = len(b)
	}
	m := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",`+
		`"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%d},"layers":[`+
		`{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"%s","size":%d},`+
		`{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"%s","size":%d}]}`,
		digest.FromBytes(cfg), len(cfg), digest.FromBytes(small), len(small), digest.FromBytes(big), len(big))
	resp, err := l.req("PUT", "/v2/"+repo+"/manifests/"+tag, []byte(m), "application/vnd.oci.image.manifest.v1+json", "")
	if err != nil || resp.StatusCode != http.StatusCreated {
		return
	}
	l.mu.Lock()
	l.acks = append(l.acks, pushed{repo, tag, digest.FromString(m), blobs})
	l.mu.Unlock()
}

func (l *crashLoad) pushBlob(repo string, b []byte, chunked bool) bool {
	d := digest.FromBytes(b)
	resp, err := l.req("POST", "/v2/"+repo+"/blobs/uploads/", nil, "", "")
	if err != nil || resp.StatusCode != http.StatusAccepted {
		return false
	}
	loc := resp.Header.Get("Location")
	rest := b
	if chunked {
		half := len(b) / 2
		resp, err = l.req("PATCH", loc, b[:half], "application/octet-stream", fmt.Sprintf("0-%d", half-1))
		if err != nil || resp.StatusCode != http.StatusAccepted {
			return false
		}
		loc, rest = resp.Header.Get("Location"), b[half:]
	}
	resp, err = l.req("PUT", loc+"?digest="+d.String(), rest, "application/octet-stream", "")
	return err == nil && resp.StatusCode == http.StatusCreated
}

func (l *crashLoad) req(method, path string, body []byte, ct, contentRange string) (*http.Response, error) {
	req, err := http.NewRequest(method, l.base+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	if contentRange != "" {
		req.Header.Set("Content-Range", contentRange)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp, nil
}

// TestCrashLosesNothing kills wharf with SIGKILL at random moments while
// images are pushed from many goroutines and while a slow upload streams,
// restarts it on the same data each time, and then checks that every
// acknowledged image is complete, that no blob is ever served with bytes
// that do not match its digest, and that the registry itself cleans up
// after the crashes: its garbage collection (every second here, so that it
// also runs during the pushes and the kills) sweeps the content store at
// start and records the bytes no row records for collection, so that
// `wharf scrub` finds nothing wrong afterwards. On fs + SQLite, and on S3 +
// PostgreSQL when the test services run.
func TestCrashLosesNothing(t *testing.T) {
	for _, b := range e2eBackends(t) {
		t.Run(b.name, func(t *testing.T) { crashLosesNothing(t, b) })
	}
}

func crashLosesNothing(t *testing.T, b e2eBackend) {
	dir := t.TempDir()
	env := append(b.env(t), "WHARF_GC_INTERVAL=1s")
	load := &crashLoad{all: map[digest.Digest]bool{}}
	rounds := 4
	slowBlob := randomBytes(16 << 20)
	slowDigest := digest.FromBytes(slowBlob)
	var slowLoc string
	var slowSent int64
	for round := 0; round < rounds; round++ {
		p := startWharf(t, dir, env...)
		load.base = "http://" + p.addr
		if round == 0 {
			slowLoc, slowSent = startSlowUpload(t, load, slowBlob)
		}
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() { load.run(stop, 6, round); close(done) }()
		time.Sleep(time.Duration(300+mrand.IntN(700)) * time.Millisecond)
		p.kill() // mid-push: uploads, commits and manifest writes are in flight
		close(stop)
		<-done
	}
	// Whether a kill landed between an upload's commit and its
	// transaction is chance; these bytes are what such a kill leaves.
	orphan := plantOrphan(t, dir, env)

	p := startWharf(t, dir, env...)
	load.base = "http://" + p.addr
	if len(load.acks) == 0 {
		t.Fatal("no image was acknowledged; the load did not run")
	}
	for _, a := range load.acks {
		checkImage(t, load.base, a)
	}
	for d := range load.all {
		checkBlobIsWholeOrAbsent(t, load.base, d)
	}
	finishSlowUpload(t, load, slowLoc, slowSent, slowBlob, slowDigest)
	waitForSweep(t, load.base)
	t.Logf("verified %d acknowledged images and %d blobs over %d crashes; %v orphans recorded", len(load.acks), len(load.all), rounds,
		metric(t, load.base, "wharf_gc_orphans_recorded_total"))
	if err := p.stop(); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(binary, "scrub")
	cmd.Env = append(append(os.Environ(), env...), "WHARF_DATA_DIR="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), " 0 problems") {
		t.Fatalf("wharf scrub after the crashes and a sweep: %v\n%s", err, out)
	}
	if strings.Contains(string(out), orphan.String()) {
		t.Fatalf("wharf scrub reported the planted orphan:\n%s", out)
	}
}

// waitForSweep waits until the registry at base has swept its content
// store once, as the first garbage collection after a start does.
func waitForSweep(t *testing.T, base string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for metric(t, base, "wharf_gc_sweeps_total") < 1 {
		if time.Now().After(deadline) {
			t.Fatal("no sweep for orphan bytes within 30s of the start (wharf_gc_sweeps_total is 0)")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// metric reads an unlabelled counter or gauge from base's /metrics; 0 if
// it is not there.
func metric(t *testing.T, base, name string) float64 {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			n, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("metric line %q: %v", line, err)
			}
			return n
		}
	}
	return 0
}

// startSlowUpload begins a chunked upload: one acknowledged 2 MiB chunk, then
// a second chunk streamed slowly so the crash lands in the middle of its body.
func startSlowUpload(t *testing.T, l *crashLoad, blob []byte) (string, int64) {
	t.Helper()
	resp, err := l.req("POST", "/v2/crash/slow/blobs/uploads/", nil, "", "")
	if err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("start slow upload: %v %v", resp, err)
	}
	// The acknowledged first chunk is large enough for the fs store's
	// direct writes, and ends mid-block.
	first := 6<<20 + 5
	resp, err = l.req("PATCH", resp.Header.Get("Location"), blob[:first], "application/octet-stream", fmt.Sprintf("0-%d", first-1))
	if err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("first slow chunk: %v %v", resp, err)
	}
	loc := resp.Header.Get("Location")
	go func() {
		pr, pw := io.Pipe()
		go func() {
			for off := first; off < first+4<<20; off += 64 << 10 {
				if _, err := pw.Write(blob[off : off+64<<10]); err != nil {
					return
				}
				time.Sleep(20 * time.Millisecond)
			}
			pw.Close()
		}()
		req, _ := http.NewRequest("PATCH", l.base+loc, pr)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	return loc, int64(first)
}

// finishSlowUpload resumes the slow upload from wherever the registry says it
// stands (at least the acknowledged chunk) and completes it.
func finishSlowUpload(t *testing.T, l *crashLoad, loc string, acked int64, blob []byte, d digest.Digest) {
	t.Helper()
	resp, err := l.req("GET", loc, nil, "", "")
	if err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("slow upload status after crashes: %v %v", resp, err)
	}
	end, err := strconv.ParseInt(strings.TrimPrefix(resp.Header.Get("Range"), "0-"), 10, 64)
	if err != nil || end+1 < acked {
		t.Fatalf("slow upload lost acknowledged bytes: Range %q, acknowledged %d", resp.Header.Get("Range"), acked)
	}
	resp, err = l.req("PUT", loc+"?digest="+d.String(), blob[end+1:], "application/octet-stream", fmt.Sprintf("%d-%d", end+1, len(blob)-1))
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("complete slow upload: %v %v", resp, err)
	}
	checkBlob(t, l.base, "crash/slow", d, len(blob))
}

func checkImage(t *testing.T, base string, a pushed) {
	t.Helper()
	resp, err := http.Get(base + "/v2/" + a.repo + "/manifests/" + a.tag)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || digest.FromBytes(body) != a.manifest {
		t.Fatalf("acknowledged image %s:%s lost: status %d", a.repo, a.tag, resp.StatusCode)
	}
	for d, size := range a.blobs {
		checkBlob(t, base, a.repo, d, size)
	}
}

func checkBlob(t *testing.T, base, repo string, d digest.Digest, size int) {
	t.Helper()
	resp, err := http.Get(base + "/v2/" + repo + "/blobs/" + d.String())
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || len(body) != size || digest.FromBytes(body) != d {
		t.Fatalf("blob %s of %s: status %d, %d bytes, want %d bytes", d, repo, resp.StatusCode, len(body), size)
	}
}

// checkBlobIsWholeOrAbsent: a blob a crash interrupted may be missing, but if
// any repository serves it, its bytes match its digest.
func checkBlobIsWholeOrAbsent(t *testing.T, base string, d digest.Digest) {
	t.Helper()
	for _, repo := range []string{"crash/r0", "crash/r1", "crash/r2"} {
		resp, err := http.Get(base + "/v2/" + repo + "/blobs/" + d.String())
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK && digest.FromBytes(body) != d {
			t.Fatalf("blob %s served from %s with the wrong bytes (%d bytes)", d, repo, len(body))
		}
	}
}
