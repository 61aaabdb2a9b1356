package metrics_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"

	"github.com/wharf-dev/wharf/internal/metrics"
)

func TestNamespacesAdmitUpToTheLimit(t *testing.T) {
	n := metrics.NewNamespaces(100)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 300 {
				n.Admit(fmt.Sprintf("ns%d", (i*7+w)%300))
			}
		})
	}
	wg.Wait()
	if n.Len() != 100 {
		t.Fatalf("%d namespaces admitted, want the limit of 100", n.Len())
	}
	labelled := 0
	for i := range 300 {
		ns := fmt.Sprintf("ns%d", i)
		switch l := n.Label(ns); l {
		case ns:
			labelled++
		case metrics.OtherNamespace:
		default:
			t.Fatalf("Label(%s) = %s", ns, l)
		}
		if a := n.Admit(ns); a != n.Label(ns) {
			t.Fatalf("Admit(%s) = %s after the limit, Label says %s", ns, a, n.Label(ns))
		}
	}
	if labelled != 100 {
		t.Fatalf("%d namespaces have their own label, want 100", labelled)
	}
	if l := metrics.NewNamespaces(0).Admit("a"); l != metrics.OtherNamespace {
		t.Fatalf("limit 0 admitted %s", l)
	}
}

func TestTrafficCountsPerNamespace(t *testing.T) {
	m := metrics.New(metrics.Options{NamespaceLabels: 2})
	tr := m.Traffic
	tr.Pull("team", metrics.PullManifest, http.StatusOK, 0, time.Millisecond)
	tr.Pull("team", metrics.PullManifest, http.StatusNotModified, 0, time.Millisecond)
	tr.Pull("team", metrics.PullBlob, http.StatusOK, 1000, 2*time.Second)
	tr.Pull("team", metrics.PullBlob, http.StatusTemporaryRedirect, 500, time.Millisecond)
	tr.Pull("team", metrics.PullBlob, http.StatusServiceUnavailable, 0, time.Millisecond)
	tr.Pull("team", metrics.PullManifest, http.StatusUnauthorized, 0, time.Millisecond) // the token flow's first step
	tr.Pull("ghost", metrics.PullManifest, http.StatusNotFound, 0, time.Millisecond)    // never admitted
	tr.Pull("ghost", metrics.PullManifest, http.StatusForbidden, 0, time.Millisecond)
	tr.Pull("ghost", metrics.PullManifest, http.StatusTooManyRequests, 0, time.Millisecond)
	tr.Pull("ghost", metrics.PullBlob, http.StatusRequestedRangeNotSatisfiable, 0, time.Millisecond)
	tr.Push("team", http.StatusCreated)
	tr.Push("team", http.StatusBadRequest)
	tr.Push("b", http.StatusCreated)
	tr.Push("c", http.StatusCreated) // over the limit of 2
	tr.Pull("c", metrics.PullBlob, http.StatusOK, 7, time.Millisecond)

	for _, tc := range []struct {
		series string
		want   float64
	}{
		{`wharf_pulls_total{kind="manifest",namespace="team",result="ok"}`, 2},
		{`wharf_pulls_total{kind="blob",namespace="team",result="ok"}`, 2},
		{`wharf_pulls_total{kind="blob",namespace="team",result="error"}`, 1},
		{`wharf_pulls_total{kind="manifest",namespace="team",result="invalid"}`, 0},
		{`wharf_pulls_total{kind="manifest",namespace="_other",result="not_found"}`, 1},
		{`wharf_pulls_total{kind="manifest",namespace="_other",result="denied"}`, 2},
		{`wharf_pulls_total{kind="blob",namespace="_other",result="invalid"}`, 1},
		{`wharf_pulls_total{kind="blob",namespace="_other",result="ok"}`, 1},
		{`wharf_pull_bytes_total{namespace="team"}`, 1500},
		{`wharf_pull_bytes_total{namespace="_other"}`, 7},
		{`wharf_pushes_total{namespace="team",result="ok"}`, 1},
		{`wharf_pushes_total{namespace="team",result="invalid"}`, 1},
		{`wharf_pushes_total{namespace="b",result="ok"}`, 1},
		{`wharf_pushes_total{namespace="_other",result="ok"}`, 1},
		{`wharf_pull_duration_seconds_count{kind="manifest"}`, 2},
		{`wharf_pull_duration_seconds_count{kind="blob"}`, 3},
		{`wharf_pull_duration_seconds_bucket{kind="blob",le="1"}`, 2},
	} {
		if got := value(t, m, tc.series); got != tc.want {
			t.Errorf("%s = %v, want %v", tc.series, got, tc.want)
		}
	}
	// Labels: team, b, and _other; never ghost or c.
	for _, ns := range []string{"ghost", "c"} {
		if has(t, m, `namespace="`+ns+`"`) {
			t.Errorf("namespace %s has series of its own beyond the limit", ns)
		}
	}
}

func TestStorageExportsTheLargestNamespaces(t *testing.T) {
	m := metrics.New(metrics.Options{})
	s := m.NewStorage(2)
	if has(t, m, "wharf_storage") || has(t, m, "wharf_namespace_storage") {
		t.Fatalf("storage series before any figures:\n%s", exposition(t, m))
	}
	s.Set(metrics.StorageReport{
		Blobs: 3, Bytes: 1000, Repositories: 4, Tags: 7,
		Namespaces: []metrics.NamespaceStorage{{"small", 10}, {"big", 700}, {"mid", 300}, {"tiny", 1}},
		Quotas: []metrics.QuotaUsage{
			{Namespace: "a", LimitBytes: 100, UsedBytes: 10},
			{Namespace: "b", LimitBytes: 100, UsedBytes: 95},
			{Namespace: "c", LimitBytes: 1000, UsedBytes: 500},
		},
	}, time.Unix(1700000000, 0))
	for _, tc := range []struct {
		series string
		want   float64
	}{
		{`wharf_storage_bytes`, 1000},
		{`wharf_storage_blobs`, 3},
		{`wharf_storage_repositories`, 4},
		{`wharf_storage_tags`, 7},
		{`wharf_storage_refresh_timestamp_seconds`, 1700000000},
		{`wharf_namespace_storage_bytes{namespace="big"}`, 700},
		{`wharf_namespace_storage_bytes{namespace="mid"}`, 300},
		{`wharf_namespace_storage_bytes{namespace="_other"}`, 11},
		{`wharf_quota_used_bytes{namespace="b"}`, 95},
		{`wharf_quota_limit_bytes{namespace="c"}`, 1000},
	} {
		if got := value(t, m, tc.series); got != tc.want {
			t.Errorf("%s = %v, want %v", tc.series, got, tc.want)
		}
	}
	if has(t, m, `namespace="small"`) || has(t, m, `wharf_quota_used_bytes{namespace="a"}`) {
		t.Error("more namespaces labelled than the limit of 2")
	}
	s.Clear()
	if has(t, m, "wharf_storage") || has(t, m, "wharf_namespace_storage") || has(t, m, "wharf_quota_") {
		t.Fatalf("storage series after Clear:\n%s", exposition(t, m))
	}
}

func TestAuthFailuresStartAtZero(t *testing.T) {
	m := metrics.New(metrics.Options{})
	a := m.NewAuth([]string{"wrong_password", "locked_out"})
	a.Failed("locked_out")
	if got := value(t, m, `wharf_auth_failures_total{reason="wrong_password"}`); got != 0 {
		t.Errorf("wrong_password = %v", got)
	}
	if got := value(t, m, `wharf_auth_failures_total{reason="locked_out"}`); got != 1 {
		t.Errorf("locked_out = %v", got)
	}
}

func TestScanBacklogReadAtScrape(t *testing.T) {
	m := metrics.New(metrics.Options{})
	s := m.NewScans()
	if strings.Contains(exposition(t, m), "wharf_scan_backlog") {
		t.Fatal("wharf_scan_backlog exported before anything reads it")
	}
	fail := false
	queued := int64(7)
	s.SetBacklog(func(context.Context) (int64, int64, int64, error) {
		if fail {
			return 0, 0, 0, errors.New("store unreachable")
		}
		return 3, queued, 2, nil
	})
	for state, want := range map[string]float64{"noted": 3, "queued": 7, "running": 2} {
		if got := value(t, m, `wharf_scan_backlog{state="`+state+`"}`); got != want {
			t.Errorf("%s = %v, want %v", state, got, want)
		}
	}
	queued = 0
	if got := value(t, m, `wharf_scan_backlog{state="queued"}`); got != 0 {
		t.Errorf("queued after the queue drained = %v, want 0 (read at each scrape)", got)
	}
	// A backlog that cannot be read is left out; the scrape still serves the rest.
	fail = true
	if out := exposition(t, m); strings.Contains(out, "wharf_scan_backlog") || !strings.Contains(out, "wharf_scans_total") {
		t.Fatalf("scrape with the backlog unreadable:\n%s", out)
	}
}

func TestQuotaRefusalsPerNamespace(t *testing.T) {
	m := metrics.New(metrics.Options{NamespaceLabels: 1})
	l := m.NewLifecycle()
	l.QuotaRefused("full", "upload")
	l.QuotaRefused("also-full", "manifest")
	for _, tc := range []struct {
		series string
		want   float64
	}{
		{`wharf_quota_refusals_total{namespace="full",operation="upload"}`, 1},
		{`wharf_quota_refusals_total{namespace="full",operation="mount"}`, 0},
		{`wharf_quota_refusals_total{namespace="_other",operation="manifest"}`, 1},
	} {
		if got := value(t, m, tc.series); got != tc.want {
			t.Errorf("%s = %v, want %v", tc.series, got, tc.want)
		}
	}
}

// exposition returns what /metrics would serve.
func exposition(t *testing.T, m *metrics.Metrics) string {
	t.Helper()
	fams, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, f := range fams {
		if _, err := expfmt.MetricFamilyToText(&b, f); err != nil {
			t.Fatal(err)
		}
	}
	return b.String()
}

// value returns the value of one series, written as the exposition format
// writes it (labels sorted by name); a missing series fails the test.
func value(t *testing.T, m *metrics.Metrics, series string) float64 {
	t.Helper()
	for line := range strings.SplitSeq(exposition(t, m), "\n") {
		if s, ok := strings.CutPrefix(line, series+" "); ok {
			var v float64
			if _, err := fmt.Sscan(s, &v); err != nil {
				t.Fatal(err)
			}
			return v
		}
	}
	t.Fatalf("no series %s in\n%s", series, exposition(t, m))
	return 0
}

func has(t *testing.T, m *metrics.Metrics, part string) bool {
	return strings.Contains(exposition(t, m), part)
}

// BenchmarkTrafficPull is what counting one successful manifest pull
// costs: the namespace's label looked up, a counter and the histogram.
func BenchmarkTrafficPull(b *testing.B) {
	m := metrics.New(metrics.Options{NamespaceLabels: 100})
	for i := range 100 {
		m.Traffic.Push(fmt.Sprintf("ns%d", i), http.StatusCreated)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.Traffic.Pull("ns42", metrics.PullManifest, http.StatusOK, 0, time.Millisecond)
		}
	})
}
