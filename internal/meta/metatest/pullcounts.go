package metatest

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/meta"
)

// testPullCounts: counts add up per repository and manifest, per day and
// in total; a GET of a manifest an index lists counts for the manifest
// only; "recent" starts at a day; pruning removes old days, not totals;
// a manifest's figures go with it, the repository's stay.
func testPullCounts(t *testing.T, s meta.Store) {
	ctx := t.Context()
	child := putManifest(t, s, "team/a", "child")
	solo := putManifest(t, s, "team/a", "solo")
	idx := newManifest("team/a", "index")
	idx.MediaType = imageIndex
	idx.Children = []digest.Digest{child.Digest}
	update(t, s, func(ctx context.Context, tx meta.Tx) error { return tx.PutManifest(ctx, idx) })
	putManifest(t, s, "team-b/x", "beside") // a namespace that sorts next to team's
	today := time.Date(2025, 3, 14, 23, 59, 59, 0, time.UTC)
	day := func(n int) time.Time { return today.AddDate(0, 0, n) }
	record := func(counts ...meta.PullCount) {
		t.Helper()
		update(t, s, func(ctx context.Context, tx meta.Tx) error { return tx.RecordPullCounts(ctx, counts) })
	}
	record(
		meta.PullCount{Repository: "team/a", Digest: idx.Digest, Day: day(0), Pulls: 2, Bytes: 100},
		meta.PullCount{Repository: "team/a", Digest: idx.Digest, Day: day(0).Add(-time.Hour), Pulls: 1, Bytes: 50}, // same day
		meta.PullCount{Repository: "team/a", Digest: child.Digest, Day: day(0), Pulls: 3, Bytes: 30},
		meta.PullCount{Repository: "team/a", Day: day(0), Bytes: 1000}, // blobs
		meta.PullCount{Repository: "team/a", Digest: solo.Digest, Day: day(-40), Pulls: 5, Bytes: 500},
		meta.PullCount{Repository: "team/a", Digest: digest.FromString("gone"), Day: day(0), Pulls: 7, Bytes: 7},
		meta.PullCount{Repository: "nowhere", Digest: idx.Digest, Day: day(0), Pulls: 9, Bytes: 9},
		meta.PullCount{Repository: "team-b/x", Day: day(0), Bytes: 4},
	)
	record() // nothing
	record(meta.PullCount{Repository: "team/a", Digest: solo.Digest, Day: day(-1), Pulls: 1, Bytes: 10})

	since := day(-29)
	wantRepos := func(what string, want []meta.RepositoryPullStats) {
		t.Helper()
		got, err := s.RepositoryPulls(ctx, "team", since)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s: RepositoryPulls (-want +got):\n%s", what, diff)
		}
	}
	wantManifests := func(what string, want []meta.ManifestPullStats) {
		t.Helper()
		got, err := s.ManifestPulls(ctx, "team/a", since)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s: ManifestPulls (-want +got):\n%s", what, diff)
		}
	}
	// Image pulls: the index's 3 and solo's 6, not the child's 3; the
	// manifest that is gone counts its bytes for the repository.
	repoA := meta.RepositoryPullStats{Repository: "team/a", PullStats: meta.PullStats{
		Pulls: 3 + 5 + 1 + 7, BytesServed: 150 + 30 + 1000 + 500 + 10 + 7,
		RecentPulls: 3 + 1 + 7, RecentBytesServed: 150 + 30 + 1000 + 10 + 7}}
	wantRepos("recorded", []meta.RepositoryPullStats{repoA})
	manifests := []meta.ManifestPullStats{
		{Digest: child.Digest, PullStats: meta.PullStats{Pulls: 3, RecentPulls: 3}},
		{Digest: idx.Digest, PullStats: meta.PullStats{Pulls: 3, RecentPulls: 3}},
		{Digest: solo.Digest, PullStats: meta.PullStats{Pulls: 6, RecentPulls: 1}},
	}
	slices.SortFunc(manifests, func(a, b meta.ManifestPullStats) int { return strings.Compare(string(a.Digest), string(b.Digest)) })
	wantManifests("recorded", manifests)

	var pruned int64
	update(t, s, func(ctx context.Context, tx meta.Tx) error {
		var err error
		pruned, err = tx.PrunePullCounts(ctx, day(-35), day(-35))
		return err
	})
	if pruned != 2 { // day -40 of the repository and of solo
		t.Errorf("PrunePullCounts removed %d rows, want 2", pruned)
	}
	wantRepos("after pruning", []meta.RepositoryPullStats{repoA})
	wantManifests("after pruning", manifests)
	if got, _ := s.RepositoryPulls(ctx, "team", day(-40)); len(got) != 1 || got[0].RecentPulls != 3+1+7 {
		t.Errorf("after pruning, pulls since day -40 = %+v; want the pruned day gone", got)
	}

	update(t, s, func(ctx context.Context, tx meta.Tx) error { return tx.DeleteManifest(ctx, "team/a", solo.Digest) })
	wantManifests("after delete", manifests[:2])
	wantRepos("after delete", []meta.RepositoryPullStats{repoA})
	if got, err := s.RepositoryPulls(ctx, "nobody", since); err != nil || len(got) != 0 {
		t.Errorf("RepositoryPulls(nobody) = %v, %v; want none", got, err)
	}
}
