package metatest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wharf-dev/wharf/internal/meta"
)

// The charts' figures ([meta.TrendReader]): known data, exact UTC day
// buckets, empty days present as zero.

// trendDay is 2025-03-14 (UTC) plus n days, at hour h UTC.
func trendDay(n, h int) time.Time { return time.Date(2025, 3, 14+n, h, 0, 0, 0, time.UTC) }

func dayCounts(from int, ns ...int64) []meta.DayCount {
	out := make([]meta.DayCount, len(ns))
	for i, n := range ns {
		out[i] = meta.DayCount{Day: trendDay(from+i, 0), N: n}
	}
	return out
}

// testPushDays: pushes are counted per UTC day from the event stream, for
// the registry, a namespace (not one whose name starts alike) and a
// repository; other kinds, and pushes outside the range, are not counted.
func testPushDays(t *testing.T, s meta.Store) {
	ctx := t.Context()
	// A time zone east of UTC: 00:30 on the 15th there is 22:30 UTC on
	// the 14th, which is the day it counts for.
	east := time.FixedZone("UTC+2", 2*3600)
	n := 0
	ev := func(kind, repo string, at time.Time) meta.Event {
		n++
		ns, _, _ := cut(repo)
		return meta.Event{ID: fmt.Sprintf("trend-%d", n), Kind: kind, At: at, Namespace: ns, Repository: repo,
			Actor: "user:alice", Action: "push", Result: "ok", Data: []byte(`{}`)}
	}
	appendEvents(t, s,
		ev("artifact.pushed", "team/app", trendDay(0, 0)),                                     // first second of day 0
		ev("artifact.pushed", "team/app", trendDay(1, 0).Add(-time.Nanosecond)),               // last of day 0
		ev("artifact.pushed", "team/app", time.Date(2025, 3, 15, 0, 30, 0, 0, east)),          // day 0 in UTC
		ev("artifact.pushed", "team/db", trendDay(2, 12)),                                     // another repository
		ev("artifact.pushed", "team-b/app", trendDay(2, 12)),                                  // another namespace
		ev("tag.moved", "team/app", trendDay(2, 12)),                                          // another kind
		ev("artifact.pushed", "team/app", trendDay(-1, 23)),                                   // before the range
		ev("artifact.pushed", "team/app", trendDay(4, 0)),                                     // after it
		ev("artifact.pushed", "team/app", trendDay(3, 23).Add(59*time.Minute+59*time.Second)), // last day
	)
	for _, tc := range []struct {
		name string
		q    meta.DayQuery
		want []meta.DayCount
	}{
		{"registry", meta.DayQuery{}, dayCounts(0, 3, 0, 2, 1)},
		{"namespace", meta.DayQuery{Namespace: "team"}, dayCounts(0, 3, 0, 1, 1)},
		{"repository", meta.DayQuery{Namespace: "team", Repository: "team/app"}, dayCounts(0, 3, 0, 0, 1)},
		{"nothing", meta.DayQuery{Namespace: "none"}, dayCounts(0, 0, 0, 0, 0)},
	} {
		tc.q.From, tc.q.To = trendDay(0, 13), trendDay(3, 1) // times of day do not matter
		got, err := s.PushDays(ctx, tc.q)
		if err != nil {
			t.Fatalf("%s: PushDays: %v", tc.name, err)
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("%s: PushDays (-want +got):\n%s", tc.name, diff)
		}
	}
	// One day; and a range given backwards is its first day.
	got, err := s.PushDays(ctx, meta.DayQuery{From: trendDay(2, 0), To: trendDay(1, 0)})
	if err != nil || !cmp.Equal(got, dayCounts(2, 2)) {
		t.Errorf("PushDays of one day = %v, %v; want %v", got, err, dayCounts(2, 2))
	}
}

func cut(repo string) (string, string, bool) {
	for i := range len(repo) {
		if repo[i] == '/' {
			return repo[:i], repo[i+1:], true
		}
	}
	return repo, "", false
}

// testPullDays: pulls per day add up the repositories' daily image pulls.
func testPullDays(t *testing.T, s meta.Store) {
	ctx := t.Context()
	a := putManifest(t, s, "team/a", "a")
	b := putManifest(t, s, "team/b", "b")
	c := putManifest(t, s, "team-b/x", "c")
	update(t, s, func(ctx context.Context, tx meta.Tx) error {
		return tx.RecordPullCounts(ctx, []meta.PullCount{
			{Repository: "team/a", Digest: a.Digest, Day: trendDay(0, 1), Pulls: 2},
			{Repository: "team/a", Digest: a.Digest, Day: trendDay(0, 23), Pulls: 3},
			{Repository: "team/a", Digest: a.Digest, Day: trendDay(3, 5), Pulls: 1},
			{Repository: "team/b", Digest: b.Digest, Day: trendDay(2, 5), Pulls: 4},
			{Repository: "team/b", Day: trendDay(1, 5), Bytes: 100}, // bytes only
			{Repository: "team-b/x", Digest: c.Digest, Day: trendDay(1, 5), Pulls: 7},
			{Repository: "team/a", Digest: a.Digest, Day: trendDay(-1, 5), Pulls: 9}, // before
		})
	})
	for _, tc := range []struct {
		name string
		q    meta.DayQuery
		want []meta.DayCount
	}{
		{"registry", meta.DayQuery{}, dayCounts(0, 5, 7, 4, 1)},
		{"namespace", meta.DayQuery{Namespace: "team"}, dayCounts(0, 5, 0, 4, 1)},
		{"repository", meta.DayQuery{Namespace: "team", Repository: "team/a"}, dayCounts(0, 5, 0, 0, 1)},
		{"unknown", meta.DayQuery{Namespace: "team", Repository: "team/none"}, dayCounts(0, 0, 0, 0, 0)},
	} {
		tc.q.From, tc.q.To = trendDay(0, 0), trendDay(3, 0)
		got, err := s.PullDays(ctx, tc.q)
		if err != nil {
			t.Fatalf("%s: PullDays: %v", tc.name, err)
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("%s: PullDays (-want +got):\n%s", tc.name, diff)
		}
	}
	// Repositories' daily counts are kept longer than manifests'.
	var pruned int64
	update(t, s, func(ctx context.Context, tx meta.Tx) error {
		var err error
		pruned, err = tx.PrunePullCounts(ctx, trendDay(1, 0), trendDay(0, 0))
		return err
	})
	if pruned != 3 { // team/a's day -1; the manifest days -1 and 0 of team/a
		t.Errorf("PrunePullCounts removed %d rows, want 3", pruned)
	}
	if got, _ := s.PullDays(ctx, meta.DayQuery{From: trendDay(-1, 0), To: trendDay(0, 0)}); !cmp.Equal(got, dayCounts(-1, 0, 5)) {
		t.Errorf("after pruning, PullDays = %v; want day -1 gone, day 0 kept", got)
	}
}

// testStorageDays: a day's sample is replaced by a later one of the same
// day; the top namespaces are those of the last day sampled; pruning
// removes older days.
func testStorageDays(t *testing.T, s meta.Store) {
	ctx := t.Context()
	record := func(at time.Time, total int64, nss ...meta.NamespaceBytes) {
		t.Helper()
		update(t, s, func(ctx context.Context, tx meta.Tx) error {
			return tx.RecordStorageDay(ctx, at, meta.StorageUsage{Bytes: total, Namespaces: nss})
		})
	}
	nb := func(ns string, n int64) meta.NamespaceBytes { return meta.NamespaceBytes{Namespace: ns, Bytes: n} }
	record(trendDay(0, 1), 100, nb("a", 60), nb("b", 50))
	record(trendDay(0, 23), 110, nb("a", 70), nb("b", 50)) // replaces day 0
	record(trendDay(2, 0), 300, nb("a", 10), nb("b", 200), nb("c", 90))
	sd := func(ns string, day int, n int64) meta.StorageDay {
		return meta.StorageDay{Namespace: ns, Day: trendDay(day, 0), Bytes: n}
	}
	got, err := s.StorageDays(ctx, "", trendDay(0, 0), trendDay(5, 0))
	if want := []meta.StorageDay{sd("", 0, 110), sd("", 2, 300)}; err != nil || !cmp.Equal(got, want) {
		t.Errorf("StorageDays(whole store) = %v, %v; want %v", got, err, want)
	}
	got, err = s.StorageDays(ctx, "a", trendDay(1, 0), trendDay(5, 0))
	if want := []meta.StorageDay{sd("a", 2, 10)}; err != nil || !cmp.Equal(got, want) {
		t.Errorf("StorageDays(a, from day 1) = %v, %v; want %v", got, err, want)
	}
	got, err = s.TopStorageDays(ctx, 2, trendDay(0, 0), trendDay(5, 0))
	if want := []meta.StorageDay{sd("b", 0, 50), sd("b", 2, 200), sd("c", 2, 90)}; err != nil || !cmp.Equal(got, want) {
		t.Errorf("TopStorageDays(2) = %v, %v; want %v", got, err, want)
	}
	got, err = s.TopStorageDays(ctx, 1, trendDay(0, 0), trendDay(1, 0)) // the last day sampled in the range
	if want := []meta.StorageDay{sd("a", 0, 70)}; err != nil || !cmp.Equal(got, want) {
		t.Errorf("TopStorageDays(1, days 0 to 1) = %v, %v; want %v", got, err, want)
	}
	var pruned int64
	update(t, s, func(ctx context.Context, tx meta.Tx) error {
		var err error
		pruned, err = tx.PruneStorageDays(ctx, trendDay(1, 12))
		return err
	})
	if pruned != 3 {
		t.Errorf("PruneStorageDays removed %d rows, want 3", pruned)
	}
	if got, _ := s.StorageDays(ctx, "a", trendDay(0, 0), trendDay(5, 0)); len(got) != 1 {
		t.Errorf("after pruning, StorageDays(a) = %v; want day 2 only", got)
	}
}

// testVulnerabilityTotals: the scanned manifests' counts add up per
// namespace and registry-wide; scans not finished are not counted.
func testVulnerabilityTotals(t *testing.T, s meta.Store) {
	ctx := t.Context()
	sc := scansOf(t, s)
	scan := func(repo, name string, c meta.ScanCounts, highest, state string) {
		t.Helper()
		m := putImage(t, s, repo, name)
		if _, err := sc.EnqueueScans(ctx, at(1), meta.ScanRequest{Repository: repo, Digest: m.Digest}); err != nil {
			t.Fatal(err)
		}
		if state == meta.ScanQueued {
			return
		}
		got, ok := claim(t, sc, "w", at(2))
		if !ok {
			t.Fatal("nothing to claim")
		}
		if err := (txWrites{s}).FinishScan(ctx, "w", meta.Scan{Repository: got.Repository, Digest: got.Digest, State: state,
			FinishedAt: at(3), Counts: c, Highest: highest}); err != nil {
			t.Fatal(err)
		}
	}
	scan("team/a", "1", meta.ScanCounts{Critical: 2, High: 1, Low: 4, Fixable: 3}, "critical", meta.ScanScanned)
	scan("team/b", "2", meta.ScanCounts{Medium: 5, Unknown: 1}, "medium", meta.ScanScanned)
	scan("team/b", "3", meta.ScanCounts{}, "", meta.ScanScanned)
	scan("team-b/x", "4", meta.ScanCounts{High: 7}, "high", meta.ScanScanned)
	scan("team/c", "5", meta.ScanCounts{}, "", meta.ScanFailed)
	scan("team/d", "6", meta.ScanCounts{}, "", meta.ScanQueued)
	by := func(c, h, m, l, u, none int64) []meta.SeverityCount {
		return []meta.SeverityCount{{Highest: "critical", Count: c}, {Highest: "high", Count: h}, {Highest: "medium", Count: m},
			{Highest: "low", Count: l}, {Highest: "unknown", Count: u}, {Highest: "", Count: none}}
	}
	for _, tc := range []struct {
		ns   string
		want meta.VulnerabilityTotals
	}{
		{"team", meta.VulnerabilityTotals{Images: 3, Findings: meta.ScanCounts{Critical: 2, High: 1, Medium: 5, Low: 4, Unknown: 1, Fixable: 3},
			ByHighest: by(1, 0, 1, 0, 0, 1)}},
		{"", meta.VulnerabilityTotals{Images: 4, Findings: meta.ScanCounts{Critical: 2, High: 8, Medium: 5, Low: 4, Unknown: 1, Fixable: 3},
			ByHighest: by(1, 1, 1, 0, 0, 1)}},
		{"none", meta.VulnerabilityTotals{ByHighest: by(0, 0, 0, 0, 0, 0)}},
	} {
		got, err := s.VulnerabilityTotals(ctx, tc.ns)
		if err != nil {
			t.Fatalf("VulnerabilityTotals(%q): %v", tc.ns, err)
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("VulnerabilityTotals(%q) (-want +got):\n%s", tc.ns, diff)
		}
	}
}
