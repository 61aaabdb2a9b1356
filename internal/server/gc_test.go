package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/auth"
	"github.com/wharf-dev/wharf/internal/config"
	"github.com/wharf-dev/wharf/internal/gc"
	"github.com/wharf-dev/wharf/internal/httpapi/mgmt"
)

const ociIndex = "application/vnd.oci.image.index.v1+json"

// gcConfig returns a configuration over b whose grace periods are zero and
// whose schedule is off: the test runs the collector itself.
func gcConfig(t *testing.T, b backend) config.Config {
	cfg := newConfig(t, b)
	cfg.GC.Interval, cfg.GC.ReleasedGrace, cfg.GC.UnreferencedGrace = 0, 0, 0
	return cfg
}

func (tr *testRegistry) collect(ro gc.RunOptions) gc.Report {
	tr.t.Helper()
	rep, err := tr.s.CollectGarbage(context.Background(), ro)
	if err != nil {
		tr.t.Fatalf("CollectGarbage: %v", err)
	}
	return rep
}

// storedBlobs returns the digests the content store holds, sorted.
func (tr *testRegistry) storedBlobs() []digest.Digest {
	tr.t.Helper()
	var ds []digest.Digest
	err := tr.s.ContentStore().Walk(context.Background(), func(d digest.Digest, _ int64) error {
		ds = append(ds, d)
		return nil
	})
	if err != nil {
		tr.t.Fatal(err)
	}
	slices.Sort(ds)
	return ds
}

func digestsOf(bs ...[]byte) []digest.Digest {
	var ds []digest.Digest
	for _, b := range bs {
		ds = append(ds, digest.FromBytes(b))
	}
	slices.Sort(ds)
	return slices.Compact(ds)
}

func TestGarbageCollection(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		tr := openTestRegistry(t, gcConfig(t, b))
		shared, cfgA, cfgB := []byte("shared layer"), []byte(`{"c":"a"}`), []byte(`{"c":"b"}`)
		onlyB, orphan := []byte("layer only b has"), []byte("uploaded, never referenced")
		tr.pushImage("app", "keep", cfgA, shared)
		_, dB := tr.pushImage("app", "drop", cfgB, shared, onlyB)
		tr.pushBlob("other", orphan)
		// The first run settles the uploads' reviews: every blob but the
		// orphan is referenced.
		rep := tr.collect(gc.RunOptions{})
		if rep.BlobsDeleted != 1 || rep.BytesFreed != int64(len(orphan)) || rep.ManifestsDeleted != 0 {
			t.Fatalf("first run: %+v, want the orphan deleted", rep)
		}
		want(t, "orphan", tr.do("GET", "/v2/other/blobs/"+digest.FromBytes(orphan).String(), nil), http.StatusNotFound, "BLOB_UNKNOWN")

		want(t, "untag drop", tr.do("DELETE", "/v2/app/manifests/drop", nil), http.StatusAccepted, "")
		// A dry run says what would go and deletes nothing.
		var would []gc.Deletion
		rep = tr.collect(gc.RunOptions{DryRun: true, OnDelete: func(d gc.Deletion) { would = append(would, d) }})
		if !rep.DryRun || rep.ManifestsDeleted != 1 || len(would) != 1 || would[0].Digest != dB || would[0].Repository != "app" {
			t.Fatalf("dry run: %+v %+v, want manifest %s", rep, would, dB)
		}
		want(t, "untagged manifest after dry run", tr.do("GET", "/v2/app/manifests/"+dB.String(), nil), http.StatusOK, "")

		// The untagged manifest goes, then the blobs only it referenced.
		rep = tr.collect(gc.RunOptions{})
		if rep.ManifestsDeleted != 1 || rep.BlobsDeleted != 0 {
			t.Fatalf("second run: %+v, want the manifest deleted", rep)
		}
		want(t, "deleted manifest", tr.do("GET", "/v2/app/manifests/"+dB.String(), nil), http.StatusNotFound, "MANIFEST_UNKNOWN")
		rep = tr.collect(gc.RunOptions{})
		if rep.BlobsDeleted != 2 || rep.BytesFreed != int64(len(cfgB)+len(onlyB)) {
			t.Fatalf("third run: %+v, want b's config and layer deleted", rep)
		}
		if got, want := tr.storedBlobs(), digestsOf(cfgA, shared); !slices.Equal(got, want) {
			t.Errorf("content store holds %v, want %v", got, want)
		}
		wantBlob(t, tr, "app", shared)
		wantBlob(t, tr, "app", cfgA)
		want(t, "kept tag", tr.do("GET", "/v2/app/manifests/keep", nil), http.StatusOK, "")
		if rep := tr.collect(gc.RunOptions{}); rep.Reviewed != 0 {
			t.Errorf("idle run: %+v, want nothing to review", rep)
		}

		// The metrics count what went.
		r := tr.do("GET", "/metrics", nil)
		for _, line := range []string{
			`wharf_gc_deleted_total{kind="blob"} 3`,
			`wharf_gc_deleted_total{kind="manifest"} 1`,
			`wharf_gc_bytes_freed_total ` + itoa(len(orphan)+len(cfgB)+len(onlyB)),
			`wharf_gc_review_queue_depth 0`,
			`wharf_gc_runs_total{result="ok"} 4`, // dry runs are not counted,
		} {
			if !strings.Contains(string(r.body), line+"\n") {
				t.Errorf("metrics lack %q", line)
			}
		}
	})
}

// TestGCIndexAndReferrers: deleting an index by digest leaves the child
// another tag uses and, one level a run, removes the other child, its
// signature and its blobs.
func TestGCIndexAndReferrers(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		tr := openTestRegistry(t, gcConfig(t, b))
		amdCfg, amdLayer := []byte(`{"arch":"amd64"}`), []byte("amd64 layer")
		armCfg, armLayer := []byte(`{"arch":"arm64"}`), []byte("arm64 layer")
		tr.pushBlob("app", amdCfg)
		tr.pushBlob("app", amdLayer)
		mA := image(amdCfg, amdLayer)
		dA := digest.FromBytes(mA)
		want(t, "put amd64", tr.do("PUT", "/v2/app/manifests/"+dA.String(), mA, "Content-Type", ociManifest), http.StatusCreated, "")
		mB, dB := tr.pushImage("app", "arm", armCfg, armLayer)
		idx := []byte(fmt.Sprintf(`{"schemaVersion":2,"mediaType":%q,"manifests":[`+
			`{"mediaType":%q,"digest":"%s","size":%d},{"mediaType":%q,"digest":"%s","size":%d}]}`,
			ociIndex, ociManifest, dA, len(mA), ociManifest, dB, len(mB)))
		dIdx := digest.FromBytes(idx)
		want(t, "put index", tr.do("PUT", "/v2/app/manifests/multi", idx, "Content-Type", ociIndex), http.StatusCreated, "")
		sig := []byte(fmt.Sprintf(`{"schemaVersion":2,"mediaType":%q,"artifactType":"application/vnd.example.sig",`+
			`"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%d},"layers":[],`+
			`"subject":{"mediaType":%q,"digest":"%s","size":%d}}`, ociManifest, digest.FromBytes(amdCfg), len(amdCfg), ociManifest, dA, len(mA)))
		dSig := digest.FromBytes(sig)
		want(t, "put signature", tr.do("PUT", "/v2/app/manifests/"+dSig.String(), sig, "Content-Type", ociManifest), http.StatusCreated, "")
		tr.collect(gc.RunOptions{})
		want(t, "signature of a present subject", tr.do("GET", "/v2/app/manifests/"+dSig.String(), nil), http.StatusOK, "")

		want(t, "delete index", tr.do("DELETE", "/v2/app/manifests/"+dIdx.String(), nil), http.StatusAccepted, "")
		deleted := 0
		for range 4 { // children; then their blobs and referrers; then the referrer's blob
			deleted += tr.collect(gc.RunOptions{}).ManifestsDeleted
		}
		if deleted != 2 {
			t.Errorf("%d manifests deleted, want amd64 and its signature", deleted)
		}
		for _, d := range []digest.Digest{dA, dSig, dIdx} {
			want(t, "deleted "+d.String(), tr.do("GET", "/v2/app/manifests/"+d.String(), nil), http.StatusNotFound, "MANIFEST_UNKNOWN")
		}
		want(t, "arm64 image, tagged", tr.do("GET", "/v2/app/manifests/arm", nil), http.StatusOK, "")
		if got, want := tr.storedBlobs(), digestsOf(armCfg, armLayer); !slices.Equal(got, want) {
			t.Errorf("content store holds %v, want %v", got, want)
		}
	})
}

func itoa(n int) string { return strconv.Itoa(n) }

// TestScheduledGC: with gc.interval set, the server collects by itself, as
// the leased "gc" job.
func TestScheduledGC(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		cfg := gcConfig(t, b)
		cfg.GC.Interval = 50 * time.Millisecond
		// Long enough for the image's layers to be referenced before they
		// could go.
		cfg.GC.UnreferencedGrace = time.Second
		tr := openTestRegistry(t, cfg)
		orphan := tr.pushBlob("app", []byte("collected on schedule"))
		tr.pushImage("app", "v1", []byte(`{"scheduled":1}`), []byte("kept layer"))
		waitFor(t, "the scheduled collection", func() bool {
			return tr.do("HEAD", "/v2/app/blobs/"+orphan.String(), nil).status == http.StatusNotFound
		})
		wantBlob(t, tr, "app", []byte("kept layer"))
		// The run counts it when it ends, after the blob is gone.
		waitFor(t, "the metrics to count the scheduled deletion", func() bool {
			return strings.Contains(string(tr.do("GET", "/metrics", nil).body), `wharf_gc_deleted_total{kind="blob"} 1`+"\n")
		})
	})
}

// TestScheduledSweep: the first scheduled collection of a server sweeps
// the content store and records bytes no row records for collection; the
// next runs do not sweep again until gc.sweepInterval has passed.
func TestScheduledSweep(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		cfg := gcConfig(t, b)
		cfg.GC.UnreferencedGrace = time.Hour
		cfg.GC.Interval = 50 * time.Millisecond
		cfg.GC.SweepInterval = time.Hour
		// The server opens the stores itself; plant the orphan through a
		// first server that runs no schedule, as a crashed process would
		// have left it.
		first := cfg
		first.GC.Interval = 0
		tr := openTestRegistry(t, first)
		cs := tr.s.ContentStore()
		body := []byte("left by a crash")
		id := "sweep-" + randomHex()
		_, parts, err := cs.Append(context.Background(), id, 0, "", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if err := cs.Commit(context.Background(), id, parts, int64(len(body)), digest.FromBytes(body)); err != nil {
			t.Fatal(err)
		}
		tr.close()

		tr = openTestRegistry(t, cfg)
		metrics := func() string { return string(tr.do("GET", "/metrics", nil).body) }
		waitFor(t, "the first scheduled run to sweep", func() bool {
			return strings.Contains(metrics(), "wharf_gc_orphans_recorded_total 1\n")
		})
		// At least three more runs: the poll may see the fourth or a later
		// one, never exactly the fourth.
		waitFor(t, "three more scheduled runs", func() bool {
			return metricValue(metrics(), `wharf_gc_runs_total{result="ok"}`) >= 4
		})
		if m := metrics(); !strings.Contains(m, "wharf_gc_sweeps_total 1\n") {
			t.Errorf("after four or more runs the metrics say:\n%s\nwant one sweep", m)
		}
	})
}

// TestScrubEveryBackend: scrub finds a blob stored under the wrong digest, a
// blob whose bytes are gone and bytes no row records, on every content and
// metadata store, and --repair leaves a store it finds clean.
func TestScrubEveryBackend(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		tr := openTestRegistry(t, gcConfig(t, b))
		ctx := context.Background()
		cs := tr.s.ContentStore()
		bad, missing := tr.pushBlob("app", []byte("to be damaged")), tr.pushBlob("app", []byte("to be lost"))
		tr.pushBlob("app", []byte("fine"))
		// Other bytes under bad's digest, and bytes stored without a row.
		store := func(d digest.Digest, body []byte) {
			id := "scrub-" + randomHex()
			_, parts, err := cs.Append(ctx, id, 0, "", bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			if err := cs.Commit(ctx, id, parts, int64(len(body)), d); err != nil {
				t.Fatal(err)
			}
		}
		if err := cs.Delete(ctx, bad); err != nil {
			t.Fatal(err)
		}
		store(bad, []byte("TO BE DAMAGED"))
		if err := cs.Delete(ctx, missing); err != nil {
			t.Fatal(err)
		}
		orphan := []byte("no row")
		store(digest.FromBytes(orphan), orphan)

		scrub := func(repair bool) map[digest.Digest]string {
			got := map[digest.Digest]string{}
			_, err := tr.s.Scrub(ctx, gc.ScrubOptions{Repair: repair, OnProblem: func(p gc.Problem) { got[p.Digest] = p.Kind }})
			if err != nil {
				t.Fatal(err)
			}
			return got
		}
		want := map[digest.Digest]string{bad: gc.ProblemMismatch, missing: gc.ProblemMissing, digest.FromBytes(orphan): gc.ProblemOrphan}
		if got := scrub(false); !maps.Equal(got, want) {
			t.Fatalf("scrub found %v, want %v", got, want)
		}
		if got := scrub(true); !maps.Equal(got, want) {
			t.Fatalf("scrub --repair found %v, want %v", got, want)
		}
		if got := scrub(false); len(got) != 0 {
			t.Fatalf("scrub after repair found %v", got)
		}
		if r := tr.do("HEAD", "/v2/app/blobs/"+bad.String(), nil); r.status != http.StatusNotFound {
			t.Errorf("damaged blob after repair: status %d, want 404", r.status)
		}
		wantBlob(t, tr, "app", []byte("fine"))
	})
}

// TestGCOverManagementAPI: a system administrator runs garbage collection
// with POST /api/v1/gc (dry run first); anyone else is refused.
func TestGCOverManagementAPI(t *testing.T) {
	ar := newAuthRegistry(t, func(cfg *config.Config) {
		cfg.GC.Interval, cfg.GC.ReleasedGrace, cfg.GC.UnreferencedGrace = 0, 0, 0
	})
	admin := auth.BasicAuthorization("admin", adminPassword)
	ar.user("dev", false)
	orphan := []byte("collected over the API")
	ar.namespace("team", false, map[string]auth.Role{"dev": auth.RoleDeveloper})
	d := digest.FromBytes(orphan)
	r := ar.do("POST", "/v2/team/app/blobs/uploads/?digest="+d.String(), orphan, "Authorization", admin, "Content-Type", "application/octet-stream")
	want(t, "push orphan", r, http.StatusCreated, "")

	var rep mgmt.GCReport
	run := func(who, query string, status int) {
		t.Helper()
		r := ar.do("POST", "/api/v1/gc"+query, nil, "Authorization", who)
		if r.status != status {
			t.Fatalf("POST /api/v1/gc%s: %d %s, want %d", query, r.status, r.body, status)
		}
		if status == http.StatusOK {
			rep = mgmt.GCReport{}
			if err := json.Unmarshal(r.body, &rep); err != nil {
				t.Fatal(err)
			}
		}
	}
	run(auth.BasicAuthorization("dev", "dev-pw"), "", http.StatusForbidden)
	run(admin, "?dryRun=maybe", http.StatusBadRequest)
	run(admin, "?dryRun=true", http.StatusOK)
	if !rep.DryRun || rep.BlobsDeleted != 1 || rep.BytesFreed != int64(len(orphan)) {
		t.Fatalf("dry run: %+v", rep)
	}
	want(t, "orphan after the dry run", ar.do("HEAD", "/v2/team/app/blobs/"+d.String(), nil, "Authorization", admin), http.StatusOK, "")
	run(admin, "", http.StatusOK)
	if rep.DryRun || rep.BlobsDeleted != 1 || rep.BytesFreed != int64(len(orphan)) {
		t.Fatalf("run: %+v", rep)
	}
	want(t, "orphan after the run", ar.do("HEAD", "/v2/team/app/blobs/"+d.String(), nil, "Authorization", admin), http.StatusNotFound, "")
}

// metricValue returns the value of the sample named series (name and
// labels, as the text exposition writes them) in the metrics text m, or -1
// when m has none.
func metricValue(m, series string) float64 {
	for line := range strings.Lines(m) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err == nil {
				return f
			}
		}
	}
	return -1
}
