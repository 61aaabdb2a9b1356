-- 0014: the event stream (docs/events.md) and webhooks. Conventions of 0001:
-- INTEGER unix-nanosecond times, byte-wise names, STRICT tables.

-- events: the outbox. Every change writes its event here in its own
-- transaction (package events defines the kinds and encodes data); the
-- audit log is a view of it (action, target, result and detail are the
-- audit log's columns). seq increases (AUTOINCREMENT never reuses one), so
-- "seq < cursor" pages newest first. dispatched is set once the webhook
-- dispatcher has queued the event's deliveries; events are pruned after
-- events.retention once dispatched and with no delivery pending.
CREATE TABLE events (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    id         TEXT    NOT NULL UNIQUE,        -- public id: the idempotency key of deliveries
    kind       TEXT    NOT NULL,               -- e.g. "artifact.pushed"
    at         INTEGER NOT NULL,               -- when it happened
    namespace  TEXT    NOT NULL DEFAULT '',    -- '' for events outside every namespace
    repository TEXT    NOT NULL DEFAULT '',    -- '' for events about no repository
    actor      TEXT    NOT NULL,               -- e.g. "user:alice", "system:retention"
    client     TEXT    NOT NULL DEFAULT '',    -- client address
    action     TEXT    NOT NULL,               -- audit: e.g. "push", "member.put"
    target     TEXT    NOT NULL DEFAULT '',    -- audit: e.g. "team/app:v1", "user:bob"
    result     TEXT    NOT NULL,               -- audit: "ok", "denied" or "failed"
    detail     TEXT    NOT NULL DEFAULT '',    -- audit: free text
    data       BLOB    NOT NULL,               -- the event's JSON
    dispatched INTEGER NOT NULL DEFAULT 0 CHECK (dispatched IN (0, 1))
) STRICT;
-- What the dispatcher has yet to take, oldest first.
CREATE INDEX events_undispatched ON events (seq) WHERE dispatched = 0;
-- The audit log's common filters, each newest first, and pruning.
CREATE INDEX events_by_actor ON events (actor, seq);
CREATE INDEX events_by_action ON events (action, seq);
CREATE INDEX events_by_kind ON events (kind, seq);
CREATE INDEX events_by_repository ON events (repository, seq);
CREATE INDEX events_by_at ON events (at);

-- The audit log kept so far becomes the first events, of kind "audit"
-- (unknown to package events: shown as recorded), never delivered.
INSERT INTO events (id, kind, at, actor, client, action, target, result, detail, data, dispatched)
SELECT 'audit-' || id, 'audit', at, actor, client, action, target, result, detail, CAST('{"data":{}}' AS BLOB), 1
FROM audit_events ORDER BY id;
DROP TABLE audit_events;

-- repositories.listed: the repository holds manifests, as far as the events
-- go: set by the push of its first manifest (repository.created), cleared
-- by the deletion of its last (repository.deleted).
ALTER TABLE repositories ADD COLUMN listed INTEGER NOT NULL DEFAULT 0 CHECK (listed IN (0, 1));
UPDATE repositories SET listed = 1 WHERE EXISTS (SELECT 1 FROM manifests m WHERE m.repository_id = repositories.id);

-- webhooks: subscriptions to the stream. namespace is NULL for a
-- system-wide webhook; a namespace's go with it. kinds and repositories
-- are JSON arrays of strings ([] for every kind, every repository); the
-- secret signs deliveries, so it is kept as it is.
CREATE TABLE webhooks (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    name         TEXT    NOT NULL,
    namespace    TEXT    REFERENCES namespaces (name) ON DELETE CASCADE,
    url          TEXT    NOT NULL,
    format       TEXT    NOT NULL,  -- "cloudevents", "distribution", "harbor"
    kinds        TEXT    NOT NULL,
    repositories TEXT    NOT NULL,
    secret       TEXT    NOT NULL,
    enabled      INTEGER NOT NULL CHECK (enabled IN (0, 1)),
    created_by   TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
) STRICT;
CREATE UNIQUE INDEX webhooks_by_name ON webhooks (COALESCE(namespace, ''), name);
CREATE INDEX webhooks_by_namespace ON webhooks (namespace);

-- webhook_deliveries: the queue, and the delivery log. A delivery is one
-- event (or a ping: event_seq NULL) to one webhook, over its attempts;
-- the pending deliveries of one webhook and repository go in id order.
-- The last attempt's outcome is kept here, every attempt's in
-- webhook_attempts. Deliveries go with their webhook and their event.
CREATE TABLE webhook_deliveries (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    webhook_id INTEGER NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event_seq  INTEGER REFERENCES events (seq) ON DELETE CASCADE,
    event_id   TEXT    NOT NULL,
    kind       TEXT    NOT NULL,
    repository TEXT    NOT NULL,
    state      TEXT    NOT NULL CHECK (state IN ('pending', 'delivered', 'dead')),
    attempts   INTEGER NOT NULL DEFAULT 0,
    next_at    INTEGER NOT NULL,          -- when a pending delivery is due
    status     INTEGER NOT NULL DEFAULT 0, -- the last attempt's HTTP status, 0 if none came
    latency_ns INTEGER NOT NULL DEFAULT 0,
    error      TEXT    NOT NULL DEFAULT '',
    response   TEXT    NOT NULL DEFAULT '', -- the start of the last answer's body
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;
-- The heads of the queues: the oldest pending delivery per repository.
CREATE INDEX webhook_deliveries_pending ON webhook_deliveries (webhook_id, repository, id) WHERE state = 'pending';
CREATE INDEX webhook_deliveries_by_webhook ON webhook_deliveries (webhook_id, id);
CREATE INDEX webhook_deliveries_by_event ON webhook_deliveries (event_seq);
CREATE INDEX webhook_deliveries_by_state ON webhook_deliveries (state) WHERE state <> 'delivered';

-- webhook_attempts: every attempt of a delivery.
CREATE TABLE webhook_attempts (
    delivery_id INTEGER NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    n           INTEGER NOT NULL,  -- 1 for the first attempt
    at          INTEGER NOT NULL,
    status      INTEGER NOT NULL,
    latency_ns  INTEGER NOT NULL,
    error       TEXT    NOT NULL,
    response    TEXT    NOT NULL,
    PRIMARY KEY (delivery_id, n)
) STRICT, WITHOUT ROWID;
