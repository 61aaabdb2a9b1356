package access

import (
	"context"

	"github.com/wharf-dev/wharf/internal/events"
)

// record writes an event that records no change (a login, a refusal)
// through Options.Record, off the request path; the actor is who tried,
// from client, with the request ctx carries.
func (s *Service) record(ctx context.Context, actor, client string, data events.Data) {
	if s.opts.Record == nil {
		return
	}
	e := events.New(ctx, "", data)
	e.Actor = events.Actor{Name: actor, Client: client, Request: events.ActorFrom(ctx).Request}
	s.opts.Record(e)
}

// Record writes an event caused by caller c about repository repo ("" for
// none) through Options.Record, off the request path: for the refusals of
// services, which record no change (a change writes its event in its
// transaction).
func (s *Service) Record(ctx context.Context, c Caller, repo string, data events.Data) {
	if s.opts.Record == nil {
		return
	}
	e := events.New(ctx, repo, data)
	e.Actor = events.Actor{Name: c.Principal.String(), Client: c.Client, Request: events.ActorFrom(ctx).Request}
	s.opts.Record(e)
}

// Close releases what the Service holds. It must not be used after it.
func (s *Service) Close() {}
