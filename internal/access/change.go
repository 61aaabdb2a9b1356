package access

import (
	"context"
	"errors"

	"github.com/wharf-dev/wharf/internal/meta"
)

// Every account operation that changes something runs as one transaction
// (see [Service.update]) and goes through a change: the change writes the
// record of what happened in that transaction when it commits, and a
// separate record when the operation is refused or fails, so that refused
// attempts are on record too. This is the one place an operation's record
// is made, so it is where the typed event of the event stream will be
// written, in the same transaction as the change it describes.

// change is one account operation's record: who did what to what.
type change struct {
	s      *Service
	c      Caller
	actor  string // when not c: "system" for what the registry does by itself
	action string // e.g. "user.create", "member.put"
	target string // e.g. "user:alice", "team-a:alice"
	detail string // e.g. "admin", "role=developer"
}

func (s *Service) change(c Caller, action, target, detail string) *change {
	return &change{s: s, c: c, action: action, target: target, detail: detail}
}

func (ch *change) event(result, detail string) meta.AuditEvent {
	actor := ch.actor
	if actor == "" {
		actor = ch.c.Principal.String()
	}
	return meta.AuditEvent{
		At: ch.s.now().UTC(), Actor: actor, Client: ch.c.Client,
		Action: ch.action, Target: ch.target, Result: result, Detail: detail,
	}
}

// record writes the record of the change in its transaction.
func (ch *change) record(ctx context.Context, tx meta.AccessTx) error {
	return tx.AppendAudit(ctx, ch.event("ok", ch.detail))
}

// refused records an operation that err refused or failed, after its
// transaction (if any) rolled back; nil records nothing, since the
// transaction recorded the change. A failed write of the record is logged:
// the refusal stands either way.
func (ch *change) refused(ctx context.Context, err error) {
	if err == nil {
		return
	}
	result, detail := "failed", ch.detail
	if errors.Is(err, ErrDenied) {
		result = "denied"
	}
	if detail == "" {
		detail = err.Error()
	}
	if aerr := ch.s.store.AppendAudit(context.WithoutCancel(ctx), ch.event(result, detail)); aerr != nil {
		ch.s.log.WarnContext(ctx, "audit event not recorded", "action", ch.action, "target", ch.target, "err", aerr)
	}
}

// update runs fn as one transaction of the access tables.
func (s *Service) update(ctx context.Context, fn func(tx meta.AccessTx) error) error {
	return s.store.UpdateAccess(ctx, fn)
}
