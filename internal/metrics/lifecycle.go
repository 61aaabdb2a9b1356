package metrics

import "github.com/prometheus/client_golang/prometheus"

// Lifecycle is what the registry records when a policy refuses or removes
// something.
type Lifecycle struct {
	quotaRefusals      *prometheus.CounterVec // namespace, operation: upload, mount, manifest
	RetentionDeletions *prometheus.CounterVec // kind: tag, manifest
	names              *Namespaces
}

// QuotaOperations are the writes a quota refuses: the operation label.
var QuotaOperations = []string{"upload", "mount", "manifest"}

// NewLifecycle returns the lifecycle collectors, registered on m's registry.
func (m *Metrics) NewLifecycle() *Lifecycle {
	l := &Lifecycle{
		quotaRefusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wharf_quota_refusals_total",
			Help: "Writes refused because they would exceed a namespace's quota, by namespace and operation (upload, mount, manifest).",
		}, []string{"namespace", "operation"}),
		RetentionDeletions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wharf_retention_deletions_total",
			Help: "Tags and manifests removed by retention policies, by kind (tag, manifest).",
		}, []string{"kind"}),
		names: m.Namespaces,
	}
	for _, kind := range []string{"tag", "manifest"} {
		l.RetentionDeletions.WithLabelValues(kind)
	}
	m.Namespaces.OnAdmit(func(label string) {
		for _, op := range QuotaOperations {
			l.quotaRefusals.WithLabelValues(label, op)
		}
	})
	m.Registry.MustRegister(l.quotaRefusals, l.RetentionDeletions)
	return l
}

// QuotaRefused records a write to namespace refused for its quota. Only a
// namespace with a quota is refused, so it is admitted to the namespace
// labels.
func (l *Lifecycle) QuotaRefused(namespace, operation string) {
	l.quotaRefusals.WithLabelValues(l.names.Admit(namespace), operation).Inc()
}
