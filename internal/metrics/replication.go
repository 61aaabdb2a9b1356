package metrics

import "github.com/prometheus/client_golang/prometheus"

// Replication is what replication records of its runs, by rule name:
// rules are made by administrators, so the label stays small.
type Replication struct {
	Runs      *prometheus.CounterVec // rule, result: succeeded, partial, failed, cancelled
	Artifacts *prometheus.CounterVec // rule, result: copied, skipped, failed, deleted
	Bytes     *prometheus.CounterVec // rule
	Duration  *prometheus.HistogramVec
	Running   prometheus.Gauge
}

// ReplicationRunResults and ReplicationArtifactResults are the values of
// the result labels.
var (
	ReplicationRunResults      = []string{"succeeded", "partial", "failed", "cancelled"}
	ReplicationArtifactResults = []string{"copied", "skipped", "failed", "deleted"}
)

// NewReplication returns the replication collectors, registered on m's
// registry. Call it once per Metrics.
func (m *Metrics) NewReplication() *Replication {
	r := &Replication{
		Runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wharf_replication_runs_total", Help: "Replication runs ended on this replica, by rule and result (succeeded, partial, failed, cancelled).",
		}, []string{"rule", "result"}),
		Artifacts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wharf_replication_artifacts_total", Help: "Artifacts replication runs handled on this replica, by rule and result (copied, skipped, failed, deleted).",
		}, []string{"rule", "result"}),
		Bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wharf_replication_bytes_total", Help: "Blob bytes replication sent from this replica, by rule.",
		}, []string{"rule"}),
		Duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "wharf_replication_run_duration_seconds",
			Help:    "How long a replication run took on this replica, by rule.",
			Buckets: []float64{.1, .5, 2, 10, 30, 120, 600, 1800, 3600, 4 * 3600},
		}, []string{"rule"}),
		Running: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "wharf_replication_runs_in_progress", Help: "Replication runs in progress on this replica.",
		}),
	}
	m.Registry.MustRegister(r.Runs, r.Artifacts, r.Bytes, r.Duration, r.Running)
	return r
}

// PrepareRule creates rule's series at zero, so that the first failure of
// a rule shows as an increase.
func (r *Replication) PrepareRule(rule string) {
	for _, res := range ReplicationRunResults {
		r.Runs.WithLabelValues(rule, res)
	}
	for _, res := range ReplicationArtifactResults {
		r.Artifacts.WithLabelValues(rule, res)
	}
	r.Bytes.WithLabelValues(rule)
	r.Duration.WithLabelValues(rule)
}
