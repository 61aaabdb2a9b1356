package server

import (
	"context"
	"time"

	"github.com/wharf-dev/wharf/internal/access"
	"github.com/wharf-dev/wharf/internal/jobs"
	"github.com/wharf-dev/wharf/internal/metrics"
	"github.com/wharf-dev/wharf/internal/registry"
)

// authHooks counts refused authentications in m.
func authHooks(m *metrics.Auth) access.Hooks {
	return access.Hooks{AuthFailed: func(r access.AuthFailure) { m.Failed(string(r)) }}
}

// authFailureReasons are the reason label values of m.NewAuth.
func authFailureReasons() []string {
	out := make([]string, len(access.AuthFailures))
	for i, r := range access.AuthFailures {
		out[i] = string(r)
	}
	return out
}

// storageJobs returns the job that computes the storage figures
// (docs/monitoring.md) every metrics.storageInterval; none when it is 0.
// It runs on one replica at a time, under the "storage-metrics" lease, and
// only that replica exports the figures: when it loses the lease or stops,
// it stops exporting them. The figures are the same whichever replica
// computes them, and computing them reads every blob and link row, so one
// replica doing it is enough; during a hand-over two replicas may export
// them for a moment, which is why dashboards aggregate them with max, not
// sum.
func (s *Server) storageJobs() []jobs.Job {
	every := s.cfg.Metrics.StorageInterval
	if every <= 0 {
		return nil
	}
	var held context.Context // the lease the exported figures were computed under
	return []jobs.Job{{
		Name:  "storage-metrics",
		Every: every,
		Run: func(ctx context.Context) error {
			u, err := s.registry.StorageUsage(ctx)
			if err != nil {
				return err
			}
			s.storage.Set(storageReport(u), time.Now())
			if ctx != held { // a new lease: stop exporting when it ends
				held = ctx
				context.AfterFunc(ctx, s.storage.Clear)
			}
			return nil
		},
	}}
}

func storageReport(u registry.StorageUsage) metrics.StorageReport {
	r := metrics.StorageReport{Blobs: u.Blobs, Bytes: u.Bytes}
	for _, n := range u.Namespaces {
		r.Namespaces = append(r.Namespaces, metrics.NamespaceStorage{Namespace: n.Namespace, Bytes: n.Bytes})
	}
	for _, q := range u.Quotas {
		r.Quotas = append(r.Quotas, metrics.QuotaUsage{Namespace: q.Namespace, LimitBytes: q.LimitBytes, UsedBytes: q.UsedBytes})
	}
	return r
}
