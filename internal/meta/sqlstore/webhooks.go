package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/wharf-dev/wharf/internal/meta"
)

// Webhooks (migration 0014): the subscriptions are written in a [Tx]
// ([meta.WebhookWriter]), with the event of the change; reads and the
// delivery queue ([meta.Webhooks]) are each one statement or transaction of
// the [Store].

const (
	webhookColumns  = `id, name, COALESCE(namespace, ''), url, format, kinds, repositories, secret, enabled, created_by, created_at, updated_at`
	deliveryColumns = `id, webhook_id, COALESCE(event_seq, 0), event_id, kind, repository, state, attempts, next_at, status, latency_ns, error, response, created_at, updated_at`

	qInsertWebhook = `INSERT INTO webhooks (name, namespace, url, format, kinds, repositories, secret, enabled, created_by, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id`
	qUpdateWebhook = `UPDATE webhooks SET name = $2, url = $3, format = $4, kinds = $5, repositories = $6, secret = $7, enabled = $8, updated_at = $9
		WHERE id = $1`
	qDeleteWebhook = `DELETE FROM webhooks WHERE id = $1`
	qWebhook       = `SELECT ` + webhookColumns + ` FROM webhooks WHERE id = $1`

	qUndispatched  = `SELECT ` + eventColumns + ` FROM events WHERE dispatched = FALSE ORDER BY seq LIMIT $1`
	qMarkDispatch  = `UPDATE events SET dispatched = TRUE WHERE seq = $1`
	qQueueDelivery = `INSERT INTO webhook_deliveries (webhook_id, event_seq, event_id, kind, repository, state, next_at, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, 'pending', $6, $6, $6)`
	qAddDelivery = `INSERT INTO webhook_deliveries (webhook_id, event_seq, event_id, kind, repository, state, attempts, next_at,
		status, latency_ns, error, response, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) RETURNING id`
	// qDueDeliveries takes the head of each repository's queue: a pending
	// delivery with no earlier pending one of the same repository.
	qDueDeliveries = `SELECT ` + deliveryColumns + ` FROM webhook_deliveries d
		WHERE d.webhook_id = $1 AND d.state = 'pending' AND d.next_at <= $2
		AND NOT EXISTS (SELECT 1 FROM webhook_deliveries e
			WHERE e.webhook_id = d.webhook_id AND e.state = 'pending' AND e.repository = d.repository AND e.id < d.id)
		ORDER BY d.id LIMIT $3`
	qNextDue = `SELECT min(next_at) FROM webhook_deliveries WHERE webhook_id = $1 AND state = 'pending'`
	// qQueued reads a repository's queue with the events, in one query.
	qQueued = `SELECT d.id, d.webhook_id, COALESCE(d.event_seq, 0), d.event_id, d.kind, d.repository, d.state, d.attempts, d.next_at,
		d.status, d.latency_ns, d.error, d.response, d.created_at, d.updated_at,
		COALESCE(e.seq, 0), COALESCE(e.id, ''), COALESCE(e.kind, ''), COALESCE(e.at, d.created_at), COALESCE(e.namespace, ''),
		COALESCE(e.repository, ''), COALESCE(e.actor, ''), COALESCE(e.client, ''), COALESCE(e.action, ''), COALESCE(e.target, ''),
		COALESCE(e.result, ''), COALESCE(e.detail, ''), e.data
		FROM webhook_deliveries d LEFT JOIN events e ON e.seq = d.event_seq
		WHERE d.webhook_id = $1 AND d.state = 'pending' AND d.repository = $2
		ORDER BY d.id LIMIT $3`
	qUpdateDelivery = `UPDATE webhook_deliveries SET state = $2, attempts = $3, next_at = $4, status = $5, latency_ns = $6,
		error = $7, response = $8, updated_at = $9 WHERE id = $1`
	qInsertAttempt = `INSERT INTO webhook_attempts (delivery_id, n, at, status, latency_ns, error, response)
		VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (delivery_id, n) DO NOTHING`
	qDelivery      = `SELECT ` + deliveryColumns + ` FROM webhook_deliveries WHERE id = $1`
	qAttempts      = `SELECT delivery_id, n, at, status, latency_ns, error, response FROM webhook_attempts WHERE delivery_id = $1 ORDER BY n`
	qDeliveryCount = `SELECT state, count(*) FROM webhook_deliveries WHERE state <> 'delivered' GROUP BY state`
)

// The queries of this file, for the backends to prepare.
var _ = prepared(
	qInsertWebhook, qUpdateWebhook, qDeleteWebhook, qWebhook,
	qUndispatched, qMarkDispatch, qQueueDelivery, qAddDelivery,
	qDueDeliveries, qNextDue, qQueued, qUpdateDelivery, qInsertAttempt,
	qDelivery, qAttempts, qDeliveryCount,
)

// jsonList encodes a list column; nil is [].
func jsonList(ss []string) (string, error) {
	if ss == nil {
		ss = []string{}
	}
	b, err := json.Marshal(ss)
	return string(b), err
}

// CreateWebhook stores w and returns its ID.
func (t *Tx) CreateWebhook(ctx context.Context, w meta.Webhook) (int64, error) {
	kinds, err := jsonList(w.Kinds)
	if err != nil {
		return 0, err
	}
	repos, err := jsonList(w.Repositories)
	if err != nil {
		return 0, err
	}
	var id int64
	err = t.db.QueryRow(ctx, qInsertWebhook, w.Name, nullText(w.Namespace), w.URL, w.Format, kinds, repos, w.Secret, w.Enabled,
		w.CreatedBy, orNow(w.CreatedAt), orNow(w.UpdatedAt)).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("create webhook %s: %w", w.Name, t.d.Constraint(err))
	}
	return id, nil
}

// UpdateWebhook replaces the settings and secret of webhook w.ID.
func (t *Tx) UpdateWebhook(ctx context.Context, w meta.Webhook) error {
	kinds, err := jsonList(w.Kinds)
	if err != nil {
		return err
	}
	repos, err := jsonList(w.Repositories)
	if err != nil {
		return err
	}
	n, err := t.db.Exec(ctx, qUpdateWebhook, w.ID, w.Name, w.URL, w.Format, kinds, repos, w.Secret, w.Enabled, orNow(w.UpdatedAt))
	if err == nil && n == 0 {
		err = meta.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("update webhook %d: %w", w.ID, t.d.Constraint(err))
	}
	return nil
}

// DeleteWebhook deletes webhook id; its deliveries cascade.
func (t *Tx) DeleteWebhook(ctx context.Context, id int64) error {
	return t.change(ctx, fmt.Sprintf("delete webhook %d", id), qDeleteWebhook, id)
}

func scanWebhook(row Row) (meta.Webhook, error) {
	var w meta.Webhook
	var kinds, repos string
	err := row.Scan(&w.ID, &w.Name, &w.Namespace, &w.URL, &w.Format, &kinds, &repos, &w.Secret, &w.Enabled,
		&w.CreatedBy, &w.CreatedAt, &w.UpdatedAt)
	if err != nil {
		return w, err
	}
	if err := json.Unmarshal([]byte(kinds), &w.Kinds); err != nil {
		return w, fmt.Errorf("webhook %d: kinds: %w", w.ID, err)
	}
	if err := json.Unmarshal([]byte(repos), &w.Repositories); err != nil {
		return w, fmt.Errorf("webhook %d: repositories: %w", w.ID, err)
	}
	if len(w.Kinds) == 0 {
		w.Kinds = nil
	}
	if len(w.Repositories) == 0 {
		w.Repositories = nil
	}
	return w, nil
}

// Webhook returns webhook id, or ErrNotFound.
func (s *Store) Webhook(ctx context.Context, id int64) (meta.Webhook, error) {
	w, err := scanWebhook(s.db.QueryRow(ctx, qWebhook, id))
	if err != nil {
		return meta.Webhook{}, s.notFound(err, "webhook %d", id)
	}
	return w, nil
}

// ListWebhooks lists the webhooks of namespace, or every webhook.
func (s *Store) ListWebhooks(ctx context.Context, namespace string, all bool) ([]meta.Webhook, error) {
	var ws []meta.Webhook
	var err error
	switch {
	case all:
		ws, err = collect(ctx, s.db, scanWebhook, `SELECT `+webhookColumns+` FROM webhooks ORDER BY id`)
	case namespace == "":
		ws, err = collect(ctx, s.db, scanWebhook, `SELECT `+webhookColumns+` FROM webhooks WHERE namespace IS NULL ORDER BY name`)
	default:
		ws, err = collect(ctx, s.db, scanWebhook, `SELECT `+webhookColumns+` FROM webhooks WHERE namespace = $1 ORDER BY name`, namespace)
	}
	return ws, s.wrap(err, "list webhooks")
}

// UndispatchedEvents returns at most n events no Dispatch has taken,
// oldest first.
func (s *Store) UndispatchedEvents(ctx context.Context, n int) ([]meta.Event, error) {
	es, err := collect(ctx, s.db, scanEvent, qUndispatched, n)
	return es, s.wrap(err, "read undispatched events")
}

// Dispatch queues deliveries and marks the events seqs dispatched, in one
// transaction.
func (s *Store) Dispatch(ctx context.Context, seqs []int64, deliveries []meta.Delivery) error {
	now := time.Now()
	marks := make([][]any, len(seqs))
	for i, seq := range seqs {
		marks[i] = []any{seq}
	}
	queue := make([][]any, len(deliveries))
	for i, d := range deliveries {
		queue[i] = []any{d.Webhook, d.EventSeq, d.EventID, d.Kind, d.Repository, now}
	}
	err := s.transact(ctx, func(db DB) error {
		if len(queue) > 0 {
			if err := db.ExecBatch(ctx, qQueueDelivery, queue); err != nil {
				return s.d.Constraint(err)
			}
		}
		return db.ExecBatch(ctx, qMarkDispatch, marks)
	})
	return s.wrap(err, "dispatch %d events", len(seqs))
}

func scanDelivery(row Row) (meta.Delivery, error) {
	var d meta.Delivery
	var latency int64
	err := row.Scan(&d.ID, &d.Webhook, &d.EventSeq, &d.EventID, &d.Kind, &d.Repository, &d.State, &d.Attempts, &d.NextAt,
		&d.Status, &latency, &d.Error, &d.Response, &d.CreatedAt, &d.UpdatedAt)
	d.Latency = time.Duration(latency)
	return d, err
}

// DueDeliveries returns the heads of webhook's queues due at now.
func (s *Store) DueDeliveries(ctx context.Context, webhook int64, now time.Time, n int) ([]meta.Delivery, error) {
	ds, err := collect(ctx, s.db, scanDelivery, qDueDeliveries, webhook, now, n)
	return ds, s.wrap(err, "due deliveries of webhook %d", webhook)
}

// NextDue returns when webhook's earliest pending delivery is due.
func (s *Store) NextDue(ctx context.Context, webhook int64) (time.Time, error) {
	var t *time.Time
	if err := s.db.QueryRow(ctx, qNextDue, webhook).Scan(&t); err != nil {
		return time.Time{}, s.wrap(err, "next delivery of webhook %d", webhook)
	}
	return fromNull(t), nil
}

// QueuedDeliveries returns the queue of webhook's deliveries about
// repository, with their events.
func (s *Store) QueuedDeliveries(ctx context.Context, webhook int64, repository string, n int) ([]meta.Queued, error) {
	qs, err := collect(ctx, s.db, func(row Row) (meta.Queued, error) {
		var q meta.Queued
		var latency int64
		var data []byte
		e := &q.Event
		err := row.Scan(&q.ID, &q.Webhook, &q.EventSeq, &q.EventID, &q.Kind, &q.Repository, &q.State, &q.Attempts, &q.NextAt,
			&q.Status, &latency, &q.Error, &q.Response, &q.CreatedAt, &q.UpdatedAt,
			&e.Seq, &e.ID, &e.Kind, &e.At, &e.Namespace, &e.Repository, &e.Actor, &e.Client, &e.Action, &e.Target, &e.Result, &e.Detail, &data)
		q.Latency, e.Data = time.Duration(latency), data
		if e.Seq == 0 {
			q.Event = meta.Event{}
		}
		return q, err
	}, qQueued, webhook, repository, n)
	return qs, s.wrap(err, "queue of webhook %d for %q", webhook, repository)
}

// RecordAttempts records attempts and their deliveries' new states, in
// one transaction.
func (s *Store) RecordAttempts(ctx context.Context, attempts ...meta.Attempted) error {
	if len(attempts) == 0 {
		return nil
	}
	now := time.Now()
	err := s.transact(ctx, func(db DB) error {
		for _, at := range attempts {
			d, a := at.Delivery, at.Attempt
			n, err := db.Exec(ctx, qUpdateDelivery, d.ID, d.State, d.Attempts, orNow(d.NextAt), d.Status, int64(d.Latency),
				d.Error, d.Response, now)
			if err != nil {
				return err
			}
			if n == 0 {
				continue // its webhook was deleted meanwhile
			}
			if _, err := db.Exec(ctx, qInsertAttempt, a.Delivery, a.N, orNow(a.At), a.Status, int64(a.Latency), a.Error, a.Response); err != nil {
				return err
			}
		}
		return nil
	})
	return s.wrap(err, "record %d delivery attempts", len(attempts))
}

// AddDelivery records d as it is and returns its ID.
func (s *Store) AddDelivery(ctx context.Context, d meta.Delivery) (int64, error) {
	var seq any
	if d.EventSeq != 0 {
		seq = d.EventSeq
	}
	var id int64
	err := s.write.QueryRow(ctx, qAddDelivery, d.Webhook, seq, d.EventID, d.Kind, d.Repository, d.State, d.Attempts, orNow(d.NextAt),
		d.Status, int64(d.Latency), d.Error, d.Response, orNow(d.CreatedAt), orNow(d.UpdatedAt)).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("add delivery to webhook %d: %w", d.Webhook, s.d.Constraint(err))
	}
	return id, nil
}

// Deliveries returns the deliveries q selects, newest first.
func (s *Store) Deliveries(ctx context.Context, q meta.DeliveryQuery) ([]meta.Delivery, error) {
	w := where{}
	w.add("webhook_id = $", q.Webhook)
	if q.State != "" {
		w.add("state = $", q.State)
	}
	if q.BeforeID > 0 {
		w.add("id < $", q.BeforeID)
	}
	ds, err := collect(ctx, s.db, scanDelivery, w.query(`SELECT `+deliveryColumns+` FROM webhook_deliveries`, "id", q.N), w.args...)
	return ds, s.wrap(err, "deliveries of webhook %d", q.Webhook)
}

func scanAttempt(row Row) (meta.DeliveryAttempt, error) {
	var a meta.DeliveryAttempt
	var latency int64
	err := row.Scan(&a.Delivery, &a.N, &a.At, &a.Status, &latency, &a.Error, &a.Response)
	a.Latency = time.Duration(latency)
	return a, err
}

// Delivery returns delivery id with its attempts.
func (s *Store) Delivery(ctx context.Context, id int64) (meta.Delivery, []meta.DeliveryAttempt, error) {
	d, err := scanDelivery(s.db.QueryRow(ctx, qDelivery, id))
	if err != nil {
		return meta.Delivery{}, nil, s.notFound(err, "delivery %d", id)
	}
	as, err := collect(ctx, s.db, scanAttempt, qAttempts, id)
	if err != nil {
		return meta.Delivery{}, nil, s.wrap(err, "attempts of delivery %d", id)
	}
	return d, as, nil
}

// DeliveryCounts returns how many deliveries are pending and dead.
func (s *Store) DeliveryCounts(ctx context.Context) (pending, dead int64, err error) {
	err = each(ctx, s.db, func(row Row) error {
		var state string
		var n int64
		if err := row.Scan(&state, &n); err != nil {
			return err
		}
		switch state {
		case meta.DeliveryPending:
			pending = n
		case meta.DeliveryDead:
			dead = n
		}
		return nil
	}, qDeliveryCount)
	return pending, dead, s.wrap(err, "count deliveries")
}

var _ meta.Webhooks = (*Store)(nil)
