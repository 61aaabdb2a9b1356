package metatest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/meta"
)

func wantUpload(t testing.TB, r meta.Reader, want meta.Upload) {
	t.Helper()
	got, err := r.Upload(context.Background(), want.ID)
	if err != nil {
		t.Errorf("Upload(%q): %v", want.ID, err)
		return
	}
	if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("Upload(%q) (-want +got):\n%s", want.ID, diff)
	}
}

// inOrder runs steps until one fails.
func inOrder(steps ...func() error) error {
	for _, step := range steps {
		if err := step(); err != nil {
			return err
		}
	}
	return nil
}

func testUploads(t *testing.T, s meta.Store) {
	ctx := t.Context()
	fresh := meta.Upload{ID: "fresh", Repository: "team/app", CreatedAt: at(1), UpdatedAt: at(1)}
	resumed := meta.Upload{ID: "resumed", Repository: "team/app", Offset: 5, HashState: []byte{0, 1, 0xff}, Parts: "a1.b2",
		CreatedAt: at(1), UpdatedAt: at(2)}
	update(t, s, func(ctx context.Context, tx meta.Tx) error {
		if err := tx.CreateUpload(ctx, fresh); err != nil {
			return err
		}
		return tx.CreateUpload(ctx, resumed)
	})
	wantUpload(t, s, fresh)
	wantUpload(t, s, resumed)
	_, err := s.Upload(ctx, "unknown")
	wantErr(t, "Upload of an unknown id", err, meta.ErrNotFound)

	update(t, s, func(ctx context.Context, tx meta.Tx) error { return tx.DeleteUpload(ctx, fresh.ID) })
	_, err = s.Upload(ctx, fresh.ID)
	wantErr(t, "Upload after DeleteUpload", err, meta.ErrNotFound)
	wantUpload(t, s, resumed)
	for _, id := range []string{fresh.ID, "unknown"} {
		err := s.Update(ctx, func(tx meta.Tx) error { return tx.DeleteUpload(ctx, id) })
		wantErr(t, "DeleteUpload "+id, err, meta.ErrNotFound)
	}
}

func testAdvanceUpload(t *testing.T, s meta.Store) {
	ctx := t.Context()
	u := meta.Upload{ID: "u", Repository: "r", CreatedAt: at(1), UpdatedAt: at(1)}
	update(t, s, func(ctx context.Context, tx meta.Tx) error { return tx.CreateUpload(ctx, u) })

	next := u
	next.Offset, next.HashState, next.Parts, next.UpdatedAt = 10, []byte("state after 10"), "p1", at(2)
	update(t, s, func(ctx context.Context, tx meta.Tx) error { return tx.AdvanceUpload(ctx, next, 0) })
	wantUpload(t, s, next)

	for _, tt := range []struct {
		name string
		from int64
	}{{"behind", 0}, {"ahead", 20}, {"negative", -1}} {
		stale := next
		stale.Offset, stale.HashState, stale.Parts, stale.UpdatedAt = 30, []byte("stale"), "p1.stale", at(3)
		err := s.Update(ctx, func(tx meta.Tx) error { return tx.AdvanceUpload(ctx, stale, tt.from) })
		wantErr(t, "AdvanceUpload from "+tt.name, err, meta.ErrConflict)
		wantUpload(t, s, next)
	}

	missing := next
	missing.ID = "unknown"
	err := s.Update(ctx, func(tx meta.Tx) error { return tx.AdvanceUpload(ctx, missing, 10) })
	wantErr(t, "AdvanceUpload of an unknown upload", err, meta.ErrNotFound)
}

// testUpdateRollsBack: when fn fails, none of its writes, deletes included,
// is seen, and Update returns fn's error.
func testUpdateRollsBack(t *testing.T, s meta.Store) {
	ctx := t.Context()
	m := putManifest(t, s, "r", "m")
	putTag(t, s, "r", "keep", m.Digest)
	kept := meta.Upload{ID: "kept", Repository: "r", CreatedAt: at(1), UpdatedAt: at(1)}
	update(t, s, func(ctx context.Context, tx meta.Tx) error { return tx.CreateUpload(ctx, kept) })

	boom := errors.New("boom")
	b := newBlob("rolled back")
	err := s.Update(ctx, func(tx meta.Tx) error {
		err := inOrder(
			func() error { return tx.PutBlob(ctx, b) },
			func() error { return tx.LinkBlob(ctx, "new", b.Digest) },
			func() error { return tx.PutManifest(ctx, newManifest("new", "m", b.Digest)) },
			func() error { return tx.PutTag(ctx, "r", "new-tag", m.Digest) },
			func() error { return tx.DeleteTag(ctx, "r", "keep") },
			func() error { return tx.UnlinkBlob(ctx, "r", m.Blobs[0]) },
			func() error { return tx.DeleteUpload(ctx, kept.ID) },
			func() error {
				return tx.CreateUpload(ctx, meta.Upload{ID: "new", Repository: "r", CreatedAt: at(1), UpdatedAt: at(1)})
			},
			func() error { return tx.DeleteManifest(ctx, "r", m.Digest) },
		)
		if err != nil {
			return err
		}
		return fmt.Errorf("fn: %w", boom)
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Update = %v, want fn's error", err)
	}
	wantExists(t, s, "new", false)
	_, err = s.AnyBlob(ctx, b.Digest)
	wantErr(t, "AnyBlob linked in the rolled back transaction", err, meta.ErrNotFound)
	wantManifest(t, s, m)
	wantTag(t, s, "r", "keep", m.Digest)
	wantTags(t, s, "r", []string{"keep"})
	wantBlob(t, s, "r", newBlob("config of m"))
	wantUpload(t, s, kept)
	_, err = s.Upload(ctx, "new")
	wantErr(t, "Upload created in the rolled back transaction", err, meta.ErrNotFound)
}

// testUpdateReadsOwnWrites: reads through a Tx see its writes; reads on the
// Store see them only once committed.
func testUpdateReadsOwnWrites(t *testing.T, s meta.Store) {
	b := newBlob("layer")
	m := newManifest("r", "m", b.Digest)
	m.Subject = digest.FromString("subject")
	u := meta.Upload{ID: "u", Repository: "r", CreatedAt: at(1), UpdatedAt: at(1)}
	update(t, s, func(ctx context.Context, tx meta.Tx) error {
		err := inOrder(
			func() error { return tx.PutBlob(ctx, b) },
			func() error { return tx.LinkBlob(ctx, "r", b.Digest) },
			func() error { return tx.PutManifest(ctx, m) },
			func() error { return tx.PutTag(ctx, "r", "latest", m.Digest) },
			func() error { return tx.CreateUpload(ctx, u) },
		)
		if err != nil {
			return err
		}
		wantExists(t, tx, "r", true)
		if names, err := tx.Repositories(ctx, meta.Page{N: -1}); err != nil || !slices.Equal(names, []string{"r"}) {
			t.Errorf("tx.Repositories = %q, %v; want [r]", names, err)
		}
		wantBlob(t, tx, "r", b)
		wantAnyBlob(t, tx, b)
		wantManifest(t, tx, m)
		wantTag(t, tx, "r", "latest", m.Digest)
		wantTags(t, tx, "r", []string{"latest"})
		wantUpload(t, tx, u)
		if refs, err := tx.Referrers(ctx, "r", m.Subject, ""); err != nil || len(refs) != 1 {
			t.Errorf("tx.Referrers = %v, %v; want the manifest", refs, err)
		}

		// Not committed yet: the Store does not see it.
		wantExists(t, s, "r", false)
		_, err = s.Tag(ctx, "r", "latest")
		wantErr(t, "Store.Tag before commit", err, meta.ErrNotFound)

		if err := tx.DeleteTag(ctx, "r", "latest"); err != nil {
			return err
		}
		_, err = tx.Tag(ctx, "r", "latest")
		wantErr(t, "tx.Tag after tx.DeleteTag", err, meta.ErrNotFound)
		return nil
	})
	wantManifest(t, s, m)
	wantTags(t, s, "r", nil)
}

// testConcurrentUpdates: Updates from many goroutines at once all land.
func testConcurrentUpdates(t *testing.T, s meta.Store) {
	const goroutines, writes = 16, 50
	m := putManifest(t, s, "r", "m")
	var want []string
	var wg sync.WaitGroup
	for g := range goroutines {
		for i := range writes {
			want = append(want, fmt.Sprintf("g%02d-t%02d", g, i))
		}
		wg.Go(func() {
			for i := range writes {
				tag := fmt.Sprintf("g%02d-t%02d", g, i)
				err := s.Update(t.Context(), func(tx meta.Tx) error { return tx.PutTag(t.Context(), "r", tag, m.Digest) })
				if err != nil {
					t.Errorf("PutTag %s: %v", tag, err)
					return
				}
			}
		})
	}
	wg.Wait()
	wantTags(t, s, "r", want)
}

// testReadsDuringWrites: readers running while manifests and tags are
// written never see an error other than a tag that is not there yet, nor a
// tag whose manifest is missing.
func testReadsDuringWrites(t *testing.T, s meta.Store) {
	const writers, writes, readers = 4, 25, 4
	stable := putManifest(t, s, "r", "stable")
	putTag(t, s, "r", "stable", stable.Digest)
	cfg := stable.Blobs[0]

	var done atomic.Bool
	var reads atomic.Int64
	var rg sync.WaitGroup
	for r := range readers {
		rg.Go(func() {
			for i := 0; !done.Load() || i == 0; i++ {
				reads.Add(1)
				if err := readOnce(t.Context(), s, fmt.Sprintf("w%d-%d", (r+i)%writers, i%writes)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range writes {
				name := fmt.Sprintf("w%d-%d", w, i)
				m := newManifest("r", name, cfg)
				err := s.Update(t.Context(), func(tx meta.Tx) error {
					if err := tx.PutManifest(t.Context(), m); err != nil {
						return err
					}
					return tx.PutTag(t.Context(), "r", name, m.Digest)
				})
				if err != nil {
					t.Errorf("put %s: %v", name, err)
					return
				}
			}
		})
	}
	wg.Wait()
	done.Store(true)
	rg.Wait()
	tags, err := s.Tags(t.Context(), "r", meta.Page{N: -1})
	if err != nil || len(tags) != writers*writes+1 {
		t.Errorf("Tags = %d tags, %v; want %d", len(tags), err, writers*writes+1)
	}
	t.Logf("%d reads during %d writes", reads.Load(), writers*writes)
}

// readOnce resolves the stable tag and tag, checking what it gets.
func readOnce(ctx context.Context, s meta.Store, tag string) error {
	for _, name := range []string{"stable", tag} {
		tg, err := s.Tag(ctx, "r", name)
		if name != "stable" && errors.Is(err, meta.ErrNotFound) {
			continue // not written yet
		}
		if err != nil {
			return fmt.Errorf("Tag %s: %w", name, err)
		}
		m, err := s.Manifest(ctx, "r", tg.Digest)
		if err != nil {
			return fmt.Errorf("Manifest of tag %s: %w", name, err)
		}
		if digest.FromBytes(m.Payload) != tg.Digest {
			return fmt.Errorf("Manifest of tag %s: payload does not match digest %s", name, tg.Digest)
		}
	}
	tags, err := s.Tags(ctx, "r", meta.Page{N: -1})
	if err != nil {
		return fmt.Errorf("Tags: %w", err)
	}
	if !slices.IsSorted(tags) || !slices.Contains(tags, "stable") {
		return fmt.Errorf("Tags = %q, want sorted with stable", tags)
	}
	return nil
}

// testConcurrentAdvanceUpload: of two writers advancing one upload from the
// same offset, one wins and the others get ErrConflict.
func testConcurrentAdvanceUpload(t *testing.T, s meta.Store) {
	const writers = 8
	u := meta.Upload{ID: "u", Repository: "r", CreatedAt: at(1), UpdatedAt: at(1)}
	update(t, s, func(ctx context.Context, tx meta.Tx) error { return tx.CreateUpload(ctx, u) })
	errs := make([]error, writers)
	var wg sync.WaitGroup
	for i := range writers {
		wg.Go(func() {
			next := u
			next.Offset, next.HashState, next.Parts = int64(i+1), []byte{byte(i + 1)}, fmt.Sprint("parts of ", i)
			errs[i] = s.Update(t.Context(), func(tx meta.Tx) error { return tx.AdvanceUpload(t.Context(), next, 0) })
		})
	}
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Errorf("writers %d and %d both advanced the upload", winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, meta.ErrConflict):
			t.Errorf("writer %d: %v, want ErrConflict", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no writer advanced the upload")
	}
	got, err := s.Upload(t.Context(), u.ID)
	if err != nil || got.Offset != int64(winner+1) || !slices.Equal(got.HashState, []byte{byte(winner + 1)}) ||
		got.Parts != fmt.Sprint("parts of ", winner) {
		t.Errorf("Upload = %+v, %v; want writer %d's offset, state and parts", got, err, winner)
	}
}
