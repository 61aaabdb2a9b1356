package sqlite

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/internal/meta"
)

// BenchmarkScanQueue measures the scan queue's statements on a store that
// holds 5,000 scanned images with 30 kB of packages each, as a registry
// that scans on push does after a while: "enqueue" is the transaction that
// queues the scans of pushed images, once a second on the writer the
// pushes share (per image queued); "claim" is a worker's claim of the next
// scan and the store of its result.
func BenchmarkScanQueue(b *testing.B) {
	ctx := context.Background()
	s := openTest(b, Options{})
	for i := range 5000 {
		push(b, s, "bench/app", fmt.Sprintf("old%d", i), 200)
	}
	_, err := s.writer.ExecContext(ctx, `INSERT INTO scans (repository_id, digest, state, queued_at, finished_at, packages, findings)
		SELECT repository_id, digest, 'scanned', 0, 0, randomblob(30000), randomblob(2000) FROM manifests`)
	if err != nil {
		b.Fatal(err)
	}
	n := 0
	pushed := func(count int) []meta.ScanRequest {
		var reqs []meta.ScanRequest
		for range count {
			n++
			m := push(b, s, "bench/app", fmt.Sprintf("new%d", n), 200)
			reqs = append(reqs, meta.ScanRequest{Repository: "bench/app", Digest: m.Digest})
		}
		return reqs
	}
	b.Run("enqueue", func(b *testing.B) {
		const batch = 100
		for b.Loop() {
			b.StopTimer()
			reqs := pushed(batch)
			b.StartTimer()
			if q, err := s.EnqueueScans(ctx, time.Now(), reqs...); err != nil || q != batch {
				b.Fatalf("EnqueueScans = %d, %v", q, err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*batch), "µs/image")
	})
	b.Run("claim", func(b *testing.B) {
		packages := make([]byte, 30000)
		for b.Loop() {
			b.StopTimer()
			if _, err := s.EnqueueScans(ctx, time.Now(), pushed(1)...); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			now := time.Now()
			sc, ok, err := s.ClaimScan(ctx, meta.ScanClaim{Owner: "w", Now: now, Until: now.Add(time.Minute), MaxAttempts: 3})
			if err != nil || !ok {
				b.Fatalf("ClaimScan = %v, %v", ok, err)
			}
			sc.State, sc.Packages, sc.Findings = meta.ScanScanned, packages, []byte("[]")
			if err := s.Update(ctx, func(tx meta.Tx) error { return tx.FinishScan(ctx, "w", sc) }); err != nil {
				b.Fatal(err)
			}
		}
	})
}
