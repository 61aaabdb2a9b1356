package server_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/config"
	"github.com/wharf-dev/wharf/internal/gc"
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
