package metatest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/meta"
)

// RunScans checks a backend's [meta.Scans]: the queue, claims and their
// leases, results, re-matching, allowlists and the vulnerability data's
// pointer.
func RunScans(t *testing.T, newStore func(t *testing.T) meta.Store) {
	t.Run("queue", func(t *testing.T) { testScanQueue(t, newStore(t)) })
	t.Run("claims", func(t *testing.T) { testScanClaims(t, newStore(t)) })
	t.Run("results", func(t *testing.T) { testScanResults(t, newStore(t)) })
	t.Run("unscanned", func(t *testing.T) { testUnscanned(t, newStore(t)) })
	t.Run("allowlist", func(t *testing.T) { testAllowlist(t, newStore(t)) })
	t.Run("pointer", func(t *testing.T) { testVulnDBPointer(t, newStore(t)) })
}

func scansOf(t *testing.T, s meta.Store) meta.Scans {
	t.Helper()
	sc, ok := s.(meta.Scans)
	if !ok {
		t.Fatalf("%T does not implement meta.Scans", s)
	}
	return sc
}

// putImage puts an OCI image manifest (with an image configuration) into
// repo.
func putImage(t *testing.T, s meta.Store, repo, name string) meta.Manifest {
	t.Helper()
	cfg := linkBlob(t, s, repo, "config of "+name)
	m := newManifest(repo, name, cfg.Digest)
	m.ArtifactType = "application/vnd.oci.image.config.v1+json"
	update(t, s, func(ctx context.Context, tx meta.Tx) error { return tx.PutManifest(ctx, m) })
	return m
}

func claim(t *testing.T, sc meta.Scans, owner string, now time.Time) (meta.Scan, bool) {
	t.Helper()
	got, ok, err := sc.ClaimScan(context.Background(), meta.ScanClaim{Owner: owner, Now: now, Until: now.Add(time.Minute), MaxAttempts: 3})
	if err != nil {
		t.Fatalf("ClaimScan: %v", err)
	}
	return got, ok
}

func testScanQueue(t *testing.T, s meta.Store) {
	ctx := context.Background()
	sc := scansOf(t, s)
	a, b := putImage(t, s, "team/a", "a"), putImage(t, s, "team/b", "b")
	n, err := sc.EnqueueScans(ctx, at(10),
		meta.ScanRequest{Repository: "team/a", Digest: a.Digest},
		meta.ScanRequest{Repository: "team/b", Digest: b.Digest, Priority: 5},
		meta.ScanRequest{Repository: "team/a", Digest: digest.FromString("no such manifest")})
	if err != nil || n != 2 {
		t.Fatalf("EnqueueScans = %d, %v; want 2 queued (the missing manifest skipped)", n, err)
	}
	// Queuing again without Again changes nothing.
	if n, err := sc.EnqueueScans(ctx, at(11), meta.ScanRequest{Repository: "team/a", Digest: a.Digest}); err != nil || n != 0 {
		t.Fatalf("EnqueueScans again = %d, %v; want 0", n, err)
	}
	backlog(t, sc, 2, 0)
	// Higher priority first.
	got, ok := claim(t, sc, "w1", at(12))
	if !ok || got.Digest != b.Digest || got.State != meta.ScanRunning || got.Owner != "w1" || got.Attempts != 1 {
		t.Fatalf("first claim = %+v, %v; want b running for w1", got, ok)
	}
	backlog(t, sc, 1, 1)
	got, ok = claim(t, sc, "w2", at(12))
	if !ok || got.Digest != a.Digest {
		t.Fatalf("second claim = %+v, %v; want a", got, ok)
	}
	if _, ok := claim(t, sc, "w3", at(12)); ok {
		t.Fatal("a third claim succeeded with two scans both running")
	}
	backlog(t, sc, 0, 2)
	if err := (txWrites{s}).FinishScan(ctx, "w1", meta.Scan{Repository: "team/b", Digest: b.Digest, State: meta.ScanScanned, FinishedAt: at(13)}); err != nil {
		t.Fatal(err)
	}
	backlog(t, sc, 0, 1) // a finished scan is no longer in the queue
	// A manifest deleted takes its scan along.
	update(t, s, func(ctx context.Context, tx meta.Tx) error { return tx.DeleteManifest(ctx, "team/a", a.Digest) })
	if _, err := sc.Scan(ctx, "team/a", a.Digest); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("scan of a deleted manifest: %v, want ErrNotFound", err)
	}
}

// backlog checks the queue's depth.
func backlog(t *testing.T, sc meta.Scans, queued, running int64) {
	t.Helper()
	q, r, err := sc.ScanBacklog(context.Background())
	if err != nil || q != queued || r != running {
		t.Fatalf("ScanBacklog = %d queued, %d running, %v; want %d, %d", q, r, err, queued, running)
	}
}

func testScanClaims(t *testing.T, s meta.Store) {
	ctx := context.Background()
	sc := scansOf(t, s)
	m := putImage(t, s, "team/a", "a")
	if _, err := sc.EnqueueScans(ctx, at(0), meta.ScanRequest{Repository: "team/a", Digest: m.Digest}); err != nil {
		t.Fatal(err)
	}
	// Workers racing: exactly one claims it.
	var wg sync.WaitGroup
	var mu sync.Mutex
	winners := 0
	for i := range 8 {
		wg.Go(func() {
			_, ok, err := sc.ClaimScan(ctx, meta.ScanClaim{Owner: string(rune('a' + i)), Now: at(1), Until: at(61), MaxAttempts: 3})
			if err != nil {
				t.Error(err)
			}
			if ok {
				mu.Lock()
				winners++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if winners != 1 {
		t.Fatalf("%d workers claimed one scan, want 1", winners)
	}
	got, _ := sc.Scan(ctx, "team/a", m.Digest)
	owner := got.Owner
	if err := sc.RenewScan(ctx, "team/a", m.Digest, owner, at(120)); err != nil {
		t.Fatalf("RenewScan by the owner: %v", err)
	}
	if err := sc.RenewScan(ctx, "team/a", m.Digest, "someone else", at(120)); !errors.Is(err, meta.ErrConflict) {
		t.Fatalf("RenewScan by another: %v, want ErrConflict", err)
	}
	// Before the lease ends nobody takes it; after, another worker does,
	// and the first may no longer store a result.
	if _, ok := claim(t, sc, "late", at(100)); ok {
		t.Fatal("a running scan was claimed before its lease ended")
	}
	got, ok := claim(t, sc, "heir", at(121))
	if !ok || got.Owner != "heir" || got.Attempts != 2 {
		t.Fatalf("claim after the lease = %+v, %v; want heir, attempt 2", got, ok)
	}
	if err := (txWrites{s}).FinishScan(ctx, owner, meta.Scan{Repository: "team/a", Digest: m.Digest, State: meta.ScanScanned}); !errors.Is(err, meta.ErrConflict) {
		t.Fatalf("FinishScan by the old owner: %v, want ErrConflict", err)
	}
	// A scan whose worker keeps dying fails after MaxAttempts.
	if _, ok := claim(t, sc, "third", at(200)); !ok {
		t.Fatal("third claim failed")
	}
	if _, ok := claim(t, sc, "fourth", at(300)); ok {
		t.Fatal("a scan was claimed a fourth time with MaxAttempts 3")
	}
	got, _ = sc.Scan(ctx, "team/a", m.Digest)
	if got.State != meta.ScanFailed || got.Error == "" {
		t.Fatalf("after too many attempts: %+v, want failed with a reason", got)
	}
	// Asked again, it is queued afresh.
	if n, err := sc.EnqueueScans(ctx, at(400), meta.ScanRequest{Repository: "team/a", Digest: m.Digest, Again: true}); err != nil || n != 1 {
		t.Fatalf("EnqueueScans Again = %d, %v", n, err)
	}
	if got, ok := claim(t, sc, "fresh", at(401)); !ok || got.Attempts != 1 {
		t.Fatalf("claim after Again = %+v, %v; want attempt 1", got, ok)
	}
}

func testScanResults(t *testing.T, s meta.Store) {
	ctx := context.Background()
	sc := scansOf(t, s)
	a, b := putImage(t, s, "team/a", "a"), putImage(t, s, "team/a", "b")
	if _, err := sc.EnqueueScans(ctx, at(0), meta.ScanRequest{Repository: "team/a", Digest: a.Digest},
		meta.ScanRequest{Repository: "team/a", Digest: b.Digest}); err != nil {
		t.Fatal(err)
	}
	for _, owner := range []string{"w1", "w2"} {
		if _, ok := claim(t, sc, owner, at(1)); !ok {
			t.Fatal("claim failed")
		}
	}
	ra, _ := sc.Scan(ctx, "team/a", a.Digest)
	res := meta.Scan{Repository: "team/a", Digest: a.Digest, State: meta.ScanScanned, FinishedAt: at(5),
		Source: "layers", DataVersion: "sha256:v1", Packages: []byte(`[{"name":"openssl"}]`), Findings: []byte(`[{"id":"CVE-1"}]`),
		Problems: []byte(`[]`), Counts: meta.ScanCounts{Critical: 1, Fixable: 1}, Highest: "critical"}
	if err := (txWrites{s}).FinishScan(ctx, ra.Owner, res); err != nil {
		t.Fatalf("FinishScan: %v", err)
	}
	got, err := sc.Scan(ctx, "team/a", a.Digest)
	if err != nil || got.State != meta.ScanScanned || string(got.Packages) != string(res.Packages) ||
		string(got.Findings) != string(res.Findings) || got.Counts != res.Counts || got.Highest != "critical" ||
		!got.FinishedAt.Equal(at(5)) || got.Owner != "" || got.DataVersion != "sha256:v1" || got.Source != "layers" {
		t.Fatalf("Scan = %+v, %v", got, err)
	}
	rb, _ := sc.Scan(ctx, "team/a", b.Digest)
	if err := (txWrites{s}).FinishScan(ctx, rb.Owner, meta.Scan{Repository: "team/a", Digest: b.Digest, State: meta.ScanFailed, Error: "bad layer"}); err != nil {
		t.Fatal(err)
	}
	list, err := sc.ScanList(ctx, meta.ScanQuery{Repository: "team/a"})
	if err != nil || len(list) != 2 || list[0].Packages != nil {
		t.Fatalf("ScanList = %+v, %v", list, err)
	}
	list, err = sc.ScanList(ctx, meta.ScanQuery{Digests: []digest.Digest{b.Digest}, States: []string{meta.ScanFailed}})
	if err != nil || len(list) != 1 || list[0].Error != "bad layer" {
		t.Fatalf("ScanList of b = %+v, %v", list, err)
	}
	sev, err := sc.ScanSeverities(ctx)
	if err != nil || len(sev) != 1 || sev[0] != (meta.SeverityCount{Highest: "critical", Count: 1}) {
		t.Fatalf("ScanSeverities = %+v, %v", sev, err)
	}
	// Re-matching: only scans of another version, and only once.
	todo, err := sc.ScansToRematch(ctx, "sha256:v2", 10)
	if err != nil || len(todo) != 1 || todo[0].Digest != a.Digest || string(todo[0].Packages) != string(res.Packages) {
		t.Fatalf("ScansToRematch = %+v, %v", todo, err)
	}
	re := meta.Scan{Repository: "team/a", Digest: a.Digest, DataVersion: "sha256:v2", Findings: []byte(`[]`)}
	if err := sc.Rematch(ctx, "sha256:v1", re); err != nil {
		t.Fatalf("Rematch: %v", err)
	}
	if err := sc.Rematch(ctx, "sha256:v1", re); !errors.Is(err, meta.ErrConflict) {
		t.Fatalf("Rematch from a stale version: %v, want ErrConflict", err)
	}
	got, _ = sc.Scan(ctx, "team/a", a.Digest)
	if got.DataVersion != "sha256:v2" || got.Highest != "" || got.Counts != (meta.ScanCounts{}) || string(got.Packages) != string(res.Packages) {
		t.Fatalf("after Rematch: %+v", got)
	}
	if todo, _ := sc.ScansToRematch(ctx, "sha256:v2", 10); len(todo) != 0 {
		t.Fatalf("ScansToRematch after re-matching = %+v", todo)
	}
}

func testUnscanned(t *testing.T, s meta.Store) {
	ctx := context.Background()
	sc := scansOf(t, s)
	a, b := putImage(t, s, "team/a", "a"), putImage(t, s, "team/a", "b")
	putManifest(t, s, "team/a", "an artifact") // no image configuration
	if _, err := sc.EnqueueScans(ctx, at(10), meta.ScanRequest{Repository: "team/a", Digest: a.Digest}); err != nil {
		t.Fatal(err)
	}
	got, err := sc.Unscanned(ctx, at(0), 10)
	if err != nil || len(got) != 1 || got[0].Digest != b.Digest || got[0].Repository != "team/a" {
		t.Fatalf("Unscanned = %+v, %v; want only b", got, err)
	}
	if got, _ := sc.Unscanned(ctx, at(3), 10); len(got) != 0 {
		t.Fatalf("Unscanned since after the push = %+v", got)
	}
}

func testAllowlist(t *testing.T, s meta.Store) {
	ctx := context.Background()
	sc := scansOf(t, s)
	for _, a := range []meta.AllowedVulnerability{
		{Namespace: "team", ID: "CVE-2024-1", Reason: "not reachable", Expires: at(100), CreatedBy: "alice"},
		{Namespace: "", ID: "CVE-2024-2", Reason: "disputed", CreatedBy: "admin"},
		{Namespace: "other", ID: "CVE-2024-3", Reason: "x", CreatedBy: "bob"},
	} {
		if err := (txWrites{s}).PutAllowedVulnerability(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	got, err := sc.AllowedVulnerabilities(ctx, "team", "")
	if err != nil || len(got) != 2 || got[0].ID != "CVE-2024-2" || got[1].ID != "CVE-2024-1" ||
		!got[1].Expires.Equal(at(100)) || !got[0].Expires.IsZero() || got[1].Reason != "not reachable" {
		t.Fatalf("AllowedVulnerabilities = %+v, %v", got, err)
	}
	// Replacing an entry moves its expiry.
	if err := (txWrites{s}).PutAllowedVulnerability(ctx, meta.AllowedVulnerability{Namespace: "team", ID: "CVE-2024-1", Reason: "r2", CreatedBy: "alice"}); err != nil {
		t.Fatal(err)
	}
	got, _ = sc.AllowedVulnerabilities(ctx, "team")
	if len(got) != 1 || !got[0].Expires.IsZero() || got[0].Reason != "r2" {
		t.Fatalf("after replacing: %+v", got)
	}
	if err := (txWrites{s}).DeleteAllowedVulnerability(ctx, "team", "CVE-2024-1"); err != nil {
		t.Fatal(err)
	}
	if err := (txWrites{s}).DeleteAllowedVulnerability(ctx, "team", "CVE-2024-1"); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("deleting twice: %v, want ErrNotFound", err)
	}
}

func testVulnDBPointer(t *testing.T, s meta.Store) {
	ctx := context.Background()
	sc := scansOf(t, s)
	if _, err := sc.VulnDBPointer(ctx); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("pointer of an empty store: %v, want ErrNotFound", err)
	}
	d1, d2, d3 := digest.FromString("b1"), digest.FromString("b2"), digest.FromString("b3")
	for _, d := range []digest.Digest{d1, d2, d3} {
		if err := sc.PutVulnDBBundle(ctx, d, 2); err != nil {
			t.Fatal(err)
		}
	}
	p1 := meta.VulnDBPointer{Digest: d1.String(), Size: 2, Imported: at(1), Info: []byte(`{"advisories":1}`)}
	if err := sc.SetVulnDBPointer(ctx, "", p1); err != nil {
		t.Fatalf("first SetVulnDBPointer: %v", err)
	}
	if err := sc.SetVulnDBPointer(ctx, "", p1); !errors.Is(err, meta.ErrConflict) {
		t.Fatalf("second first SetVulnDBPointer: %v, want ErrConflict", err)
	}
	got, err := sc.VulnDBPointer(ctx)
	if err != nil || got.Digest != d1.String() || !got.Imported.Equal(at(1)) || string(got.Info) != string(p1.Info) {
		t.Fatalf("VulnDBPointer = %+v, %v", got, err)
	}
	// Two importers racing from d1: one wins.
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, d := range []digest.Digest{d2, d3} {
		wg.Go(func() {
			errs[i] = sc.SetVulnDBPointer(ctx, d1.String(), meta.VulnDBPointer{Digest: d.String(), Size: 2, Info: []byte(`{}`)})
		})
	}
	wg.Wait()
	if (errs[0] == nil) == (errs[1] == nil) {
		t.Fatalf("racing SetVulnDBPointer: %v and %v; want exactly one ErrConflict", errs[0], errs[1])
	}
	for _, err := range errs {
		if err != nil && !errors.Is(err, meta.ErrConflict) {
			t.Fatalf("racing SetVulnDBPointer: %v", err)
		}
	}
}
