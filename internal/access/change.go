package access

import (
	"context"
	"errors"
	"fmt"

	"github.com/wharf-dev/wharf/internal/events"
	"github.com/wharf-dev/wharf/internal/meta"
)

// Every account operation that changes something runs as one transaction
// (see [Service.update]) and goes through a change: the change writes the
// typed event of what happened in that transaction, so the change and its
// event commit together, and records a refusal (access.denied, or
// request.failed) when the operation is refused or fails.

// change is one account operation: who did what to what. action and
// target are how a refusal is shown in the audit log; ns is the namespace
// the change is about, if any.
type change struct {
	s      *Service // nil for a change of the service itself (systemChange)
	c      Caller
	system string // for a change of the service itself: "system:" and this is its actor
	action string // e.g. "user.create", "member.put"
	target string // e.g. "user:alice", "team-a:alice"
	ns     string
}

func (s *Service) change(c Caller, action, target string) *change {
	return &change{s: s, c: c, action: action, target: target}
}

// systemChange is a change the service makes by itself: the first
// administrator, a signing key rotated when due. It is never refused.
func systemChange(action, target string) *change {
	return &change{system: "access", action: action, target: target}
}

// inNamespace makes the change's events about namespace ns.
func (ch *change) inNamespace(ns string) *change {
	ch.ns = ns
	return ch
}

// event is an event of the change, its actor the caller.
func (ch *change) event(ctx context.Context, data events.Data) events.Event {
	e := events.New(ctx, "", data).InNamespace(ch.ns)
	if ch.system != "" {
		e.Actor = events.System(ch.system)
		return e
	}
	e.Actor = events.Actor{Name: ch.c.Principal.String(), Client: ch.c.Client, Request: events.ActorFrom(ctx).Request}
	return e
}

// record writes the change's events in its transaction.
func (ch *change) record(ctx context.Context, tx meta.AccessTx, data ...events.Data) error {
	evs := make([]events.Event, len(data))
	for i, d := range data {
		evs[i] = ch.event(ctx, d)
	}
	recs, err := events.Records(evs...)
	if err != nil {
		return err
	}
	if err := tx.AppendEvents(ctx, recs...); err != nil {
		return fmt.Errorf("record %s: %w", ch.action, err)
	}
	return nil
}

// refused records an operation that err refused or failed, after its
// transaction (if any) rolled back, in a transaction of its own before it
// returns; nil records nothing, since the transaction recorded the change.
// A failed write of the record is logged: the refusal stands either way.
func (ch *change) refused(ctx context.Context, err error) {
	if err == nil || ch.s == nil {
		return
	}
	var data events.Data = &events.RequestFailed{Action: ch.action, Target: ch.target, Code: refusalCode(err), Reason: err.Error()}
	if errors.Is(err, ErrDenied) {
		data = &events.AccessDenied{Action: ch.action, Target: ch.target, Reason: err.Error()}
	}
	ctx = context.WithoutCancel(ctx)
	if werr := ch.s.update(ctx, func(tx meta.AccessTx) error { return ch.record(ctx, tx, data) }); werr != nil {
		ch.s.log.WarnContext(ctx, "refusal not recorded", "action", ch.action, "target", ch.target, "err", werr)
	}
}

// refusalCode names the kind of a refusal, for request.failed events.
func refusalCode(err error) string {
	switch {
	case errors.Is(err, ErrInvalid):
		return "INVALID_REQUEST"
	case errors.Is(err, ErrNotFound):
		return "NOT_FOUND"
	case errors.Is(err, ErrConflict):
		return "CONFLICT"
	case errors.Is(err, meta.ErrUnavailable):
		return "UNAVAILABLE"
	}
	return "UNKNOWN"
}

// update runs fn as one transaction of the access tables.
func (s *Service) update(ctx context.Context, fn func(tx meta.AccessTx) error) error {
	return s.store.UpdateAccess(ctx, fn)
}
