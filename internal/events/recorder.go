package events

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/wharf-dev/wharf/internal/meta"
)

// Recorder writes events that record no change (logins, refusals) in
// batches, off the request path: a request that was refused must not wait
// for the database, and a burst of failed logins must not take a
// transaction each. Events of changes are never given to a Recorder: they
// are appended in the change's transaction.
//
// When the queue is full (the store is down or far behind) new events are
// dropped and counted in the log, rather than stall the requests they
// describe; events queued when the process dies are lost.
type Recorder struct {
	store meta.Store
	log   *slog.Logger

	q    chan Event
	done chan struct{}

	mu      sync.Mutex // guards the send against close
	closed  bool
	dropped int
}

// recorderQueue bounds the events waiting, recorderBatch those written in
// one transaction.
const (
	recorderQueue = 4096
	recorderBatch = 256
)

// NewRecorder starts a Recorder writing to store.
func NewRecorder(store meta.Store, log *slog.Logger) *Recorder {
	if log == nil {
		log = slog.Default()
	}
	r := &Recorder{store: store, log: log, q: make(chan Event, recorderQueue), done: make(chan struct{})}
	go r.run()
	return r
}

func (r *Recorder) run() {
	defer close(r.done)
	batch := make([]Event, 0, recorderBatch)
	for e := range r.q {
		batch = append(batch[:0], e)
	drain:
		for len(batch) < recorderBatch {
			select {
			case e, ok := <-r.q:
				if !ok {
					break drain
				}
				batch = append(batch, e)
			default:
				break drain
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := r.store.Update(ctx, func(tx meta.Tx) error { return Append(ctx, tx, batch...) })
		cancel()
		if err != nil {
			r.log.Warn("events not recorded", "events", len(batch), "first_kind", batch[0].Kind(), "first_actor", batch[0].Actor.Name, "err", err)
		}
	}
}

// Record queues e to be written. It does not wait.
func (r *Recorder) Record(e Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		r.log.Warn("event after shutdown not recorded", "kind", e.Kind(), "actor", e.Actor.Name)
		return
	}
	select {
	case r.q <- e:
	default:
		r.dropped++
		if r.dropped == 1 || r.dropped%1000 == 0 {
			r.log.Warn("event queue full; events dropped", "dropped", r.dropped)
		}
	}
}

// Close writes what is queued and stops. Record must not be called after.
func (r *Recorder) Close() {
	r.mu.Lock()
	if !r.closed {
		r.closed = true
		close(r.q)
	}
	r.mu.Unlock()
	<-r.done
}
