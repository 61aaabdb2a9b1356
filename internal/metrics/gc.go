package metrics

import "github.com/prometheus/client_golang/prometheus"

// GC is what garbage collection records of its runs.
type GC struct {
	Runs       *prometheus.CounterVec // result: ok, error
	Duration   prometheus.Histogram
	Deleted    *prometheus.CounterVec // kind: blob, manifest
	BytesFreed prometheus.Counter
	QueueDepth prometheus.Gauge   // reviews queued, due or not, after the last run
	Sweeps     prometheus.Counter // sweeps for bytes no row records that completed
	Orphans    prometheus.Counter // such bytes found and recorded for collection
}

// NewGC returns the garbage collection collectors, registered on m's
// registry. Call it once per Metrics.
func (m *Metrics) NewGC() *GC {
	g := &GC{
		Runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wharf_gc_runs_total", Help: "Garbage collection runs by result (ok, error).",
		}, []string{"result"}),
		Duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "wharf_gc_run_duration_seconds",
			Help:    "How long a garbage collection run took.",
			Buckets: prometheus.ExponentialBuckets(0.01, 4, 10),
		}),
		Deleted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wharf_gc_deleted_total", Help: "Blobs and manifests deleted by garbage collection, by kind.",
		}, []string{"kind"}),
		BytesFreed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "wharf_gc_bytes_freed_total", Help: "Blob bytes deleted by garbage collection.",
		}),
		QueueDepth: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "wharf_gc_review_queue_depth", Help: "Entries in the garbage collection review queue, due or not, after the last run.",
		}),
		Sweeps: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "wharf_gc_sweeps_total", Help: "Completed sweeps of the content store for bytes no blob row records.",
		}),
		Orphans: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "wharf_gc_orphans_recorded_total", Help: "Stored blobs no row recorded (left by a crash during a commit), recorded by a sweep for collection.",
		}),
	}
	for _, r := range []string{"ok", "error"} {
		g.Runs.WithLabelValues(r) // every series from the start, so rates see the first run
	}
	for _, k := range []string{"blob", "manifest"} {
		g.Deleted.WithLabelValues(k)
	}
	m.Registry.MustRegister(g.Runs, g.Duration, g.Deleted, g.BytesFreed, g.QueueDepth, g.Sweeps, g.Orphans)
	return g
}
