package metrics

import "github.com/prometheus/client_golang/prometheus"

// Lifecycle is what the registry records when a policy refuses or removes
// something.
type Lifecycle struct {
	QuotaRefusals      *prometheus.CounterVec // operation: upload, mount, manifest
	RetentionDeletions *prometheus.CounterVec // kind: tag, manifest
}

// NewLifecycle returns the lifecycle collectors, registered on m's registry.
func (m *Metrics) NewLifecycle() *Lifecycle {
	l := &Lifecycle{
		QuotaRefusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wharf_quota_refusals_total",
			Help: "Writes refused because they would exceed a namespace's quota, by operation (upload, mount, manifest).",
		}, []string{"operation"}),
		RetentionDeletions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wharf_retention_deletions_total",
			Help: "Tags and manifests removed by retention policies, by kind (tag, manifest).",
		}, []string{"kind"}),
	}
	m.Registry.MustRegister(l.QuotaRefusals, l.RetentionDeletions)
	return l
}
