package events

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/wharf-dev/wharf/internal/meta"
)

// ErrInvalid is wrapped by every refusal of a webhook's settings.
var ErrInvalid = errors.New("invalid webhook")

// WebhookOptions configures [Webhooks].
type WebhookOptions struct {
	// Meta runs the transactions that change webhooks with their events.
	Meta meta.Store
	// Store reads webhooks and keeps their deliveries.
	Store meta.Webhooks
	Guard *Guard
	// Resolver checks a target's host when a webhook is saved;
	// net.DefaultResolver if nil.
	Resolver Resolver
	// Sender sends pings.
	Sender *Sender
}

// Webhooks manages webhook subscriptions: their settings, checked when
// saved, their secrets, pings and redeliveries. Who may manage which
// webhook is the caller's business.
type Webhooks struct {
	o WebhookOptions
}

// NewWebhooks returns the webhook manager.
func NewWebhooks(o WebhookOptions) *Webhooks {
	if o.Resolver == nil {
		o.Resolver = net.DefaultResolver
	}
	return &Webhooks{o: o}
}

// maxWebhookName bounds a webhook's name.
const maxWebhookName = 64

// check checks w's settings: name, URL (see Guard.CheckURL), format, kinds
// and repository patterns.
func (s *Webhooks) check(ctx context.Context, w *meta.Webhook) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
	}
	if w.Name == "" || len(w.Name) > maxWebhookName || strings.ContainsFunc(w.Name, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		return bad("name must be 1 to %d printable characters, got %q", maxWebhookName, w.Name)
	}
	if w.Format == "" {
		w.Format = string(FormatCloudEvents)
	}
	if _, err := ParseFormat(w.Format); err != nil {
		return bad("%v", err)
	}
	slices.Sort(w.Kinds)
	w.Kinds = slices.Compact(w.Kinds)
	if err := checkFilter(w); err != nil {
		return bad("%v", err)
	}
	if err := s.o.Guard.CheckURL(ctx, s.o.Resolver, w.URL); err != nil {
		return fmt.Errorf("%w: url: %w", ErrInvalid, err)
	}
	return nil
}

// changed is the event of a change to w.
func changed(ctx context.Context, change string, w *meta.Webhook) Event {
	return New(ctx, "", &WebhookChanged{Change: change, ID: w.ID, Name: w.Name, URL: w.URL, Format: w.Format,
		Kinds: w.Kinds, Repositories: w.Repositories, Enabled: w.Enabled}).InNamespace(w.Namespace)
}

// Create checks and stores w with a new secret, and returns it with its ID
// and secret: the only time the secret is shown.
func (s *Webhooks) Create(ctx context.Context, w meta.Webhook) (meta.Webhook, error) {
	if err := s.check(ctx, &w); err != nil {
		return meta.Webhook{}, err
	}
	secret, err := NewSecret()
	if err != nil {
		return meta.Webhook{}, err
	}
	w.Secret = secret
	w.CreatedBy = ActorFrom(ctx).Name
	w.CreatedAt = time.Now().UTC()
	w.UpdatedAt = w.CreatedAt
	err = s.o.Meta.Update(ctx, func(tx meta.Tx) error {
		id, err := tx.CreateWebhook(ctx, w)
		if err != nil {
			return err
		}
		w.ID = id
		return Append(ctx, tx, changed(ctx, ChangeCreated, &w))
	})
	if err != nil {
		return meta.Webhook{}, fmt.Errorf("create webhook %s: %w", w.Name, err)
	}
	return w, nil
}

// Update checks and stores w's settings (not its secret, namespace or
// creator) and returns the webhook as stored, without its secret.
func (s *Webhooks) Update(ctx context.Context, w meta.Webhook) (meta.Webhook, error) {
	cur, err := s.o.Store.Webhook(ctx, w.ID)
	if err != nil {
		return meta.Webhook{}, fmt.Errorf("webhook %d: %w", w.ID, err)
	}
	w.Namespace, w.Secret, w.CreatedBy, w.CreatedAt = cur.Namespace, cur.Secret, cur.CreatedBy, cur.CreatedAt
	if err := s.check(ctx, &w); err != nil {
		return meta.Webhook{}, err
	}
	w.UpdatedAt = time.Now().UTC()
	err = s.o.Meta.Update(ctx, func(tx meta.Tx) error {
		if err := tx.UpdateWebhook(ctx, w); err != nil {
			return err
		}
		return Append(ctx, tx, changed(ctx, ChangeUpdated, &w))
	})
	if err != nil {
		return meta.Webhook{}, fmt.Errorf("update webhook %d: %w", w.ID, err)
	}
	w.Secret = ""
	return w, nil
}

// RotateSecret gives webhook id a new secret and returns it: the only
// time it is shown. Deliveries are signed with it from their next attempt.
func (s *Webhooks) RotateSecret(ctx context.Context, id int64) (string, error) {
	w, err := s.o.Store.Webhook(ctx, id)
	if err != nil {
		return "", fmt.Errorf("webhook %d: %w", id, err)
	}
	if w.Secret, err = NewSecret(); err != nil {
		return "", err
	}
	w.UpdatedAt = time.Now().UTC()
	err = s.o.Meta.Update(ctx, func(tx meta.Tx) error {
		if err := tx.UpdateWebhook(ctx, w); err != nil {
			return err
		}
		return Append(ctx, tx, changed(ctx, "secret", &w))
	})
	if err != nil {
		return "", fmt.Errorf("rotate the secret of webhook %d: %w", id, err)
	}
	return w.Secret, nil
}

// Delete deletes webhook id and its delivery log.
func (s *Webhooks) Delete(ctx context.Context, id int64) error {
	w, err := s.o.Store.Webhook(ctx, id)
	if err != nil {
		return fmt.Errorf("webhook %d: %w", id, err)
	}
	err = s.o.Meta.Update(ctx, func(tx meta.Tx) error {
		if err := tx.DeleteWebhook(ctx, id); err != nil {
			return err
		}
		return Append(ctx, tx, changed(ctx, ChangeDeleted, &w))
	})
	if err != nil {
		return fmt.Errorf("delete webhook %d: %w", id, err)
	}
	return nil
}

// Ping sends webhook id a ping event now, whether the webhook is enabled
// or not, records it in the delivery log (one attempt, delivered or dead,
// never retried) and returns that delivery.
func (s *Webhooks) Ping(ctx context.Context, id int64) (meta.Delivery, error) {
	w, err := s.o.Store.Webhook(ctx, id)
	if err != nil {
		return meta.Delivery{}, fmt.Errorf("webhook %d: %w", id, err)
	}
	e := New(ctx, "", &Ping{Webhook: w.ID, Name: w.Name}).InNamespace(w.Namespace)
	now := time.Now().UTC()
	d := meta.Delivery{Webhook: id, EventID: e.ID, Kind: string(KindPing), State: meta.DeliveryDead, NextAt: now,
		CreatedAt: now, UpdatedAt: now}
	// Recorded first, so the receiver sees the delivery's ID as the log
	// will show it; dead until the answer, so no worker ever takes it and
	// a process dying meanwhile leaves a failed ping behind.
	if d.ID, err = s.o.Store.AddDelivery(ctx, d); err != nil {
		return meta.Delivery{}, fmt.Errorf("ping webhook %d: %w", id, err)
	}
	o := s.o.Sender.Send(ctx, &w, &e, d.ID, 1)
	d.Attempts, d.Status, d.Latency, d.Error, d.Response = 1, o.Status, o.Latency, o.Err, o.Response
	d.State = meta.DeliveryDelivered
	if !o.OK() {
		d.State = meta.DeliveryDead
	}
	a := meta.DeliveryAttempt{Delivery: d.ID, N: 1, At: now, Status: o.Status, Latency: o.Latency, Error: o.Err, Response: o.Response}
	if err := s.o.Store.RecordAttempts(context.WithoutCancel(ctx), meta.Attempted{Delivery: d, Attempt: a}); err != nil {
		return meta.Delivery{}, fmt.Errorf("record ping of webhook %d: %w", id, err)
	}
	return d, nil
}

// Redeliver queues delivery id's event again for the same webhook, as a
// new delivery due now (after the pending deliveries of its repository),
// and returns it. A ping cannot be redelivered: ping again.
func (s *Webhooks) Redeliver(ctx context.Context, id int64) (meta.Delivery, error) {
	old, _, err := s.o.Store.Delivery(ctx, id)
	if err != nil {
		return meta.Delivery{}, fmt.Errorf("delivery %d: %w", id, err)
	}
	if old.EventSeq == 0 {
		return meta.Delivery{}, fmt.Errorf("%w: delivery %d is a ping; ping the webhook again instead", ErrInvalid, id)
	}
	now := time.Now().UTC()
	d := meta.Delivery{Webhook: old.Webhook, EventSeq: old.EventSeq, EventID: old.EventID, Kind: old.Kind, Repository: old.Repository,
		State: meta.DeliveryPending, NextAt: now, CreatedAt: now, UpdatedAt: now}
	if d.ID, err = s.o.Store.AddDelivery(ctx, d); err != nil {
		return meta.Delivery{}, fmt.Errorf("redeliver delivery %d: %w", id, err)
	}
	return d, nil
}

// InstanceID identifies this process in payloads that name the registry
// instance (the distribution format's source.instanceID).
var InstanceID = uuid.NewString()
