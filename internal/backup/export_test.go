package backup

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/wharf-dev/wharf/internal/backup/archive"
	"github.com/wharf-dev/wharf/internal/registry"
)

// export writes o's selection from src in format (oci, oci-archive,
// docker-archive) and returns the path.
func export(t *testing.T, src Source, format string, o ExportOptions) (string, ExportReport) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "out")
	var w *archive.Writer
	var f *os.File
	var err error
	if format == "oci" {
		w, err = archive.CreateDir(p)
	} else {
		p += ".tar"
		if f, err = os.Create(p); err == nil {
			w, err = archive.NewTar(f, format == "docker-archive")
		}
		o.Docker = format == "docker-archive"
	}
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Export(context.Background(), src, w, o)
	if err != nil {
		t.Fatalf("export: %v", err)
	}
	if f != nil {
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return p, rep
}

func importPath(t *testing.T, p string, tgt Target, o ImportOptions) (ImportReport, error) {
	t.Helper()
	a, err := archive.Open(p)
	if err != nil {
		return ImportReport{}, err
	}
	defer a.Close()
	return Import(context.Background(), a, tgt, o)
}

// TestRoundTrip exports everything, as a layout directory and as a tar,
// imports it into an empty registry, and finds the same tags naming the
// same digests with the same referrers, blobs byte for byte; a second
// import sends nothing.
func TestRoundTrip(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b, func(t *testing.T) {
			src := newRegistry(t, b)
			f := populate(t, src)
			want := state(t, src)
			if !strings.Contains(want["team/app"]["v1"], "referrer "+f.sig.Digest.String()) {
				t.Fatalf("the fixture's signature is not a referrer of v1: %v", want)
			}
			for _, format := range []string{"oci", "oci-archive"} {
				t.Run(format, func(t *testing.T) {
					p, erep := export(t, NewLocal(src), format, ExportOptions{Selection: Selection{All: true}})
					if erep.Repositories != 3 || erep.Tags != 6 {
						t.Errorf("export report %+v, want 3 repositories and 6 tags", erep)
					}
					dst := newRegistry(t, b)
					rep, err := importPath(t, p, NewLocal(dst), ImportOptions{})
					if err != nil {
						t.Fatal(err)
					}
					if diff := cmp.Diff(want, state(t, dst)); diff != "" {
						t.Fatalf("imported registry differs (-want +got):\n%s", diff)
					}
					// Blobs once: team/other's layers are team/app's, mounted.
					if rep.Blobs != erep.Blobs || rep.BlobsPresent == 0 {
						t.Errorf("import sent %d blobs and found %d present; the export wrote %d", rep.Blobs, rep.BlobsPresent, erep.Blobs)
					}
					sameBlob(t, src, dst, "team/app", f.amd)
					again, err := importPath(t, p, NewLocal(dst), ImportOptions{})
					if err != nil || again.Blobs != 0 {
						t.Fatalf("a second import sent %d blobs (%v), want none", again.Blobs, err)
					}
				})
			}
		})
	}
}

// sameBlob checks that the first layer of image m of repo has the same
// bytes in both registries.
func sameBlob(t *testing.T, a, b *registry.Registry, repo string, m v1.Descriptor) {
	t.Helper()
	var im v1.Manifest
	if err := json.Unmarshal(mustPayload(t, a, repo, m), &im); err != nil {
		t.Fatal(err)
	}
	read := func(r *registry.Registry) string {
		rc, _, err := r.OpenBlob(context.Background(), repo, im.Layers[0].Digest)
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		bs, _ := io.ReadAll(rc)
		return string(bs)
	}
	if x, y := read(a), read(b); x != y || x == "" {
		t.Fatalf("layer %s: %d bytes in the source, %d imported", im.Layers[0].Digest, len(x), len(y))
	}
}

// TestExportSelection: a chosen tag brings its referrers and its
// tag-schema signature and nothing else; a namespace brings its
// repositories only; import maps namespaces.
func TestExportSelection(t *testing.T) {
	src := newRegistry(t, "fs+sqlite")
	f := populate(t, src)
	all := state(t, src)

	p, _ := export(t, NewLocal(src), "oci", ExportOptions{Selection: Selection{Repositories: []string{"team/app:v1"}}})
	dst := newRegistry(t, "fs+sqlite")
	if _, err := importPath(t, p, NewLocal(dst), ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	sigTag := "sha256-" + f.amd.Digest.Encoded() + ".sig"
	want := map[string]map[string]string{"team/app": {"v1": all["team/app"]["v1"], sigTag: all["team/app"][sigTag]}}
	if diff := cmp.Diff(want, state(t, dst)); diff != "" {
		t.Fatalf("chosen tag (-want +got):\n%s", diff)
	}

	p, _ = export(t, NewLocal(src), "oci-archive", ExportOptions{Selection: Selection{Namespaces: []string{"team"}}})
	dst = newRegistry(t, "fs+sqlite")
	if _, err := importPath(t, p, NewLocal(dst), ImportOptions{Mappings: []Mapping{{From: "team", To: "prod/team"}}}); err != nil {
		t.Fatal(err)
	}
	want = map[string]map[string]string{"prod/team/app": all["team/app"], "prod/team/other": all["team/other"]}
	if diff := cmp.Diff(want, state(t, dst)); diff != "" {
		t.Fatalf("namespace, mapped (-want +got):\n%s", diff)
	}
}

// TestDockerArchive exports the arm64 image of an index as a docker
// archive and imports it twice: as written (its OCI index keeps the
// digest), and without index.json as docker save wrote before Docker 25
// (a manifest is made, of the same config and layers).
func TestDockerArchive(t *testing.T) {
	src := newRegistry(t, "fs+sqlite")
	f := populate(t, src)
	plat, _ := ParsePlatform("linux/arm64")
	chart := pushBlob(t, src, "team/chart", "application/vnd.cncf.helm.chart.content.v1.tar+gzip", []byte("not really a chart"))
	cm := v1.Manifest{MediaType: v1.MediaTypeImageManifest, Config: pushBlob(t, src, "team/chart", "application/vnd.cncf.helm.config.v1+json", []byte("{}")), Layers: []v1.Descriptor{chart}}
	cm.SchemaVersion = 2
	pushManifest(t, src, "team/chart", "1.0", cm)
	sel := Selection{Repositories: []string{"team/app:v2", "team/app:v1", "team/chart:1.0"}}
	p, rep := export(t, NewLocal(src), "docker-archive", ExportOptions{Selection: sel, Platform: plat, Hostname: "registry.example.com"})
	if rep.Tags != 2 || len(rep.Skipped) != 1 || !strings.Contains(rep.Skipped[0], "team/chart:1.0: not an image") {
		t.Fatalf("docker export report %+v: want v1 and v2 written and the chart skipped", rep)
	}
	a, err := archive.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Images) != 2 || a.Images[0].RepoTags[0] != "registry.example.com/team/app:v2" || len(a.Images[0].Layers) != 1 || len(a.Images[1].Layers) != 2 {
		t.Fatalf("manifest.json: %+v", a.Images)
	}
	a.Close()

	dst := newRegistry(t, "fs+sqlite")
	if _, err := importPath(t, p, NewLocal(dst), ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := state(t, dst)["team/app"]["v2"]; got != f.arm.Digest.String() {
		t.Fatalf("v2 imported as %s, want the arm64 image %s", got, f.arm.Digest)
	}

	legacy := withoutEntries(t, p, "index.json", "oci-layout")
	dst = newRegistry(t, "fs+sqlite")
	if _, err := importPath(t, legacy, NewLocal(dst), ImportOptions{Mappings: []Mapping{{From: "team", To: "old"}}}); err != nil {
		t.Fatal(err)
	}
	d, payload, err := NewLocal(dst).Manifest(context.Background(), "old/app", "v2")
	if err != nil {
		t.Fatal(err)
	}
	var got, orig v1.Manifest
	_ = json.Unmarshal(payload, &got)
	_ = json.Unmarshal(mustPayload(t, src, "team/app", f.arm), &orig)
	if got.Config.Digest != orig.Config.Digest || len(got.Layers) != 1 || got.Layers[0].Digest != orig.Layers[0].Digest || d.MediaType != v1.MediaTypeImageManifest {
		t.Fatalf("legacy import made %+v, want the config and layers of %+v", got, orig)
	}
}
