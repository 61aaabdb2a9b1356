package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/gc"
	"github.com/wharf-dev/wharf/internal/meta"
)

// TestGCStress pushes, tags, re-tags, deletes, mounts and pulls from many
// goroutines while garbage collection runs in a loop with grace periods of
// milliseconds, over a small pool of shared layers so that the same blobs
// are deleted and pushed again all the time. During the run every byte
// served must match its digest and a tagged image must never lose a blob;
// afterwards every tagged image must be complete, and once the grace
// periods are over, the stores must hold exactly what the tagged images
// reference. WHARF_GC_STRESS sets how long the load runs per backend
// (default 3s).
func TestGCStress(t *testing.T) {
	load := 3 * time.Second
	if v := os.Getenv("WHARF_GC_STRESS"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("WHARF_GC_STRESS: %v", err)
		}
		load = d
	}
	if testing.Short() {
		load = time.Second
	}
	eachBackend(t, func(t *testing.T, b backend) {
		cfg := newConfig(t, b)
		cfg.GC.Interval = 0
		cfg.GC.ReleasedGrace = 20 * time.Millisecond
		cfg.GC.UnreferencedGrace = 100 * time.Millisecond
		tr := openTestRegistry(t, cfg)
		st := &stress{t: t, base: tr.srv.URL}

		ctx, cancel := context.WithTimeout(context.Background(), load)
		defer cancel()
		var runs atomic.Int64
		var gcErr error
		gcDone := make(chan struct{})
		go func() {
			defer close(gcDone)
			for ctx.Err() == nil {
				if _, err := tr.s.CollectGarbage(ctx, gc.RunOptions{}); err != nil && ctx.Err() == nil {
					gcErr = err
					return
				}
				runs.Add(1)
				time.Sleep(2 * time.Millisecond)
			}
		}()
		var wg sync.WaitGroup
		for w := range 8 {
			wg.Go(func() { st.worker(ctx, rand.New(rand.NewPCG(uint64(w), 42))) })
		}
		wg.Wait()
		<-gcDone
		if gcErr != nil {
			t.Fatalf("collector: %v", gcErr)
		}
		t.Logf("%d operations, %d collector runs", st.ops.Load(), runs.Load())
		if t.Failed() {
			return
		}

		// Every tagged image is complete.
		want := st.verifyTagged()
		// Once the grace periods are over, nothing else is left.
		for i := 0; ; i++ {
			time.Sleep(cfg.GC.UnreferencedGrace + 10*time.Millisecond)
			rep := tr.collect(gc.RunOptions{})
			if rep.Reviewed == 0 {
				break
			}
			if i == 20 {
				t.Fatalf("collector still busy after %d runs: %+v", i, rep)
			}
		}
		st.verifyTagged()
		if got := tr.storedBlobs(); !slices.Equal(got, want) {
			t.Errorf("content store holds %d blobs, tagged images reference %d:\nextra %v\nmissing %v",
				len(got), len(want), minus(got, want), minus(want, got))
		}
		var rows []digest.Digest
		bs, err := tr.s.MetaStore().(meta.GCReader).Blobs(context.Background(), "", 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range bs {
			rows = append(rows, b.Digest)
		}
		if !slices.Equal(rows, want) {
			t.Errorf("metadata records %d blobs, tagged images reference %d:\nextra %v\nmissing %v",
				len(rows), len(want), minus(rows, want), minus(want, rows))
		}
	})
}

func minus(a, b []digest.Digest) []digest.Digest {
	var out []digest.Digest
	for _, d := range a {
		if !slices.Contains(b, d) {
			out = append(out, d)
		}
	}
	return out
}

var (
	stressRepos = []string{"s/a", "s/b", "s/c"}
	stressTags  = []string{"t0", "t1", "t2"}
)

// stressLayer is layer i of the shared pool, 1 KiB.
func stressLayer(i int) []byte {
	return append([]byte(fmt.Sprintf("layer %d ", i)), bytes.Repeat([]byte{byte(i)}, 1024)...)
}

type stress struct {
	t    *testing.T
	base string
	ops  atomic.Int64
}

type reply struct {
	status int
	header http.Header
	body   []byte
}

func (st *stress) call(method, path string, body []byte, hdr ...string) (reply, error) {
	url := path
	if path != "" && path[0] == '/' {
		url = st.base + path
	}
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		return reply{}, err
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return reply{resp.StatusCode, resp.Header, b}, err
}

func (r reply) code() string {
	var e struct{ Errors []struct{ Code string } }
	if json.Unmarshal(r.body, &e) != nil || len(e.Errors) == 0 {
		return ""
	}
	return e.Errors[0].Code
}

// errRetry: the push met garbage collection removing something it relied
// on (a blob it saw in place), which a client answers by pushing again.
var errRetry = errors.New("retry")

func (st *stress) worker(ctx context.Context, rnd *rand.Rand) {
	for ctx.Err() == nil {
		repo, tag := stressRepos[rnd.IntN(len(stressRepos))], stressTags[rnd.IntN(len(stressTags))]
		var err error
		switch op := rnd.IntN(10); {
		case op < 3:
			err = st.retry(func() error { _, err := st.pushImage(rnd, repo, tag); return err })
		case op < 4:
			err = st.retry(func() error { return st.pushIndex(rnd, repo, tag) })
		case op < 5:
			_, err = st.call("DELETE", "/v2/"+repo+"/manifests/"+tag, nil)
		case op < 6:
			err = st.deleteByDigest(repo, tag)
		case op < 9:
			err = st.pull(repo, tag)
		default:
			err = st.mount(rnd, repo)
		}
		if err != nil {
			st.t.Error(err)
			return
		}
		st.ops.Add(1)
	}
}

// retry runs push until it succeeds, pushing again when garbage
// collection got in its way, at most 30 times (its grace periods are
// tiny, so on a loaded machine a push can lose several races in a row).
func (st *stress) retry(push func() error) error {
	var err error
	for range 30 {
		if err = push(); !errors.Is(err, errRetry) {
			return err
		}
	}
	return fmt.Errorf("push still racing garbage collection after 30 attempts: %w", err)
}

// ensureBlob makes b readable in repo as a client does: HEAD, else mount
// from another repository, else upload.
func (st *stress) ensureBlob(rnd *rand.Rand, repo string, b []byte) error {
	d := digest.FromBytes(b)
	r, err := st.call("HEAD", "/v2/"+repo+"/blobs/"+d.String(), nil)
	if err != nil || r.status == http.StatusOK {
		return err
	}
	if rnd.IntN(2) == 0 {
		from := stressRepos[rnd.IntN(len(stressRepos))]
		r, err := st.call("POST", "/v2/"+repo+"/blobs/uploads/?mount="+d.String()+"&from="+from, nil)
		if err != nil || r.status == http.StatusCreated {
			return err
		}
		if r.status == http.StatusAccepted { // no mount; use the upload it started
			return st.finishUpload(r.header.Get("Location"), b)
		}
		return fmt.Errorf("mount %s into %s: status %d %s", d, repo, r.status, r.body)
	}
	r, err = st.call("POST", "/v2/"+repo+"/blobs/uploads/", nil)
	if err != nil {
		return err
	}
	if r.status != http.StatusAccepted {
		return fmt.Errorf("start upload: status %d %s", r.status, r.body)
	}
	return st.finishUpload(r.header.Get("Location"), b)
}

func (st *stress) finishUpload(loc string, b []byte) error {
	d := digest.FromBytes(b)
	sep := "?"
	if bytes.ContainsRune([]byte(loc), '?') {
		sep = "&"
	}
	r, err := st.call("PUT", loc+sep+"digest="+d.String(), b, "Content-Type", "application/octet-stream")
	if err != nil {
		return err
	}
	switch {
	case r.status == http.StatusCreated:
		return nil
	case r.code() == "BLOB_UPLOAD_INVALID":
		return fmt.Errorf("%w: commit %s: %s", errRetry, d, r.body) // collected under the commit
	}
	return fmt.Errorf("commit %s: status %d %s", d, r.status, r.body)
}

// pushImage pushes an image of two pool layers and a config under ref, or
// by digest when ref is empty. Images pushed by digest (index children)
// have configs of their own: deleting a tagged image by digest, which a
// worker does, must not delete an index's child, which a client may do but
// which breaks the index.
func (st *stress) pushImage(rnd *rand.Rand, repo, ref string) ([]byte, error) {
	cfg := []byte(fmt.Sprintf(`{"config":%d}`, rnd.IntN(6)))
	if ref == "" {
		cfg = []byte(fmt.Sprintf(`{"child":%d}`, rnd.IntN(6)))
	}
	l1, l2 := stressLayer(rnd.IntN(12)), stressLayer(rnd.IntN(12))
	for _, b := range [][]byte{cfg, l1, l2} {
		if err := st.ensureBlob(rnd, repo, b); err != nil {
			return nil, err
		}
	}
	m := image(cfg, l1, l2)
	if ref == "" {
		ref = digest.FromBytes(m).String()
	}
	return m, st.putManifest(repo, ref, m, ociManifest)
}

func (st *stress) putManifest(repo, ref string, m []byte, mediaType string) error {
	r, err := st.call("PUT", "/v2/"+repo+"/manifests/"+ref, m, "Content-Type", mediaType)
	switch {
	case err != nil:
		return err
	case r.status == http.StatusCreated:
		return nil
	case r.code() == "MANIFEST_BLOB_UNKNOWN":
		return fmt.Errorf("%w: put manifest %s:%s: %s", errRetry, repo, ref, r.body) // a blob or child it saw went before the PUT
	}
	return fmt.Errorf("put manifest %s:%s: status %d %s", repo, ref, r.status, r.body)
}

// pushIndex pushes two images by digest and an index of them under tag.
func (st *stress) pushIndex(rnd *rand.Rand, repo, tag string) error {
	var entries []string
	for range 2 {
		m, err := st.pushImage(rnd, repo, "")
		if err != nil {
			return err
		}
		entries = append(entries, fmt.Sprintf(`{"mediaType":%q,"digest":"%s","size":%d}`, ociManifest, digest.FromBytes(m), len(m)))
	}
	idx := []byte(fmt.Sprintf(`{"schemaVersion":2,"mediaType":%q,"manifests":[%s,%s]}`, ociIndex, entries[0], entries[1]))
	return st.putManifest(repo, tag, idx, ociIndex)
}

func (st *stress) deleteByDigest(repo, tag string) error {
	r, err := st.call("HEAD", "/v2/"+repo+"/manifests/"+tag, nil, "Accept", ociManifest+","+ociIndex)
	if err != nil || r.status != http.StatusOK {
		return err
	}
	_, err = st.call("DELETE", "/v2/"+repo+"/manifests/"+r.header.Get("Docker-Content-Digest"), nil)
	return err
}

func (st *stress) mount(rnd *rand.Rand, repo string) error {
	d := digest.FromBytes(stressLayer(rnd.IntN(12)))
	from := stressRepos[rnd.IntN(len(stressRepos))]
	r, err := st.call("POST", "/v2/"+repo+"/blobs/uploads/?mount="+d.String()+"&from="+from, nil)
	if err != nil || r.status != http.StatusAccepted {
		return err
	}
	_, err = st.call("DELETE", r.header.Get("Location"), nil) // no mount: cancel the upload
	return err
}

// pull pulls repo:tag and checks every byte. A blob that is missing is a
// failure unless the tag moved away meanwhile.
func (st *stress) pull(repo, tag string) error {
	r, err := st.call("GET", "/v2/"+repo+"/manifests/"+tag, nil, "Accept", ociManifest+","+ociIndex)
	if err != nil || r.status == http.StatusNotFound {
		return err
	}
	if r.status != http.StatusOK {
		return fmt.Errorf("pull %s:%s: status %d %s", repo, tag, r.status, r.body)
	}
	md := digest.FromBytes(r.body)
	if md.String() != r.header.Get("Docker-Content-Digest") {
		return fmt.Errorf("pull %s:%s: manifest bytes do not match %s", repo, tag, r.header.Get("Docker-Content-Digest"))
	}
	blobs, err := st.blobsOf(repo, r.body)
	if err != nil {
		return st.unlessMoved(repo, tag, md, err)
	}
	for _, d := range blobs {
		if err := st.getBlob(repo, d); err != nil {
			return st.unlessMoved(repo, tag, md, err)
		}
	}
	return nil
}

// unlessMoved returns err if repo:tag still names md after a second look.
func (st *stress) unlessMoved(repo, tag string, md digest.Digest, err error) error {
	r, herr := st.call("HEAD", "/v2/"+repo+"/manifests/"+tag, nil, "Accept", ociManifest+","+ociIndex)
	if herr != nil {
		return herr
	}
	if r.status == http.StatusOK && r.header.Get("Docker-Content-Digest") == md.String() {
		return fmt.Errorf("tagged image %s:%s (%s) is broken: %w", repo, tag, md, err)
	}
	return nil
}

// blobsOf returns the blobs of the manifest m of repo and, for an index,
// of its children, fetched by digest.
func (st *stress) blobsOf(repo string, m []byte) ([]digest.Digest, error) {
	var doc struct {
		Config    struct{ Digest digest.Digest }
		Layers    []struct{ Digest digest.Digest }
		Manifests []struct{ Digest digest.Digest }
	}
	if err := json.Unmarshal(m, &doc); err != nil {
		return nil, err
	}
	var out []digest.Digest
	if doc.Config.Digest != "" {
		out = append(out, doc.Config.Digest)
	}
	for _, l := range doc.Layers {
		out = append(out, l.Digest)
	}
	for _, c := range doc.Manifests {
		r, err := st.call("GET", "/v2/"+repo+"/manifests/"+c.Digest.String(), nil, "Accept", ociManifest)
		if err != nil {
			return nil, err
		}
		if r.status != http.StatusOK || digest.FromBytes(r.body) != c.Digest {
			return nil, fmt.Errorf("child %s: status %d", c.Digest, r.status)
		}
		bs, err := st.blobsOf(repo, r.body)
		if err != nil {
			return nil, err
		}
		out = append(out, bs...)
	}
	return out, nil
}

// getBlob fetches blob d of repo, failing on any byte that does not match.
func (st *stress) getBlob(repo string, d digest.Digest) error {
	r, err := st.call("GET", "/v2/"+repo+"/blobs/"+d.String(), nil)
	if err != nil {
		return err
	}
	if r.status != http.StatusOK {
		return fmt.Errorf("blob %s: status %d %s", d, r.status, r.body)
	}
	if digest.FromBytes(r.body) != d {
		st.t.Errorf("blob %s of %s: served bytes with digest %s", d, repo, digest.FromBytes(r.body))
	}
	return nil
}

// verifyTagged checks every tagged image is complete and returns the
// blobs they reference, sorted.
func (st *stress) verifyTagged() []digest.Digest {
	var all []digest.Digest
	for _, repo := range stressRepos {
		r, err := st.call("GET", "/v2/"+repo+"/tags/list", nil)
		if err != nil {
			st.t.Fatal(err)
		}
		var list struct{ Tags []string }
		_ = json.Unmarshal(r.body, &list)
		for _, tag := range list.Tags {
			r, err := st.call("GET", "/v2/"+repo+"/manifests/"+tag, nil, "Accept", ociManifest+","+ociIndex)
			if err != nil || r.status != http.StatusOK {
				st.t.Fatalf("tag %s:%s: status %d %v", repo, tag, r.status, err)
			}
			blobs, err := st.blobsOf(repo, r.body)
			if err != nil {
				st.t.Errorf("tagged image %s:%s: %v", repo, tag, err)
				continue
			}
			for _, d := range blobs {
				if err := st.getBlob(repo, d); err != nil {
					st.t.Errorf("tagged image %s:%s: %v", repo, tag, err)
				}
			}
			all = append(all, blobs...)
		}
	}
	slices.Sort(all)
	return slices.Compact(all)
}
