package metrics

import "github.com/prometheus/client_golang/prometheus"

// Proxy is what the pull-through caches report (docs/proxy.md).
type Proxy struct {
	events  *prometheus.CounterVec // event
	fetched prometheus.Counter
}

// ProxyEvents are the events of the pull-through caches: the event label.
var ProxyEvents = []string{"proxy.upstream.down", "proxy.upstream.up", "proxy.served-stale", "proxy.cache.filled", "proxy.fill.failed"}

// NewProxy returns the pull-through cache's collectors, registered on m's
// registry.
func (m *Metrics) NewProxy() *Proxy {
	p := &Proxy{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wharf_proxy_events_total",
			Help: "Events of the pull-through caches: an upstream down or up again, a tag served from the cache without its upstream, a manifest or blob fetched and stored, a blob fetch failed.",
		}, []string{"event"}),
		fetched: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "wharf_proxy_fetched_bytes_total",
			Help: "Bytes of manifests and blobs fetched from upstreams and stored.",
		}),
	}
	for _, e := range ProxyEvents {
		p.events.WithLabelValues(e)
	}
	m.Registry.MustRegister(p.events, p.fetched)
	return p
}

// Event counts an event of type event; a cache fill adds its bytes.
func (p *Proxy) Event(event string, filled int64) {
	p.events.WithLabelValues(event).Inc()
	if event == "proxy.cache.filled" {
		p.fetched.Add(float64(filled))
	}
}
