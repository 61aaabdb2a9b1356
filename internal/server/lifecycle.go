package server

import (
	"context"
	"fmt"
	"time"

	"github.com/wharf-dev/wharf/internal/meta"
	"github.com/wharf-dev/wharf/internal/metrics"
	"github.com/wharf-dev/wharf/internal/policy"
	"github.com/wharf-dev/wharf/internal/registry"
)

// lifecycleHooks counts the registry's quota refusals and retention
// deletions in m.
func lifecycleHooks(m *metrics.Lifecycle) registry.Hooks {
	return registry.Hooks{
		QuotaRefused:     m.QuotaRefused,
		RetentionDeleted: func(kind string) { m.RetentionDeletions.WithLabelValues(kind).Inc() },
	}
}

// runRetention is the scheduled retention job: every stored policy, for
// real. Blobs the deleted manifests referenced are left to GC. Each
// repository it changed gets one audit event, as "system:retention".
func (s *Server) runRetention(ctx context.Context) error {
	rep, err := s.registry.Retention(ctx, registry.RetentionOptions{})
	if len(rep.Deletions) > 0 || len(rep.Skipped) > 0 {
		s.log.Info("retention", "repositories", rep.Repositories, "deleted", len(rep.Deletions), "skipped", rep.Skipped)
	}
	if a, ok := s.meta.(meta.Access); ok && len(rep.Deletions) > 0 {
		if aerr := a.AppendAudit(context.WithoutCancel(ctx), retentionAudit(rep, time.Now().UTC())...); aerr != nil {
			s.log.Warn("audit events of retention not recorded", "err", aerr)
		}
	}
	return err
}

// retentionAudit summarises a run's deletions, one event per repository in
// the order the run met them.
func retentionAudit(rep registry.RetentionReport, at time.Time) []meta.AuditEvent {
	var order []string
	counts := map[string][2]int{}
	for _, d := range rep.Deletions {
		c, seen := counts[d.Repository]
		if !seen {
			order = append(order, d.Repository)
		}
		if d.Kind == policy.KindTag {
			c[0]++
		} else {
			c[1]++
		}
		counts[d.Repository] = c
	}
	events := make([]meta.AuditEvent, 0, len(order))
	for _, repo := range order {
		c := counts[repo]
		events = append(events, meta.AuditEvent{
			At: at, Actor: "system:retention", Action: "retention.delete", Target: repo, Result: "ok",
			Detail: fmt.Sprintf("%d tags and %d manifests deleted by retention policies", c[0], c[1]),
		})
	}
	return events
}
