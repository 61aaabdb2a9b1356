package server

import (
	"context"
	"time"

	"github.com/wharf-dev/wharf/internal/access"
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

// storageComputed exports the storage figures the registry's
// storage-metrics job computed (docs/monitoring.md). Only the replica that
// holds the job's lease exports them: when it loses the lease or stops, it
// stops exporting them. The figures are the same whichever replica
// computes them, so one replica doing it is enough; during a hand-over two
// replicas may export them for a moment, which is why dashboards aggregate
// them with max, not sum.
func (s *Server) storageComputed() func(ctx context.Context, u registry.StorageUsage) {
	var held context.Context // the lease the exported figures were computed under; the job's runs never overlap
	return func(ctx context.Context, u registry.StorageUsage) {
		s.storage.Set(storageReport(u), time.Now())
		if ctx != held { // a new lease: stop exporting when it ends
			held = ctx
			context.AfterFunc(ctx, s.storage.Clear)
		}
	}
}

func storageReport(u registry.StorageUsage) metrics.StorageReport {
	r := metrics.StorageReport{Blobs: u.Blobs, Bytes: u.Bytes, Repositories: u.Repositories, Tags: u.Tags}
	for _, n := range u.Namespaces {
		r.Namespaces = append(r.Namespaces, metrics.NamespaceStorage{Namespace: n.Namespace, Bytes: n.Bytes})
	}
	for _, q := range u.Quotas {
		r.Quotas = append(r.Quotas, metrics.QuotaUsage{Namespace: q.Namespace, LimitBytes: q.LimitBytes, UsedBytes: q.UsedBytes})
	}
	return r
}
