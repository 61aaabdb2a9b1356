package backup

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/wharf-dev/wharf/internal/content"
	"github.com/wharf-dev/wharf/internal/content/fs"
	"github.com/wharf-dev/wharf/internal/content/s3"
	"github.com/wharf-dev/wharf/internal/meta"
	"github.com/wharf-dev/wharf/internal/meta/postgres"
	"github.com/wharf-dev/wharf/internal/meta/postgres/pgtest"
	"github.com/wharf-dev/wharf/internal/meta/sqlite"
	"github.com/wharf-dev/wharf/internal/oci"
	"github.com/wharf-dev/wharf/internal/registry"
)

// backends are the store combinations the round trips run over: the
// embedded default always, S3 + PostgreSQL when their test servers are
// configured (required under CI).
func backends(t *testing.T) []string {
	bs := []string{"fs+sqlite"}
	if os.Getenv("WHARF_TEST_S3_ENDPOINT") != "" && os.Getenv(pgtest.EnvURL) != "" {
		bs = append(bs, "s3+postgres")
	} else if os.Getenv("CI") != "" {
		t.Fatal("CI must run the export and import tests on S3 + PostgreSQL")
	}
	return bs
}

// newRegistry opens an empty registry over the stores backend names.
func newRegistry(t *testing.T, backend string) *registry.Registry {
	t.Helper()
	cs, ms := newStores(t, backend)
	return registry.New(registry.Options{Content: cs, Meta: ms, CacheEntries: -1, PullFlushInterval: -1})
}

// newStores opens empty stores of backend.
func newStores(t *testing.T, backend string) (content.Store, meta.Store) {
	t.Helper()
	cs := newContent(t, backend)
	var ms meta.Store
	var err error
	if backend == "s3+postgres" {
		ms, err = postgres.Open(context.Background(), postgres.Options{URL: pgtest.Database(t)})
	} else {
		ms, err = sqlite.Open(context.Background(), sqlite.Options{Path: filepath.Join(t.TempDir(), "wharf.db")})
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ms.Close() })
	return cs, ms
}

// newContent opens an empty content store of backend.
func newContent(t *testing.T, backend string) content.Store {
	t.Helper()
	var cs content.Store
	var err error
	switch backend {
	case "fs+sqlite":
		cs, err = fs.New(t.TempDir())
	case "s3+postgres":
		var b [6]byte
		_, _ = rand.Read(b[:])
		cs, err = s3.New(context.Background(), s3.Options{
			Endpoint:        os.Getenv("WHARF_TEST_S3_ENDPOINT"),
			Bucket:          os.Getenv("WHARF_TEST_S3_BUCKET"),
			AccessKeyID:     os.Getenv("WHARF_TEST_S3_ACCESS_KEY"),
			SecretAccessKey: os.Getenv("WHARF_TEST_S3_SECRET_KEY"),
			PathStyle:       true,
			Prefix:          "backup-test-" + hex.EncodeToString(b[:]),
		})
	default:
		t.Fatalf("unknown backend %s", backend)
	}
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// layerTar returns a one-file tar, an uncompressed layer.
func layerTar(t *testing.T, name, body string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body))}); err != nil {
		t.Fatal(err)
	}
	if _, err := tw.Write([]byte(body)); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func pushBlob(t *testing.T, r *registry.Registry, repo, mediaType string, b []byte) oci.Descriptor {
	t.Helper()
	d := digest.FromBytes(b)
	if _, err := r.PutBlob(context.Background(), repo, d, int64(len(b)), bytes.NewReader(b)); err != nil {
		t.Fatalf("push blob to %s: %v", repo, err)
	}
	return oci.Descriptor{MediaType: mediaType, Digest: d, Size: int64(len(b))}
}

func pushManifest(t *testing.T, r *registry.Registry, repo, tag string, m any) oci.Descriptor {
	t.Helper()
	payload, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var mt struct {
		MediaType string `json:"mediaType"`
	}
	_ = json.Unmarshal(payload, &mt)
	ref := oci.Reference{Tag: tag}
	if tag == "" {
		ref = oci.Reference{Digest: digest.FromBytes(payload)}
	}
	d, _, err := r.PutManifest(context.Background(), repo, ref, mt.MediaType, payload)
	if err != nil {
		t.Fatalf("push manifest to %s:%s: %v", repo, tag, err)
	}
	return oci.Descriptor{MediaType: mt.MediaType, Digest: d, Size: int64(len(payload))}
}

// pushImage pushes an image of one layer per body, for platform os/arch,
// with a config whose diff_ids are right, so docker could load it.
func pushImage(t *testing.T, r *registry.Registry, repo, tag, arch string, bodies ...string) oci.Descriptor {
	t.Helper()
	var layers []oci.Descriptor
	var diffIDs []digest.Digest
	for i, b := range bodies {
		l := layerTar(t, "file"+string(rune('a'+i)), b)
		layers = append(layers, pushBlob(t, r, repo, v1.MediaTypeImageLayer, l))
		diffIDs = append(diffIDs, digest.FromBytes(l))
	}
	cfg, _ := json.Marshal(v1.Image{Platform: v1.Platform{OS: "linux", Architecture: arch}, RootFS: v1.RootFS{Type: "layers", DiffIDs: diffIDs}})
	m := v1.Manifest{MediaType: v1.MediaTypeImageManifest, Config: pushBlob(t, r, repo, v1.MediaTypeImageConfig, cfg), Layers: layers}
	m.SchemaVersion = 2
	return pushManifest(t, r, repo, tag, m)
}

// pushSignature pushes an artifact whose subject is subject, as cosign
// does with OCI 1.1 referrers.
func pushSignature(t *testing.T, r *registry.Registry, repo string, subject oci.Descriptor, body string) oci.Descriptor {
	t.Helper()
	empty := pushBlob(t, r, repo, oci.MediaTypeEmptyJSON, []byte("{}"))
	sig := pushBlob(t, r, repo, "application/vnd.dev.cosign.simplesigning.v1+json", []byte(body))
	m := v1.Manifest{MediaType: v1.MediaTypeImageManifest, ArtifactType: "application/vnd.dev.cosign.artifact.sig.v1+json",
		Config: empty, Layers: []oci.Descriptor{sig}, Subject: &oci.Descriptor{MediaType: subject.MediaType, Digest: subject.Digest, Size: subject.Size}}
	m.SchemaVersion = 2
	return pushManifest(t, r, repo, "", m)
}

// fixture is what the tests put in the source registry.
type fixture struct {
	amd, arm, index, sig, tagSig, other, tool oci.Descriptor
}

// populate fills r with: team/app v1 and latest (one image), v2 (an index
// of that image and an arm64 one), an OCI 1.1 signature of v1 and a
// cosign tag-schema signature of it; team/other x, the same image;
// ops/tool 1.0.
func populate(t *testing.T, r *registry.Registry) fixture {
	var f fixture
	f.amd = pushImage(t, r, "team/app", "v1", "amd64", "hello", "world")
	pushManifest(t, r, "team/app", "latest", mustPayload(t, r, "team/app", f.amd))
	f.arm = pushImage(t, r, "team/app", "", "arm64", "hello arm")
	f.amd.Platform = &v1.Platform{OS: "linux", Architecture: "amd64"}
	f.arm.Platform = &v1.Platform{OS: "linux", Architecture: "arm64"}
	idx := v1.Index{MediaType: v1.MediaTypeImageIndex, Manifests: []oci.Descriptor{f.amd, f.arm}}
	idx.SchemaVersion = 2
	f.index = pushManifest(t, r, "team/app", "v2", idx)
	f.amd.Platform, f.arm.Platform = nil, nil
	f.sig = pushSignature(t, r, "team/app", f.amd, "signed v1")
	f.tagSig = pushImage(t, r, "team/app", "sha256-"+f.amd.Digest.Encoded()+".sig", "amd64", "tag-schema signature")
	f.other = pushImage(t, r, "team/other", "x", "amd64", "hello", "world")
	f.tool = pushImage(t, r, "ops/tool", "1.0", "amd64", "tool")
	return f
}

// mustPayload returns manifest d of repo as raw JSON, to push again.
func mustPayload(t *testing.T, r *registry.Registry, repo string, d oci.Descriptor) json.RawMessage {
	t.Helper()
	m, err := r.Manifest(context.Background(), repo, oci.Reference{Digest: d.Digest})
	if err != nil {
		t.Fatal(err)
	}
	return m.Payload
}

// state is what a registry holds: repository -> tag -> digest, and the
// referrers of every tagged manifest.
func state(t *testing.T, r *registry.Registry) map[string]map[string]string {
	t.Helper()
	ctx := context.Background()
	l := NewLocal(r)
	repos, err := l.Repositories(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]string{}
	for _, repo := range repos {
		tags, err := l.Tags(ctx, repo)
		if err != nil {
			t.Fatal(err)
		}
		out[repo] = map[string]string{}
		for _, tag := range tags {
			d, _, err := l.Manifest(ctx, repo, tag)
			if err != nil {
				t.Fatal(err)
			}
			out[repo][tag] = d.Digest.String()
			refs, err := l.Referrers(ctx, repo, d.Digest)
			if err != nil {
				t.Fatal(err)
			}
			var ds []string
			for _, rd := range refs {
				ds = append(ds, rd.Digest.String())
			}
			slices.Sort(ds)
			for _, d := range ds {
				out[repo][tag] += " referrer " + d
			}
		}
	}
	return out
}
