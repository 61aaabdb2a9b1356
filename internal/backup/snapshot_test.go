package backup

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/wharf-dev/wharf/internal/content"
	"github.com/wharf-dev/wharf/internal/gc"
	"github.com/wharf-dev/wharf/internal/meta"
	"github.com/wharf-dev/wharf/internal/meta/postgres"
	"github.com/wharf-dev/wharf/internal/meta/postgres/pgtest"
	"github.com/wharf-dev/wharf/internal/meta/sqlite"
	"github.com/wharf-dev/wharf/internal/oci"
	"github.com/wharf-dev/wharf/internal/registry"
)

// TestBackupHoldsGC deletes an image right after the backup's metadata
// snapshot and runs garbage collection, with no grace and on another store
// over the same database (another replica), until it deletes the image's
// blobs; the hold keeps their bytes until the backup has copied
// them, the backup is complete, and the restore holds the image. After the
// backup a collection deletes the bytes it had to leave. (Without the hold
// the backup fails on a blob GC deleted.) A second backup copies nothing.
func TestBackupHoldsGC(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b, func(t *testing.T) {
			ctx := context.Background()
			cs := newContent(t, b)
			// The collector runs on a store of its own over the same
			// database, as another replica (or wharf gc beside a server)
			// would.
			ms, other := openMetaTwice(t, b)
			r := registry.New(registry.Options{Content: cs, Meta: ms, CacheEntries: -1, PullFlushInterval: -1})
			f := populate(t, r)
			want := state(t, r)
			collector, err := gc.New(gc.Options{Content: cs, Meta: other})
			if err != nil {
				t.Fatal(err)
			}
			dir, err := OpenDir(filepath.Join(t.TempDir(), "backup"), true)
			if err != nil {
				t.Fatal(err)
			}
			var held gc.Report
			o := BackupOptions{Meta: ms, Content: cs, Dir: dir, WharfVersion: "test", afterSnapshot: func() {
				// ops/tool's blobs are its own: deleting its image
				// releases them.
				if err := r.DeleteManifest(ctx, "ops/tool", oci.Reference{Digest: f.tool.Digest}); err != nil {
					t.Fatal(err)
				}
				for range 3 { // the manifest, then its blobs
					rep, err := collector.Run(ctx, gc.RunOptions{})
					if err != nil {
						t.Fatal(err)
					}
					held.BlobsDeleted += rep.BlobsDeleted
					held.Held += rep.Held
				}
			}}
			toolLayer := firstLayer(t, r, "ops/tool", f.tool)
			rep, err := TakeBackup(ctx, o)
			if err != nil {
				t.Fatalf("backup: %v", err)
			}
			if held.BlobsDeleted == 0 || held.Held == 0 {
				t.Fatalf("garbage collection during the backup deleted %d blob rows and held %d byte deletions; the test needs both", held.BlobsDeleted, held.Held)
			}
			if _, err := cs.Stat(ctx, toolLayer.Digest); !errors.Is(err, content.ErrNotFound) {
				// the hold has ended: the next run deletes what it left
				if _, err := collector.Run(ctx, gc.RunOptions{}); err != nil {
					t.Fatal(err)
				}
				if _, err := cs.Stat(ctx, toolLayer.Digest); !errors.Is(err, content.ErrNotFound) {
					t.Fatalf("after the backup, a collection left the bytes of a deleted image's layer: %v", err)
				}
			}
			if rep.Copied != rep.Snapshot.Blobs || rep.Present != 0 || rep.Snapshot.Database == "" {
				t.Fatalf("first backup: %+v", rep)
			}
			again, err := TakeBackup(ctx, BackupOptions{Meta: ms, Content: cs, Dir: dir})
			if err != nil || again.Copied != 0 || again.Present != again.Snapshot.Blobs || again.Snapshot.ID == rep.Snapshot.ID {
				t.Fatalf("second backup copied %d, found %d of %d: %v", again.Copied, again.Present, again.Snapshot.Blobs, err)
			}

			restored := restoreInto(t, b, dir, rep.Snapshot)
			if diff := cmp.Diff(want, state(t, restored)); diff != "" {
				t.Fatalf("restored registry differs (-want +got):\n%s", diff)
			}
			sameBlob(t, r, restored, "team/other", f.other)
			rc, _, err := restored.OpenBlob(ctx, "ops/tool", toolLayer.Digest)
			if err != nil {
				t.Fatalf("the layer GC deleted after the snapshot is not restored: %v", err)
			}
			rc.Close()
		})
	}
}

// openMetaTwice opens two stores over one new database of backend.
func openMetaTwice(t *testing.T, backend string) (meta.Store, meta.Store) {
	t.Helper()
	ctx := context.Background()
	var open func() (meta.Store, error)
	if backend == "s3+postgres" {
		u := pgtest.Database(t)
		open = func() (meta.Store, error) { return postgres.Open(ctx, postgres.Options{URL: u}) }
	} else {
		p := filepath.Join(t.TempDir(), "wharf.db")
		open = func() (meta.Store, error) { return sqlite.Open(ctx, sqlite.Options{Path: p}) }
	}
	var out [2]meta.Store
	for i := range out {
		ms, err := open()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ms.Close() })
		out[i] = ms
	}
	return out[0], out[1]
}

// firstLayer returns the first layer of image m of repo.
func firstLayer(t *testing.T, r *registry.Registry, repo string, m oci.Descriptor) oci.Descriptor {
	t.Helper()
	var im v1.Manifest
	if err := json.Unmarshal(mustPayload(t, r, repo, m), &im); err != nil {
		t.Fatal(err)
	}
	return im.Layers[0]
}

// restoreInto restores snapshot s of dir into fresh stores of backend, as
// server.Restore does, and returns a registry over them.
func restoreInto(t *testing.T, backend string, dir *Dir, s Snapshot) *registry.Registry {
	t.Helper()
	ctx := context.Background()
	cs := newContent(t, backend)
	if _, err := RestoreBlobs(ctx, RestoreOptions{Content: cs, Dir: dir, Snapshot: s}); err != nil {
		t.Fatalf("restore blobs: %v", err)
	}
	var ms meta.Store
	var err error
	if s.Database == postgres.DumpFormat {
		u := pgtest.Database(t)
		if err = postgres.Restore(ctx, u, dir.MetadataPath(s)); err == nil {
			ms, err = postgres.Open(ctx, postgres.Options{URL: u})
		}
	} else {
		p := filepath.Join(t.TempDir(), "wharf.db")
		if err = sqlite.Restore(dir.MetadataPath(s), p); err == nil {
			ms, err = sqlite.Open(ctx, sqlite.Options{Path: p})
		}
	}
	if err != nil {
		t.Fatalf("restore metadata: %v", err)
	}
	t.Cleanup(func() { ms.Close() })
	return registry.New(registry.Options{Content: cs, Meta: ms, CacheEntries: -1, PullFlushInterval: -1})
}
