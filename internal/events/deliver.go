package events

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/wharf-dev/wharf/internal/meta"
	"github.com/wharf-dev/wharf/internal/metrics"
)

// DelivererOptions configures a [Deliverer].
type DelivererOptions struct {
	Store  meta.Webhooks
	Sender *Sender
	// MaxAttempts is how many times a delivery is attempted before it is
	// dead-lettered; 0 means 10.
	MaxAttempts int
	// Backoff is the wait after the first failed attempt, doubled after
	// each further one up to MaxBackoff; a random part of up to half of
	// it is taken off, so that deliveries failing together spread out.
	// 0 means 10 seconds and 1 hour.
	Backoff, MaxBackoff time.Duration
	// Concurrency bounds the deliveries in flight per webhook (each to a
	// different repository: deliveries of one repository go in order);
	// 0 means 4.
	Concurrency int
	// Poll is how often the outbox is read for new events and webhooks
	// are reloaded; 0 means 500 ms.
	Poll   time.Duration
	Logger *slog.Logger
	// Metrics records deliveries; nil records nothing.
	Metrics *metrics.Webhooks
}

// Deliverer moves events from the outbox to webhooks: it dispatches each
// new event (a delivery for every webhook it matches, recorded with the
// event marked dispatched, in one transaction) and delivers, with one
// worker per webhook, so that a slow or dead receiver holds up only its
// own webhook. One process at a time must run it (the server holds a
// lease): each event is then delivered once to each webhook, unless the
// process dies between a receiver's answer and recording it, when the
// next holder sends it again with the same event ID.
type Deliverer struct {
	o   DelivererOptions
	log *slog.Logger

	mu      sync.Mutex
	workers map[int64]*worker
}

// NewDeliverer returns a Deliverer.
func NewDeliverer(o DelivererOptions) *Deliverer {
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 10
	}
	if o.Backoff <= 0 {
		o.Backoff = 10 * time.Second
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = time.Hour
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 4
	}
	if o.Poll <= 0 {
		o.Poll = 500 * time.Millisecond
	}
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Deliverer{o: o, log: log.With("component", "webhooks"), workers: map[int64]*worker{}}
}

// dispatchBatch bounds the events one dispatch transaction takes.
const dispatchBatch = 500

// observeEvery is how often the queue gauges are read from the store.
const observeEvery = time.Second

// Run dispatches and delivers until ctx is done (the lease is lost or the
// server stops), then waits for the attempts in flight to end and returns
// ctx's error.
func (d *Deliverer) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer func() {
		wg.Wait()
		d.mu.Lock()
		clear(d.workers)
		d.mu.Unlock()
	}()
	var observed time.Time
	for {
		hooks, err := d.o.Store.ListWebhooks(ctx, "", true)
		if err == nil {
			d.startWorkers(ctx, &wg, hooks)
			err = d.dispatchAll(ctx, hooks)
		}
		if err == nil && time.Since(observed) >= observeEvery {
			d.observeQueue(ctx)
			observed = time.Now()
		}
		if err != nil && ctx.Err() == nil {
			d.log.Warn("dispatch events to webhooks", "err", err)
		}
		if !sleep(ctx, d.o.Poll, nil) {
			return ctx.Err()
		}
	}
}

// dispatchAll dispatches every undispatched event, a batch at a time.
func (d *Deliverer) dispatchAll(ctx context.Context, hooks []meta.Webhook) error {
	for {
		n, err := d.dispatch(ctx, hooks)
		if err != nil || n < dispatchBatch {
			return err
		}
	}
}

// dispatch takes a batch of new events, records a delivery for each
// webhook each matches, and wakes the workers of those webhooks.
func (d *Deliverer) dispatch(ctx context.Context, hooks []meta.Webhook) (int, error) {
	evs, err := d.o.Store.UndispatchedEvents(ctx, dispatchBatch)
	if err != nil || len(evs) == 0 {
		return 0, err
	}
	seqs := make([]int64, len(evs))
	var ds []meta.Delivery
	woken := map[int64]bool{}
	for i := range evs {
		e := &evs[i]
		seqs[i] = e.Seq
		for j := range hooks {
			if Matches(&hooks[j], e) {
				ds = append(ds, meta.Delivery{Webhook: hooks[j].ID, EventSeq: e.Seq, EventID: e.ID, Kind: e.Kind, Repository: e.Repository})
				woken[hooks[j].ID] = true
			}
		}
	}
	if err := d.o.Store.Dispatch(ctx, seqs, ds); err != nil {
		return 0, err
	}
	d.mu.Lock()
	for id := range woken {
		if w := d.workers[id]; w != nil {
			w.wake()
		}
	}
	d.mu.Unlock()
	return len(evs), nil
}

// observeQueue sets the queue gauges.
func (d *Deliverer) observeQueue(ctx context.Context) {
	if d.o.Metrics == nil {
		return
	}
	pending, dead, err := d.o.Store.DeliveryCounts(ctx)
	if err != nil {
		return
	}
	d.o.Metrics.QueueDepth.Set(float64(pending))
	d.o.Metrics.DeadLetters.Set(float64(dead))
}

// startWorkers starts a worker for every enabled webhook without one and
// stops the workers of webhooks deleted or disabled.
func (d *Deliverer) startWorkers(ctx context.Context, wg *sync.WaitGroup, hooks []meta.Webhook) {
	d.mu.Lock()
	defer d.mu.Unlock()
	live := map[int64]bool{}
	for _, h := range hooks {
		if !h.Enabled {
			continue
		}
		live[h.ID] = true
		if w := d.workers[h.ID]; w != nil {
			w.update(h)
			continue
		}
		wctx, cancel := context.WithCancel(ctx)
		w := &worker{d: d, cancel: cancel, wakeup: make(chan struct{}, 1), hook: h}
		d.workers[h.ID] = w
		wg.Go(func() { w.run(wctx) })
	}
	for id, w := range d.workers {
		if !live[id] {
			w.cancel()
			delete(d.workers, id)
		}
	}
}

// worker delivers the deliveries of one webhook.
type worker struct {
	d      *Deliverer
	cancel context.CancelFunc
	wakeup chan struct{}

	mu   sync.Mutex
	hook meta.Webhook // reloaded every poll: a new URL or secret applies to the next attempt
}

func (w *worker) wake() {
	select {
	case w.wakeup <- struct{}{}:
	default:
	}
}

func (w *worker) update(h meta.Webhook) {
	w.mu.Lock()
	w.hook = h
	w.mu.Unlock()
}

func (w *worker) current() meta.Webhook {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.hook
}

// idleWait bounds how long a worker sleeps without being woken, so that a
// delivery made due by another process (a redelivery) is found.
const idleWait = 5 * time.Second

// queueBatch bounds the deliveries of one repository a worker takes at a
// time: read with their events in one query, made one after the other,
// recorded in one transaction.
const queueBatch = 64

func (w *worker) run(ctx context.Context) {
	d := w.d
	id := w.current().ID
	for ctx.Err() == nil {
		heads, err := d.o.Store.DueDeliveries(ctx, id, time.Now(), d.o.Concurrency)
		if err != nil {
			if ctx.Err() == nil {
				d.log.Warn("read due deliveries", "webhook", id, "err", err)
			}
			sleep(ctx, d.o.Poll, nil)
			continue
		}
		if len(heads) == 0 {
			wait := idleWait
			if next, err := d.o.Store.NextDue(ctx, id); err == nil && !next.IsZero() {
				wait = min(wait, max(time.Until(next), 10*time.Millisecond))
			}
			sleep(ctx, wait, w.wakeup)
			continue
		}
		var wg sync.WaitGroup
		for _, h := range heads {
			wg.Go(func() { w.deliverQueue(ctx, h.Repository) })
		}
		wg.Wait()
	}
}

// deliverQueue makes the deliveries of one repository in order, up to
// queueBatch of them, until one fails (the later ones wait for it), and
// records what was attempted in one transaction.
func (w *worker) deliverQueue(ctx context.Context, repo string) {
	d := w.d
	hook := w.current()
	queue, err := d.o.Store.QueuedDeliveries(ctx, hook.ID, repo, queueBatch)
	if err != nil {
		if ctx.Err() == nil {
			d.log.Warn("read queued deliveries", "webhook", hook.ID, "repository", repo, "err", err)
		}
		return
	}
	var done []meta.Attempted
	for _, q := range queue {
		if q.NextAt.After(time.Now()) {
			break // waiting for a retry: the later ones wait too
		}
		a, ok := w.attempt(ctx, &hook, q)
		if !ok {
			break // stopping: the attempt is made again by whoever runs next
		}
		done = append(done, a)
		if a.Delivery.State != meta.DeliveryDelivered {
			break
		}
	}
	if err := d.o.Store.RecordAttempts(context.WithoutCancel(ctx), done...); err != nil {
		d.log.Warn("record webhook delivery attempts", "webhook", hook.ID, "attempts", len(done), "err", err)
	}
}

// attempt makes one attempt of delivery q and returns it as recorded; not
// ok when it was cut short because the worker stops.
func (w *worker) attempt(ctx context.Context, hook *meta.Webhook, q meta.Queued) (meta.Attempted, bool) {
	d := w.d
	dl := q.Delivery
	n := dl.Attempts + 1
	var o Outcome
	if q.Event.Seq == 0 {
		o = Outcome{Err: "the event is no longer stored"}
		n = max(n, d.o.MaxAttempts) // nothing to retry
	} else if e, err := Decode(q.Event); err != nil {
		o = Outcome{Err: err.Error()}
		n = max(n, d.o.MaxAttempts)
	} else {
		o = d.o.Sender.Send(ctx, hook, &e, dl.ID, n)
	}
	if ctx.Err() != nil {
		return meta.Attempted{}, false
	}
	now := time.Now()
	dl.Attempts = n
	dl.Status, dl.Latency, dl.Error, dl.Response = o.Status, o.Latency, o.Err, o.Response
	result := "delivered"
	switch {
	case o.OK():
		dl.State = meta.DeliveryDelivered
	case n >= d.o.MaxAttempts:
		dl.State, result = meta.DeliveryDead, "dead"
		d.log.Warn("webhook delivery dead-lettered", "webhook", hook.ID, "name", hook.Name, "delivery", dl.ID,
			"event", dl.EventID, "kind", dl.Kind, "attempts", n, "err", o.Err)
	default:
		dl.State, result = meta.DeliveryPending, "failed"
		dl.NextAt = now.Add(d.backoff(n))
	}
	if m := d.o.Metrics; m != nil {
		m.Deliveries.WithLabelValues(result).Inc()
		if o.Status != 0 || o.Latency > 0 {
			m.Duration.Observe(o.Latency.Seconds())
		}
	}
	return meta.Attempted{Delivery: dl, Attempt: meta.DeliveryAttempt{Delivery: dl.ID, N: n, At: now.Add(-o.Latency),
		Status: o.Status, Latency: o.Latency, Error: o.Err, Response: o.Response}}, true
}

// backoff is the wait after failed attempt n (1 for the first): Backoff
// doubled n-1 times, at most MaxBackoff, less a random part of up to half.
func (d *Deliverer) backoff(n int) time.Duration {
	b := d.o.Backoff
	for i := 1; i < n && b < d.o.MaxBackoff; i++ {
		b *= 2
	}
	b = min(b, d.o.MaxBackoff)
	return b - rand.N(b/2+1)
}

// sleep waits d, until ctx is done, or until wake (if not nil) receives,
// and reports whether ctx is still live.
func sleep(ctx context.Context, d time.Duration, wake <-chan struct{}) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
	case <-wake:
	}
	return true
}
