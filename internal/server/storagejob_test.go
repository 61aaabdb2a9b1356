package server

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/internal/config"
	"github.com/wharf-dev/wharf/internal/jobs"
)

// TestStorageFiguresEndWithTheLease: the storage-metrics job exports the
// figures while it holds its lease, stops exporting them when the lease's
// context ends (the lease lost, or the server stopping), and exports them
// again under the next lease.
func TestStorageFiguresEndWithTheLease(t *testing.T) {
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.Metrics.StorageInterval = 0 // no scheduled run; the test runs the job
	cfg.Resolve()
	s, err := New(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	exported := func() bool {
		fams, err := s.metrics.Registry.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range fams {
			if strings.HasPrefix(f.GetName(), "wharf_storage_") {
				return true
			}
		}
		return false
	}
	s.cfg.Metrics.StorageInterval = time.Hour
	var job jobs.Job
	for _, j := range s.jobs() {
		if j.Name == "storage-metrics" {
			job = j
		}
	}
	if job.Run == nil {
		t.Fatal("no storage-metrics job")
	}
	for lease := range 2 {
		ctx, cancel := context.WithCancel(context.Background())
		for range 2 { // runs under one lease
			if err := job.Run(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if !exported() {
			t.Fatalf("lease %d: the figures are not exported while the lease is held", lease)
		}
		cancel()
		deadline := time.Now().Add(5 * time.Second)
		for exported() {
			if time.Now().After(deadline) {
				t.Fatalf("lease %d: the figures are still exported after the lease ended", lease)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}
