-- 0014: the event stream (docs/events.md) and webhooks. The same logical
-- schema as the SQLite backend's 0014, with the conventions of 0001:
-- timestamptz, names text COLLATE "C" where they are sorted or filtered.

-- events: the outbox. Every change writes its event here in its own
-- transaction (package events defines the kinds and encodes data); the
-- audit log is a view of it (action, target, result and detail are the
-- audit log's columns). seq increases; transactions that commit out of
-- order can make a lower seq appear after a higher one, which is why the
-- dispatcher marks what it took (dispatched) rather than keep a cursor.
-- Events are pruned after events.retention once dispatched and with no
-- delivery pending.
CREATE TABLE events (
    seq        bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id         text        NOT NULL UNIQUE,            -- public id: the idempotency key of deliveries
    kind       text        COLLATE "C" NOT NULL,       -- e.g. "artifact.pushed"
    at         timestamptz NOT NULL,                   -- when it happened
    namespace  text        COLLATE "C" NOT NULL DEFAULT '',
    repository text        COLLATE "C" NOT NULL DEFAULT '',
    actor      text        COLLATE "C" NOT NULL,       -- e.g. "user:alice", "system:retention"
    client     text        NOT NULL DEFAULT '',        -- client address
    action     text        COLLATE "C" NOT NULL,       -- audit: e.g. "push", "member.put"
    target     text        COLLATE "C" NOT NULL DEFAULT '',
    result     text        NOT NULL,                   -- audit: "ok", "denied" or "failed"
    detail     text        NOT NULL DEFAULT '',
    data       bytea       NOT NULL,                   -- the event's JSON
    dispatched boolean     NOT NULL DEFAULT false
);
CREATE INDEX events_undispatched ON events (seq) WHERE dispatched = false;
CREATE INDEX events_by_actor ON events (actor, seq);
CREATE INDEX events_by_action ON events (action, seq);
CREATE INDEX events_by_kind ON events (kind, seq);
CREATE INDEX events_by_repository ON events (repository, seq);
CREATE INDEX events_by_at ON events (at);

-- The audit log kept so far becomes the first events, of kind "audit",
-- never delivered.
INSERT INTO events (id, kind, at, actor, client, action, target, result, detail, data, dispatched)
SELECT 'audit-' || id, 'audit', at, actor, client, action, target, result, detail, convert_to('{"data":{}}', 'UTF8'), true
FROM audit_events ORDER BY id;
DROP TABLE audit_events;

-- repositories.listed: set by the push of a repository's first manifest
-- (repository.created), cleared by the deletion of its last
-- (repository.deleted).
ALTER TABLE repositories ADD COLUMN listed boolean NOT NULL DEFAULT false;
UPDATE repositories SET listed = true WHERE EXISTS (SELECT 1 FROM manifests m WHERE m.repository_id = repositories.id);

-- webhooks: subscriptions to the stream; namespace NULL for system-wide.
-- kinds and repositories are JSON arrays of strings.
CREATE TABLE webhooks (
    id           bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name         text        COLLATE "C" NOT NULL,
    namespace    text        COLLATE "C" REFERENCES namespaces (name) ON DELETE CASCADE,
    url          text        NOT NULL,
    format       text        NOT NULL,
    kinds        text        NOT NULL,
    repositories text        NOT NULL,
    secret       text        NOT NULL,
    enabled      boolean     NOT NULL,
    created_by   text        NOT NULL,
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL
);
CREATE UNIQUE INDEX webhooks_by_name ON webhooks (COALESCE(namespace, ''), name);
CREATE INDEX webhooks_by_namespace ON webhooks (namespace);

-- webhook_deliveries: the queue and the delivery log (see SQLite's 0006).
CREATE TABLE webhook_deliveries (
    id         bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    webhook_id bigint      NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event_seq  bigint      REFERENCES events (seq) ON DELETE CASCADE,
    event_id   text        NOT NULL,
    kind       text        NOT NULL,
    repository text        COLLATE "C" NOT NULL,
    state      text        NOT NULL CHECK (state IN ('pending', 'delivered', 'dead')),
    attempts   integer     NOT NULL DEFAULT 0,
    next_at    timestamptz NOT NULL,
    status     integer     NOT NULL DEFAULT 0,
    latency_ns bigint      NOT NULL DEFAULT 0,
    error      text        NOT NULL DEFAULT '',
    response   text        NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE INDEX webhook_deliveries_pending ON webhook_deliveries (webhook_id, repository, id) WHERE state = 'pending';
CREATE INDEX webhook_deliveries_by_webhook ON webhook_deliveries (webhook_id, id);
CREATE INDEX webhook_deliveries_by_event ON webhook_deliveries (event_seq);
CREATE INDEX webhook_deliveries_by_state ON webhook_deliveries (state) WHERE state <> 'delivered';

CREATE TABLE webhook_attempts (
    delivery_id bigint      NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    n           integer     NOT NULL,
    at          timestamptz NOT NULL,
    status      integer     NOT NULL,
    latency_ns  bigint      NOT NULL,
    error       text        NOT NULL,
    response    text        NOT NULL,
    PRIMARY KEY (delivery_id, n)
);
