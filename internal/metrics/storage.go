package metrics

import (
	"cmp"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// StorageReport is what the registry holds, as the metadata store records
// it, computed by a background job (never per scrape).
type StorageReport struct {
	Blobs        int64 // blobs recorded, referenced or waiting for garbage collection
	Bytes        int64 // their bytes, each blob once: what the content store holds
	Repositories int64 // repositories that hold something
	Tags         int64
	Namespaces   []NamespaceStorage
	Quotas       []QuotaUsage
}

// NamespaceStorage is what one namespace holds: each blob its repositories
// link counted once, plus its manifests; what its quota is checked against.
type NamespaceStorage struct {
	Namespace string
	Bytes     int64
}

// QuotaUsage is one namespace's quota and what counts against it.
type QuotaUsage struct {
	Namespace  string
	LimitBytes int64
	UsedBytes  int64
}

// Storage exports the last [StorageReport] it was given, until [Storage.Clear].
// It is a collector of its own rather than gauges, so that a replica that
// does not compute the figures exports none of them: on a cluster only the
// replica holding the job's lease does.
type Storage struct {
	limit int

	mu     sync.Mutex
	report *StorageReport // nil: nothing to export
	at     time.Time

	bytes, blobs, refreshed  *prometheus.Desc
	repositories, tags       *prometheus.Desc
	namespace, limitB, usedB *prometheus.Desc
}

// NewStorage returns the storage collector, registered on m's registry.
// At most namespaceLabels namespaces get their own series: the largest;
// the others are summed under [OtherNamespace]. Quotas are labelled up to
// the same number, fullest first. Call it once per Metrics.
func (m *Metrics) NewStorage(namespaceLabels int) *Storage {
	ns := []string{"namespace"}
	s := &Storage{
		limit: max(namespaceLabels, 0),
		bytes: prometheus.NewDesc("wharf_storage_bytes",
			"Bytes of every blob recorded, each once however many repositories link it (including blobs waiting for garbage collection): what the content store holds.", nil, nil),
		blobs: prometheus.NewDesc("wharf_storage_blobs",
			"Blobs recorded, referenced or waiting for garbage collection.", nil, nil),
		repositories: prometheus.NewDesc("wharf_storage_repositories",
			"Repositories that hold a blob or a manifest.", nil, nil),
		tags: prometheus.NewDesc("wharf_storage_tags", "Tags in every repository.", nil, nil),
		refreshed: prometheus.NewDesc("wharf_storage_refresh_timestamp_seconds",
			"When the storage figures were last computed (unix seconds).", nil, nil),
		namespace: prometheus.NewDesc("wharf_namespace_storage_bytes",
			"Bytes a namespace holds (each blob its repositories link once, plus manifests): what its quota counts. The largest namespaces are labelled, the rest summed under _other.", ns, nil),
		limitB: prometheus.NewDesc("wharf_quota_limit_bytes", "A namespace's quota.", ns, nil),
		usedB:  prometheus.NewDesc("wharf_quota_used_bytes", "Bytes counted against a namespace's quota.", ns, nil),
	}
	m.Registry.MustRegister(s)
	return s
}

// Describe implements [prometheus.Collector].
func (s *Storage) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{s.bytes, s.blobs, s.repositories, s.tags, s.refreshed, s.namespace, s.limitB, s.usedB} {
		ch <- d
	}
}

// Collect implements [prometheus.Collector].
func (s *Storage) Collect(ch chan<- prometheus.Metric) {
	s.mu.Lock()
	r, at := s.report, s.at
	s.mu.Unlock()
	if r == nil {
		return
	}
	gauge := func(d *prometheus.Desc, v int64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v), labels...)
	}
	gauge(s.bytes, r.Bytes)
	gauge(s.blobs, r.Blobs)
	gauge(s.repositories, r.Repositories)
	gauge(s.tags, r.Tags)
	ch <- prometheus.MustNewConstMetric(s.refreshed, prometheus.GaugeValue, float64(at.UnixNano())/1e9)
	for _, n := range r.Namespaces {
		gauge(s.namespace, n.Bytes, n.Namespace)
	}
	for _, q := range r.Quotas {
		gauge(s.limitB, q.LimitBytes, q.Namespace)
		gauge(s.usedB, q.UsedBytes, q.Namespace)
	}
}

// Set replaces the figures exported with r, computed at at. r is not kept.
func (s *Storage) Set(r StorageReport, at time.Time) {
	out := &StorageReport{Blobs: r.Blobs, Bytes: r.Bytes, Repositories: r.Repositories, Tags: r.Tags}
	nss := slices.Clone(r.Namespaces)
	slices.SortFunc(nss, func(a, b NamespaceStorage) int {
		return cmp.Or(cmp.Compare(b.Bytes, a.Bytes), cmp.Compare(a.Namespace, b.Namespace))
	})
	if len(nss) > s.limit {
		other := NamespaceStorage{Namespace: OtherNamespace}
		for _, n := range nss[s.limit:] {
			other.Bytes += n.Bytes
		}
		nss = append(nss[:s.limit:s.limit], other)
	}
	out.Namespaces = nss
	qs := slices.Clone(r.Quotas)
	slices.SortFunc(qs, func(a, b QuotaUsage) int {
		return cmp.Or(cmp.Compare(fullness(b), fullness(a)), cmp.Compare(a.Namespace, b.Namespace))
	})
	out.Quotas = qs[:min(len(qs), s.limit)]
	s.mu.Lock()
	s.report, s.at = out, at
	s.mu.Unlock()
}

func fullness(q QuotaUsage) float64 {
	if q.LimitBytes <= 0 {
		return math.Inf(1) // a quota of nothing is full
	}
	return float64(q.UsedBytes) / float64(q.LimitBytes)
}

// Clear stops exporting the figures, as when this replica loses the lease
// of the job that computes them.
func (s *Storage) Clear() {
	s.mu.Lock()
	s.report = nil
	s.mu.Unlock()
}
