package meta

import (
	"context"
	"time"
)

// Webhook is a subscription to the event stream: events of Kinds in
// repositories matching Repositories, posted to URL in Format. The store
// keeps Kinds, Repositories and Format as given; package events defines
// and checks them.
type Webhook struct {
	ID           int64  // assigned by CreateWebhook
	Name         string // unique per namespace
	Namespace    string // "" for a system-wide subscription
	URL          string
	Format       string
	Kinds        []string // empty: every kind
	Repositories []string // patterns; empty: every repository, and events about none
	Secret       string   // the key deliveries are signed with
	Enabled      bool
	CreatedBy    string
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// The states of a [Delivery].
const (
	DeliveryPending   = "pending"   // to be attempted at NextAt
	DeliveryDelivered = "delivered" // the receiver answered 2xx
	DeliveryDead      = "dead"      // every attempt failed: dead-lettered
)

// Delivery is the posting of one event to one webhook, over its attempts.
type Delivery struct {
	ID         int64 // assigned by the store
	Webhook    int64
	EventSeq   int64  // 0 for a ping, which is no event of the stream
	EventID    string // the event's ID (a ping's own)
	Kind       string
	Repository string // deliveries of one webhook and repository go in order
	State      string
	Attempts   int       // attempts made
	NextAt     time.Time // when a pending delivery is due
	// The outcome of the last attempt: HTTP status (0 if there was no
	// answer), how long it took, why it failed, and the start of the
	// answer's body.
	Status    int
	Latency   time.Duration
	Error     string
	Response  string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// DeliveryAttempt is one attempt of a delivery.
type DeliveryAttempt struct {
	Delivery int64
	N        int // 1 for the first attempt
	At       time.Time
	Status   int
	Latency  time.Duration
	Error    string
	Response string
}

// Queued is a pending delivery with its event.
type Queued struct {
	Delivery
	Event Event
}

// Attempted is a delivery as an attempt left it, with the attempt.
type Attempted struct {
	Delivery Delivery
	Attempt  DeliveryAttempt
}

// DeliveryQuery selects deliveries of one webhook, newest first.
type DeliveryQuery struct {
	Webhook  int64
	State    string // "" for every state
	BeforeID int64
	N        int // 0 means 100
}

// WebhookWriter changes webhook subscriptions; [Tx] includes it, so that
// the event recording a change is written with it.
//
// Errors: ErrNotFound for a missing webhook or namespace; ErrConflict for
// a webhook whose name its namespace holds already.
type WebhookWriter interface {
	// CreateWebhook stores w and returns its ID.
	CreateWebhook(ctx context.Context, w Webhook) (int64, error)
	// UpdateWebhook replaces every field of webhook w.ID but its ID,
	// Namespace, CreatedBy and CreatedAt, and sets UpdatedAt.
	UpdateWebhook(ctx context.Context, w Webhook) error
	// DeleteWebhook deletes webhook id and its deliveries.
	DeleteWebhook(ctx context.Context, id int64) error
}

// Webhooks is the part of the metadata store that reads webhook
// subscriptions and keeps the queue of their deliveries. Each method is
// its own transaction. Deleting a namespace deletes its webhooks.
//
// Errors: ErrNotFound for a missing webhook or delivery; ErrUnavailable as
// for [Store].
type Webhooks interface {
	EventReader

	Webhook(ctx context.Context, id int64) (Webhook, error)
	// ListWebhooks lists the webhooks of namespace ("" for the system-wide
	// ones), sorted by name; with all, every webhook, sorted by ID.
	ListWebhooks(ctx context.Context, namespace string, all bool) ([]Webhook, error)

	// UndispatchedEvents returns at most n events that no Dispatch has
	// taken yet, oldest (lowest Seq) first. An event committed late with
	// a lower Seq than one dispatched already is still found.
	UndispatchedEvents(ctx context.Context, n int) ([]Event, error)
	// Dispatch records deliveries (their ID, State and times are set by
	// the store: pending, due at once) and marks the events seqs as
	// dispatched, in one transaction.
	Dispatch(ctx context.Context, seqs []int64, deliveries []Delivery) error
	// DueDeliveries returns at most n pending deliveries of webhook due at
	// now, each the oldest pending delivery of its repository, oldest first:
	// a delivery waits for the earlier ones of its repository.
	DueDeliveries(ctx context.Context, webhook int64, now time.Time, n int) ([]Delivery, error)
	// NextDue returns when the earliest pending delivery of webhook is
	// due, or the zero time when none is pending.
	NextDue(ctx context.Context, webhook int64) (time.Time, error)
	// QueuedDeliveries returns at most n pending deliveries of webhook
	// about repository, in the order they are to be made, each with its
	// event (a zero Event when it is gone).
	QueuedDeliveries(ctx context.Context, webhook int64, repository string, n int) ([]Queued, error)
	// RecordAttempts records attempts, in one transaction: each attempt,
	// and its delivery's State, Attempts, NextAt and last outcome. A
	// delivery deleted meanwhile (with its webhook) is skipped.
	RecordAttempts(ctx context.Context, attempts ...Attempted) error
	// AddDelivery records d (a redelivery, or a ping with its outcome) as
	// it is and returns its ID.
	AddDelivery(ctx context.Context, d Delivery) (int64, error)
	Deliveries(ctx context.Context, q DeliveryQuery) ([]Delivery, error)
	// Delivery returns delivery id with its attempts, oldest first.
	Delivery(ctx context.Context, id int64) (Delivery, []DeliveryAttempt, error)
	// DeliveryCounts returns how many deliveries are pending and dead.
	DeliveryCounts(ctx context.Context) (pending, dead int64, err error)
	// PruneEvents deletes the events that happened before before, that
	// were dispatched and have no pending delivery, with their
	// deliveries, and returns how many events it deleted.
	PruneEvents(ctx context.Context, before time.Time) (int, error)
}
