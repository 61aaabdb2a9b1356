package access

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/wharf-dev/wharf/internal/meta"
)

// auditQueue bounds the audit events waiting to be written. Pulls are
// audited, and a pull must not wait for a database write, so events are
// written by one goroutine behind a queue, as many as are waiting (up to
// auditBatch) in one transaction. When the queue is full (the
// store is down or far behind) new events are dropped and counted in the
// log, rather than stall the requests they describe.
const auditQueue = 4096

type auditor struct {
	store meta.Access
	log   *slog.Logger

	q    chan meta.AuditEvent
	done chan struct{}

	mu      sync.Mutex // guards the send against close
	closed  bool
	dropped int
}

func newAuditor(store meta.Access, log *slog.Logger) *auditor {
	a := &auditor{store: store, log: log, q: make(chan meta.AuditEvent, auditQueue), done: make(chan struct{})}
	go a.run()
	return a
}

// auditBatch bounds the events written in one transaction: under load
// (a fleet pulling) one write carries many pulls.
const auditBatch = 256

func (a *auditor) run() {
	defer close(a.done)
	batch := make([]meta.AuditEvent, 0, auditBatch)
	for e := range a.q {
		batch = append(batch[:0], e)
	drain:
		for len(batch) < auditBatch {
			select {
			case e, ok := <-a.q:
				if !ok {
					break drain
				}
				batch = append(batch, e)
			default:
				break drain
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := a.store.AppendAudit(ctx, batch...)
		cancel()
		if err != nil {
			a.log.Warn("audit events not recorded", "events", len(batch), "first_action", batch[0].Action, "first_actor", batch[0].Actor, "err", err)
		}
	}
}

func (a *auditor) add(e meta.AuditEvent) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		a.log.Warn("audit event after shutdown not recorded", "action", e.Action, "actor", e.Actor, "target", e.Target)
		return
	}
	select {
	case a.q <- e:
	default:
		a.dropped++
		if a.dropped == 1 || a.dropped%1000 == 0 {
			a.log.Warn("audit queue full; events dropped", "dropped", a.dropped)
		}
	}
}

// close writes what is queued and stops.
func (a *auditor) close() {
	a.mu.Lock()
	if !a.closed {
		a.closed = true
		close(a.q)
	}
	a.mu.Unlock()
	<-a.done
}

// Audit records e, stamping its time if unset. It does not wait for the
// write: see auditQueue.
func (s *Service) Audit(ctx context.Context, e meta.AuditEvent) {
	if e.At.IsZero() {
		e.At = s.now().UTC()
	}
	if s.audit == nil { // a local Service: nothing on the hot path audits
		if err := s.store.AppendAudit(context.WithoutCancel(ctx), e); err != nil {
			s.log.WarnContext(ctx, "audit event not recorded", "action", e.Action, "err", err)
		}
		return
	}
	s.audit.add(e)
}

// Close writes the audit events still queued. The Service must not be used
// after it.
func (s *Service) Close() {
	if s.audit != nil {
		s.audit.close()
	}
}
