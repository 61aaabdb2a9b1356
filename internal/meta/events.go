package meta

import (
	"context"
	"time"
)

// Event is one record of the event stream, the outbox every change writes
// its event into in the change's own transaction. Package events defines
// the kinds and encodes them; the store keeps the columns below to filter
// and page on, and Data, which it does not interpret.
//
// The audit log is a view of the stream: Action, Target, Result and Detail
// are how the audit log shows the event ([AuditEvent]).
type Event struct {
	Seq        int64     // assigned by AppendEvents, increasing
	ID         string    // unique; the idempotency key of every delivery of the event
	Kind       string    // e.g. "artifact.pushed"
	At         time.Time // when it happened
	Namespace  string    // "" for events outside every namespace (a user created)
	Repository string    // "" for events about no repository
	Actor      string    // e.g. "user:alice", "system:retention", "anonymous"
	Client     string    // client address, if a request caused it
	Action     string    // the audit log's action, e.g. "push"
	Target     string    // the audit log's target, e.g. "team/app:v1"
	Result     string    // "ok", "denied" or "failed"
	Detail     string    // free text for the audit log
	Data       []byte    // the event's JSON, as package events encoded it
}

// EventWriter appends events to the stream; [Tx] includes it, so that an
// event is committed with the change it records, or not at all.
type EventWriter interface {
	// AppendEvents records events, in order; the store assigns their Seq
	// (e.Seq is ignored). Their IDs must be unique.
	AppendEvents(ctx context.Context, events ...Event) error
	// ListRepository marks repo as holding manifests and reports whether
	// it was not marked before: the first manifest pushed into it since it
	// held none. Call it after storing a manifest.
	ListRepository(ctx context.Context, repo string) (bool, error)
	// UnlistRepository clears the mark of repo if repo holds no manifest
	// any more and reports whether it did: the last manifest was deleted.
	// Call it after deleting manifests.
	UnlistRepository(ctx context.Context, repo string) (bool, error)
}

// EventQuery selects events, newest (highest Seq) first. Zero fields do not
// filter.
type EventQuery struct {
	Kinds      []string
	Namespace  string
	Repository string
	BeforeSeq  int64 // only events with Seq < BeforeSeq: the cursor of the next page
	AfterSeq   int64 // only events with Seq > AfterSeq: what a reader has not seen yet
	N          int   // at most N events; 0 means 100
}

// EventReader reads the stream.
type EventReader interface {
	// Events returns the events q selects, newest first.
	Events(ctx context.Context, q EventQuery) ([]Event, error)
	// Event returns event seq, or ErrNotFound.
	Event(ctx context.Context, seq int64) (Event, error)
}
