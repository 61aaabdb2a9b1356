// Package metrics holds wharf's Prometheus collectors and the registry that
// /metrics serves. Packages that observe something take the collector they
// need through their Options; nothing registers globally.
package metrics

import (
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// HTTP is what the HTTP edge records of every request.
type HTTP struct {
	Requests        *prometheus.CounterVec   // route, method, code
	Duration        *prometheus.HistogramVec // route, method
	BytesIn         prometheus.Counter
	BytesOut        prometheus.Counter
	UploadsInFlight prometheus.Gauge
	InFlight        prometheus.Gauge
}

// Metrics is the set of wharf's collectors and the registry holding them.
// The collectors a subsystem owns (GC, lifecycle, authentication, storage)
// are made by its NewX method when the subsystem is wired; webhook
// deliveries will get theirs the same way.
type Metrics struct {
	Registry *prometheus.Registry
	HTTP     *HTTP
	Jobs     *Jobs
	// Namespaces bounds the namespace label of every per-namespace counter.
	Namespaces *Namespaces
	Traffic    *Traffic
}

// Options configures [New].
type Options struct {
	// NamespaceLabels is how many namespaces get a label of their own in
	// per-namespace series; the rest are counted under [OtherNamespace].
	NamespaceLabels int
}

// New returns the collectors, registered on a fresh registry together with
// the Go runtime and process collectors.
func New(opts Options) *Metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	h := &HTTP{
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wharf_http_requests_total", Help: "HTTP requests by route, method and status code.",
		}, []string{"route", "method", "code"}),
		Duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "wharf_http_request_duration_seconds",
			Help:    "HTTP request latency by route and method.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"route", "method"}),
		BytesIn:  prometheus.NewCounter(prometheus.CounterOpts{Name: "wharf_http_request_bytes_total", Help: "Bytes received in request bodies."}),
		BytesOut: prometheus.NewCounter(prometheus.CounterOpts{Name: "wharf_http_response_bytes_total", Help: "Bytes sent in response bodies."}),
		UploadsInFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "wharf_uploads_in_flight", Help: "Blob upload requests currently streaming.",
		}),
		InFlight: prometheus.NewGauge(prometheus.GaugeOpts{Name: "wharf_http_requests_in_flight", Help: "HTTP requests being served."}),
	}
	reg.MustRegister(h.Requests, h.Duration, h.BytesIn, h.BytesOut, h.UploadsInFlight, h.InFlight)
	jobs := newJobs()
	reg.MustRegister(jobs.collectors()...)
	names := NewNamespaces(opts.NamespaceLabels)
	traffic := newTraffic(names)
	reg.MustRegister(traffic.collectors()...)
	return &Metrics{Registry: reg, HTTP: h, Jobs: jobs, Namespaces: names, Traffic: traffic}
}

// Handler serves the registry in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{})
}

// statusText caches the label value of common status codes so the hot path
// does not format integers.
var statusText = func() map[int]string {
	m := make(map[int]string)
	for c := 100; c < 600; c++ {
		m[c] = strconv.Itoa(c)
	}
	return m
}()

// Code returns the label value of an HTTP status code.
func Code(status int) string {
	if s, ok := statusText[status]; ok {
		return s
	}
	return strconv.Itoa(status)
}
