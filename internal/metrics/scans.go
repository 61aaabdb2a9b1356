package metrics

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Scans is what vulnerability scanning records.
type Scans struct {
	scans      *prometheus.CounterVec // result: scanned, failed, unsupported
	duration   prometheus.Histogram
	bySeverity *prometheus.GaugeVec // severity: critical, high, medium, low, unknown, none
	passRatio  *prometheus.GaugeVec // no labels: cleared with bySeverity
	dataNewest prometheus.Gauge
	loaded     prometheus.Gauge
	newCrit    prometheus.Counter
	backlog    *scanBacklog
}

// ScanResults are the result label of wharf_scans_total.
var ScanResults = []string{"scanned", "failed", "unsupported"}

// ScanSeverities are the severity label of wharf_images_by_severity: an
// image's most severe finding, or none.
var ScanSeverities = []string{"critical", "high", "medium", "low", "unknown", "none"}

// NewScans returns the scanning collectors, registered on m's registry.
func (m *Metrics) NewScans() *Scans {
	s := &Scans{
		scans: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wharf_scans_total",
			Help: "Image scans this replica ran, by result (scanned, failed, unsupported).",
		}, []string{"result"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "wharf_scan_duration_seconds",
			Help:    "How long image scans took, from claim to stored result.",
			Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300},
		}),
		bySeverity: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "wharf_images_by_severity",
			Help: "Scanned image manifests by the severity of their most severe finding (none: no finding). Set by the replica running the scan-metrics job.",
		}, []string{"severity"}),
		passRatio: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "wharf_scan_pass_ratio",
			Help: "The share of scanned image manifests with no finding at or above scanning.passSeverity. Set by the replica running the scan-metrics job.",
		}, nil),
		dataNewest: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "wharf_vulndb_newest_advisory_timestamp_seconds",
			Help: "When the newest advisory of the loaded vulnerability data was modified (unix seconds): time() minus it is the data's age.",
		}),
		loaded: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "wharf_vulndb_advisories",
			Help: "Advisories in the vulnerability data this replica has loaded.",
		}),
		newCrit: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "wharf_scan_new_critical_total",
			Help: "Stored images in which new vulnerability data found a critical vulnerability they were not known to have.",
		}),
	}
	s.backlog = &scanBacklog{desc: prometheus.NewDesc("wharf_scan_backlog",
		"Images waiting to be scanned, read when scraped: noted (pushes this replica noted and has not queued yet), queued and running (in the whole cluster).",
		[]string{"state"}, nil)}
	for _, r := range ScanResults {
		s.scans.WithLabelValues(r)
	}
	m.Registry.MustRegister(s.scans, s.duration, s.bySeverity, s.passRatio, s.dataNewest, s.loaded, s.newCrit, s.backlog)
	return s
}

// ScanBacklog reads the scan backlog: pushes noted and not queued on this
// replica, scans queued and running in the cluster.
type ScanBacklog func(ctx context.Context) (noted, queued, running int64, err error)

// SetBacklog makes wharf_scan_backlog read f when scraped.
func (s *Scans) SetBacklog(f ScanBacklog) { s.backlog.read.Store(&f) }

// backlogTimeout bounds the read of the backlog at a scrape.
const backlogTimeout = 2 * time.Second

// scanBacklog is wharf_scan_backlog: a count of the queue's rows is read
// at each scrape rather than kept, since every replica changes the queue.
type scanBacklog struct {
	desc *prometheus.Desc
	read atomic.Pointer[ScanBacklog]
}

func (b *scanBacklog) Describe(ch chan<- *prometheus.Desc) { ch <- b.desc }

// Collect reads the backlog; when it cannot (no scanner, the store
// unreachable) the series are left out of the scrape, which serves the
// other metrics as usual.
func (b *scanBacklog) Collect(ch chan<- prometheus.Metric) {
	f := b.read.Load()
	if f == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), backlogTimeout)
	defer cancel()
	noted, queued, running, err := (*f)(ctx)
	if err != nil {
		return
	}
	for _, v := range []struct {
		state string
		n     int64
	}{{"noted", noted}, {"queued", queued}, {"running", running}} {
		ch <- prometheus.MustNewConstMetric(b.desc, prometheus.GaugeValue, float64(v.n), v.state)
	}
}

// Scanned records a scan that ended with result.
func (s *Scans) Scanned(result string, took time.Duration) {
	s.scans.WithLabelValues(result).Inc()
	s.duration.Observe(took.Seconds())
}

// Severities sets the images by severity (keys of ScanSeverities) and the
// pass ratio.
func (s *Scans) Severities(counts map[string]int64, pass float64) {
	for _, sev := range ScanSeverities {
		s.bySeverity.WithLabelValues(sev).Set(float64(counts[sev]))
	}
	s.passRatio.WithLabelValues().Set(pass)
}

// ClearSeverities stops exporting the figures Severities set: the replica
// lost the job's lease, and another exports them now.
func (s *Scans) ClearSeverities() {
	s.bySeverity.Reset()
	s.passRatio.Reset()
}

// Loaded records the vulnerability data loaded.
func (s *Scans) Loaded(advisories int, newest time.Time) {
	s.loaded.Set(float64(advisories))
	if !newest.IsZero() {
		s.dataNewest.Set(float64(newest.Unix()))
	}
}

// NewCritical records an image found critical by new data.
func (s *Scans) NewCritical() { s.newCrit.Inc() }
