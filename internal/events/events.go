// Package events is wharf's event stream: the typed events that every
// change writes into the metadata store's outbox in the change's own
// transaction, and what reads that stream: the audit log's view of it and
// webhook delivery.
//
// The services (registry, access) build an [Event] with [New], turn it into
// the store's opaque record with [Event.Record] and hand that to
// [meta.EventWriter.AppendEvents] inside the transaction of the change, so
// an event is committed with its change or not at all. Stores never import
// this package.
//
// # Adding a kind
//
// A kind is a struct with the event's data, a Kind method naming it and an
// Audit method saying how the audit log shows it (kinds.go has every kind),
// plus one line in [catalog]. Payload formats other than CloudEvents render
// the kinds they know of (see [Format]); a subscription in such a format
// cannot ask for the others.
package events

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/wharf-dev/wharf/internal/meta"
	"github.com/wharf-dev/wharf/internal/oci"
)

// Kind names what happened, e.g. "artifact.pushed".
type Kind string

// Data is the kind-specific part of an event.
type Data interface {
	// Kind is the kind of event the data belongs to.
	Kind() Kind
	// Audit is how the audit log shows an event of e's actor and
	// repository with this data.
	Audit(e *Event) Audit
}

// Audit is an event as the audit log shows it.
type Audit struct {
	Action string // e.g. "push", "member.put"
	Target string // e.g. "team/app:v1", "user:bob"
	Result string // "ok" (empty means ok), "denied" or "failed"
	Detail string
}

// Event is one thing that happened.
type Event struct {
	ID         string // unique; the idempotency key of every delivery
	At         time.Time
	Actor      Actor
	Namespace  string // "" for events outside every namespace
	Repository string // "" for events about no repository
	Data       Data
}

// Kind is the kind of the event's data.
func (e *Event) Kind() Kind { return e.Data.Kind() }

// Actor is who caused an event, and from where.
type Actor struct {
	// Name is the principal, as auth.Principal.String writes it
	// ("user:alice", "robot:team+ci", "token:ID", "anonymous"), or
	// "system:JOB" for background work.
	Name string `json:"name"`
	// Client is the address of the client, when a request caused it.
	Client string `json:"client,omitempty"`
	// Request is the request that caused it, if any.
	Request *Request `json:"request,omitempty"`
}

// Request is the HTTP request that caused an event.
type Request struct {
	ID        string `json:"id,omitempty"`
	Method    string `json:"method,omitempty"`
	Host      string `json:"host,omitempty"`
	UserAgent string `json:"userAgent,omitempty"`
}

// Anonymous is the actor name of a caller who presented no credentials,
// and of every caller of a registry without access control.
const Anonymous = "anonymous"

type actorKey struct{}

// WithActor returns ctx carrying a: the events of changes made with the
// context name a as their actor.
func WithActor(ctx context.Context, a Actor) context.Context {
	return context.WithValue(ctx, actorKey{}, a)
}

// ActorFrom returns the actor ctx carries; without one, [Anonymous].
func ActorFrom(ctx context.Context) Actor {
	a, ok := ctx.Value(actorKey{}).(Actor)
	if !ok || a.Name == "" {
		a.Name = Anonymous
	}
	return a
}

// System is the actor of background work: "system:" + job.
func System(job string) Actor { return Actor{Name: "system:" + job} }

// New returns an event of data about repository repo ("" for none),
// caused by the actor ctx carries, happening now.
func New(ctx context.Context, repo string, data Data) Event {
	e := Event{ID: uuid.NewString(), At: time.Now().UTC(), Actor: ActorFrom(ctx), Repository: repo, Data: data}
	if repo != "" {
		e.Namespace = oci.Namespace(repo)
	}
	return e
}

// InNamespace returns e about namespace ns, for events about a namespace
// rather than a repository (a member added).
func (e Event) InNamespace(ns string) Event {
	e.Namespace = ns
	return e
}

// stored is what the Data column of a record holds: the kind's data and
// the request, which has no column of its own.
type stored struct {
	Request *Request        `json:"request,omitempty"`
	Data    json.RawMessage `json:"data"`
}

// Record encodes e as the store's record.
func (e *Event) Record() (meta.Event, error) {
	data, err := json.Marshal(e.Data)
	if err != nil {
		return meta.Event{}, fmt.Errorf("encode %s event: %w", e.Kind(), err)
	}
	b, err := json.Marshal(stored{Request: e.Actor.Request, Data: data})
	if err != nil {
		return meta.Event{}, fmt.Errorf("encode %s event: %w", e.Kind(), err)
	}
	a := e.Data.Audit(e)
	if a.Result == "" {
		a.Result = "ok"
	}
	return meta.Event{
		ID: e.ID, Kind: string(e.Kind()), At: e.At,
		Namespace: e.Namespace, Repository: e.Repository,
		Actor: e.Actor.Name, Client: e.Actor.Client,
		Action: a.Action, Target: a.Target, Result: a.Result, Detail: a.Detail,
		Data: b,
	}, nil
}

// Records encodes events as the store's records.
func Records(events ...Event) ([]meta.Event, error) {
	out := make([]meta.Event, len(events))
	for i := range events {
		var err error
		if out[i], err = events[i].Record(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Append encodes events and appends them in tx: the one call a change
// makes to record its events.
func Append(ctx context.Context, tx meta.EventWriter, events ...Event) error {
	if len(events) == 0 {
		return nil
	}
	recs, err := Records(events...)
	if err != nil {
		return err
	}
	return tx.AppendEvents(ctx, recs...)
}

// Decode turns a record of the store back into an event. A record of a
// kind this version does not know decodes into [Unknown] data.
func Decode(r meta.Event) (Event, error) {
	e := Event{ID: r.ID, At: r.At, Namespace: r.Namespace, Repository: r.Repository,
		Actor: Actor{Name: r.Actor, Client: r.Client}}
	var s stored
	if err := json.Unmarshal(r.Data, &s); err != nil {
		return Event{}, fmt.Errorf("decode event %s (%s): %w", r.ID, r.Kind, err)
	}
	e.Actor.Request = s.Request
	info, ok := catalog[Kind(r.Kind)]
	if !ok {
		e.Data = &Unknown{Name: Kind(r.Kind), Raw: s.Data, Line: Audit{Action: r.Action, Target: r.Target, Result: r.Result, Detail: r.Detail}}
		return e, nil
	}
	d := info.new()
	if len(s.Data) > 0 {
		if err := json.Unmarshal(s.Data, d); err != nil {
			return Event{}, fmt.Errorf("decode event %s (%s): %w", r.ID, r.Kind, err)
		}
	}
	e.Data = d
	return e, nil
}

// Unknown is the data of an event of a kind this version does not know
// (written by a newer wharf sharing the database, or an older record).
type Unknown struct {
	Name Kind
	Raw  json.RawMessage
	Line Audit
}

// Kind returns the kind as recorded.
func (u *Unknown) Kind() Kind { return u.Name }

// Audit returns the audit line as recorded.
func (u *Unknown) Audit(*Event) Audit { return u.Line }

// MarshalJSON writes the recorded data as it is.
func (u *Unknown) MarshalJSON() ([]byte, error) {
	if len(u.Raw) == 0 {
		return []byte("{}"), nil
	}
	return u.Raw, nil
}
