package metatest

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/wharf-dev/wharf/internal/meta"
)

// testStaleUploads: StaleUploads lists the uploads last advanced before a
// time, least recently advanced first, at most n, and an upload advanced
// since is no longer stale.
func testStaleUploads(t *testing.T, s meta.Store) {
	ctx := t.Context()
	uploads := []meta.Upload{
		{ID: "newest", Repository: "r", CreatedAt: at(1), UpdatedAt: at(30)},
		{ID: "oldest", Repository: "r", CreatedAt: at(1), UpdatedAt: at(1)},
		{ID: "middle", Repository: "other", Offset: 3, HashState: []byte("h"), CreatedAt: at(1), UpdatedAt: at(10)},
	}
	update(t, s, func(ctx context.Context, tx meta.Tx) error {
		for _, u := range uploads {
			if err := tx.CreateUpload(ctx, u); err != nil {
				return err
			}
		}
		return nil
	})
	ids := func(before int, n int) []string {
		t.Helper()
		us, err := s.StaleUploads(ctx, at(before), n)
		if err != nil {
			t.Fatalf("StaleUploads(at(%d), %d): %v", before, n, err)
		}
		var got []string
		for _, u := range us {
			got = append(got, u.ID)
			if u.ID == "middle" {
				if diff := cmp.Diff(uploads[2], u, cmpopts.EquateEmpty()); diff != "" {
					t.Errorf("StaleUploads returned middle (-want +got):\n%s", diff)
				}
			}
		}
		return got
	}
	for _, tt := range []struct {
		before, n int
		want      []string
	}{
		{0, 10, nil},
		{1, 10, nil}, // strictly before
		{2, 10, []string{"oldest"}},
		{11, 10, []string{"oldest", "middle"}},
		{31, 10, []string{"oldest", "middle", "newest"}},
		{31, 2, []string{"oldest", "middle"}},
	} {
		if got := ids(tt.before, tt.n); !cmp.Equal(got, tt.want, cmpopts.EquateEmpty()) {
			t.Errorf("StaleUploads(at(%d), %d) = %v, want %v", tt.before, tt.n, got, tt.want)
		}
	}

	advanced := uploads[1]
	advanced.Offset, advanced.UpdatedAt = 7, at(40)
	update(t, s, func(ctx context.Context, tx meta.Tx) error { return tx.AdvanceUpload(ctx, advanced, 0) })
	if got := ids(31, 10); !cmp.Equal(got, []string{"middle", "newest"}) {
		t.Errorf("after advancing oldest: StaleUploads = %v, want [middle newest]", got)
	}
}
