package metrics

import (
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// What was pulled: the kind label of pulls.
const (
	PullManifest = "manifest" // a manifest GET or HEAD
	PullBlob     = "blob"     // a blob GET (streamed or redirected)
)

// Results of a pull or push: the result label.
const (
	ResultOK       = "ok"        // 2xx and 3xx (a 304, a redirect to the object store)
	ResultNotFound = "not_found" // 404: no such manifest, blob or repository
	ResultDenied   = "denied"    // 403 (no permission, a full quota, an immutable tag), or 429 after too many failed logins
	ResultInvalid  = "invalid"   // any other 4xx: a bad name, reference, digest, range or manifest
	ResultError    = "error"     // 5xx: the registry or a store behind it failed
)

// Results lists every result label value, in the order of [resultOf].
var Results = []string{ResultOK, ResultNotFound, ResultDenied, ResultInvalid, ResultError}

// Result returns the result label of a response status, and false for a
// 401: that is the first step of every client's token flow, not an
// outcome (failed logins are counted by [Auth]).
func Result(status int) (string, bool) {
	i, ok := resultOf(status)
	if !ok {
		return "", false
	}
	return Results[i], true
}

// resultOf returns the index in [Results] of a status's result.
func resultOf(status int) (int, bool) {
	switch {
	case status < 400:
		return 0, true
	case status == http.StatusUnauthorized:
		return 0, false
	case status == http.StatusNotFound:
		return 1, true
	case status == http.StatusForbidden || status == http.StatusTooManyRequests:
		return 2, true
	case status < 500:
		return 3, true
	}
	return 4, true
}

// PullDurationBuckets suit both kinds of pull: a manifest from memory
// takes well under a millisecond, a layer of gigabytes minutes.
var PullDurationBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300}

// Traffic is what the distribution API records of pulls and pushes, per
// namespace (bounded by [Namespaces]); never per repository or tag.
type Traffic struct {
	names     *Namespaces
	pulls     *prometheus.CounterVec // namespace, kind, result
	pullBytes *prometheus.CounterVec // namespace
	pushes    *prometheus.CounterVec // namespace, result
	duration  *prometheus.HistogramVec
	manifests prometheus.Observer // duration's manifest child
	blobs     prometheus.Observer // duration's blob child
	// series holds each label's counters, so that counting a request is a
	// map load and an atomic add, not a label hash and a locked lookup.
	series sync.Map // label -> *namespaceSeries
}

// namespaceSeries are the counters of one namespace label.
type namespaceSeries struct {
	pulls     [2][5]prometheus.Counter // [manifest, blob][result]
	pullBytes prometheus.Counter
	pushes    [5]prometheus.Counter // [result]
}

func newTraffic(names *Namespaces) *Traffic {
	duration := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "wharf_pull_duration_seconds",
		Help:    "Time to serve a pull that succeeded, from the request to its last byte, by kind (manifest, blob).",
		Buckets: PullDurationBuckets,
	}, []string{"kind"})
	t := &Traffic{
		names: names,
		pulls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wharf_pulls_total",
			Help: "Manifest GETs and HEADs and blob GETs on /v2, by namespace, kind (manifest, blob) and result (ok, not_found, denied, invalid, error).",
		}, []string{"namespace", "kind", "result"}),
		pullBytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wharf_pull_bytes_total",
			Help: "Blob bytes pulled, streamed by wharf or redirected to the object store, by namespace.",
		}, []string{"namespace"}),
		pushes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wharf_pushes_total",
			Help: "Manifest PUTs on /v2, by namespace and result (ok, not_found, denied, invalid, error).",
		}, []string{"namespace", "result"}),
		duration:  duration,
		manifests: duration.WithLabelValues(PullManifest),
		blobs:     duration.WithLabelValues(PullBlob),
	}
	names.OnAdmit(t.prepare)
	return t
}

// prepare creates the series of namespace label, at zero.
func (t *Traffic) prepare(label string) {
	s := &namespaceSeries{pullBytes: t.pullBytes.WithLabelValues(label)}
	for i, result := range Results {
		s.pulls[0][i] = t.pulls.WithLabelValues(label, PullManifest, result)
		s.pulls[1][i] = t.pulls.WithLabelValues(label, PullBlob, result)
		s.pushes[i] = t.pushes.WithLabelValues(label, result)
	}
	t.series.Store(label, s)
}

func (t *Traffic) collectors() []prometheus.Collector {
	return []prometheus.Collector{t.pulls, t.pullBytes, t.pushes, t.duration}
}

// Pull records a pull of kind (PullManifest or PullBlob) in namespace that
// was answered status after d, with bytes of blob content (what was sent,
// or the size of the blob a redirect points to). A 401 is not recorded.
func (t *Traffic) Pull(namespace, kind string, status int, bytes int64, d time.Duration) {
	result, ok := resultOf(status)
	if !ok {
		return
	}
	s := t.seriesOf(namespace, result)
	if kind == PullBlob {
		s.pulls[1][result].Inc()
		if result == 0 {
			t.blobs.Observe(d.Seconds())
			if bytes > 0 {
				s.pullBytes.Add(float64(bytes))
			}
		}
		return
	}
	s.pulls[0][result].Inc()
	if result == 0 {
		t.manifests.Observe(d.Seconds())
	}
}

// Push records a manifest push to namespace answered status. A 401 is not
// recorded.
func (t *Traffic) Push(namespace string, status int) {
	if result, ok := resultOf(status); ok {
		t.seriesOf(namespace, result).pushes[result].Inc()
	}
}

// seriesOf returns the counters of namespace's label. A success admits
// namespace; a failure is labelled only if its namespace already was.
func (t *Traffic) seriesOf(namespace string, result int) *namespaceSeries {
	var label string
	if result == 0 {
		label = t.names.Admit(namespace)
	} else {
		label = t.names.Label(namespace)
	}
	s, _ := t.series.Load(label) // prepare stored it before the label was handed out
	return s.(*namespaceSeries)
}
