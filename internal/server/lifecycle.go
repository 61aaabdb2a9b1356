package server

import (
	"context"

	"github.com/wharf-dev/wharf/internal/metrics"
	"github.com/wharf-dev/wharf/internal/registry"
)

// lifecycleHooks counts the registry's quota refusals and retention
// deletions in m.
func lifecycleHooks(m *metrics.Lifecycle) registry.Hooks {
	return registry.Hooks{
		QuotaRefused:     func(_, operation string) { m.QuotaRefusals.WithLabelValues(operation).Inc() },
		RetentionDeleted: func(kind string) { m.RetentionDeletions.WithLabelValues(kind).Inc() },
	}
}

// runRetention is the scheduled retention job: every stored policy, for
// real. Blobs the deleted manifests referenced are left to GC.
func (s *Server) runRetention(ctx context.Context) error {
	rep, err := s.registry.Retention(ctx, registry.RetentionOptions{})
	if len(rep.Deletions) > 0 || len(rep.Skipped) > 0 {
		s.log.Info("retention", "repositories", rep.Repositories, "deleted", len(rep.Deletions), "skipped", rep.Skipped)
	}
	return err
}
