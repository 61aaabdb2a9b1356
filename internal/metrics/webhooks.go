package metrics

import "github.com/prometheus/client_golang/prometheus"

// Webhooks is what webhook delivery records. The queue gauges are set by
// the replica that delivers (one at a time); the others leave them at 0.
type Webhooks struct {
	// Deliveries counts attempts by result: "delivered" (2xx), "failed"
	// (to be retried) or "dead" (the last attempt failed: dead-lettered).
	Deliveries *prometheus.CounterVec
	// Duration is how long attempts that reached the receiver took.
	Duration    prometheus.Histogram
	QueueDepth  prometheus.Gauge // deliveries pending
	DeadLetters prometheus.Gauge // deliveries dead-lettered, kept in the delivery log
}

// NewWebhooks registers and returns the webhook collectors.
func (m *Metrics) NewWebhooks() *Webhooks {
	w := &Webhooks{
		Deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wharf_webhook_deliveries_total",
			Help: "Webhook delivery attempts by result: delivered, failed (to be retried), dead (dead-lettered).",
		}, []string{"result"}),
		Duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "wharf_webhook_delivery_duration_seconds",
			Help:    "Time from sending a webhook delivery to the receiver's answer (or the failure).",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}),
		QueueDepth: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "wharf_webhook_queue_depth", Help: "Webhook deliveries pending (waiting for their first attempt or a retry), as the delivering replica last saw them.",
		}),
		DeadLetters: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "wharf_webhook_dead_letters", Help: "Webhook deliveries dead-lettered after their last attempt failed, kept in the delivery log until redelivered or pruned.",
		}),
	}
	for _, r := range []string{"delivered", "failed", "dead"} {
		w.Deliveries.WithLabelValues(r) // export zeros, so rate() sees the first failure
	}
	m.Registry.MustRegister(w.Deliveries, w.Duration, w.QueueDepth, w.DeadLetters)
	return w
}
