package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Jobs is what the background job scheduler records of every run. The
// job's name is the label "name", not "job": Prometheus gives every
// scraped series the "job" of its scrape configuration and would rename a
// "job" label of wharf's to "exported_job".
type Jobs struct {
	Runs     *prometheus.CounterVec   // name
	Failures *prometheus.CounterVec   // name
	Duration *prometheus.HistogramVec // name
	LastRun  *prometheus.GaugeVec     // name; unix seconds of the last successful run
}

func newJobs() *Jobs {
	return &Jobs{
		Runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wharf_job_runs_total", Help: "Background job runs on this replica, by job.",
		}, []string{"name"}),
		Failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wharf_job_failures_total", Help: "Background job runs on this replica that failed, by job.",
		}, []string{"name"}),
		Duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "wharf_job_duration_seconds",
			Help:    "Background job run time, by job.",
			Buckets: []float64{.01, .05, .25, 1, 5, 30, 120, 600, 3600},
		}, []string{"name"}),
		LastRun: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "wharf_job_last_success_timestamp_seconds", Help: "When a background job last succeeded on this replica, by job.",
		}, []string{"name"}),
	}
}

func (j *Jobs) collectors() []prometheus.Collector {
	return []prometheus.Collector{j.Runs, j.Failures, j.Duration, j.LastRun}
}

// Prepare creates the run and failure series of job at zero, so that its
// first failure shows as an increase.
func (j *Jobs) Prepare(job string) {
	j.Runs.WithLabelValues(job)
	j.Failures.WithLabelValues(job)
}

// Observe records one run of job that took d and ended with err.
func (j *Jobs) Observe(job string, d time.Duration, err error) {
	j.Runs.WithLabelValues(job).Inc()
	j.Duration.WithLabelValues(job).Observe(d.Seconds())
	if err != nil {
		j.Failures.WithLabelValues(job).Inc()
		return
	}
	j.LastRun.WithLabelValues(job).SetToCurrentTime()
}
