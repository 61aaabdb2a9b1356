-- 0011_promotion: promotion policies (gates per target namespace), requests
-- waiting for approvals, the approvals, promotion records, and network
-- rules per namespace (internal/promotion, docs/promotion.md). Conventions
-- as in 0001.

-- promotion_policies: the gates of promotions into a namespace, per path,
-- as JSON the promotion package encodes and checks.
CREATE TABLE promotion_policies (
    namespace  TEXT    PRIMARY KEY,
    spec       TEXT    NOT NULL,
    updated_by TEXT    NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;

-- promotion_requests: promotions waiting for approvals by a second person.
CREATE TABLE promotion_requests (
    id                INTEGER PRIMARY KEY, -- rowid; the request's id in the API
    source            TEXT    NOT NULL,    -- as asked: repository:tag or repository@digest
    source_repository TEXT    NOT NULL,
    digest            TEXT    NOT NULL,    -- the source resolved once, when asked
    target_repository TEXT    NOT NULL,
    target_tag        TEXT    NOT NULL,
    remote            TEXT    NOT NULL,    -- the remote registry's name, '' for this one
    requested_by      TEXT    NOT NULL,
    created_at        INTEGER NOT NULL,
    state             TEXT    NOT NULL,    -- pending, promoted, refused
    closed_at         INTEGER,
    record_id         INTEGER              -- the promotion record that closed it
) STRICT;
CREATE INDEX promotion_requests_pending ON promotion_requests (source_repository, digest, target_repository, target_tag, remote) WHERE state = 'pending';
CREATE INDEX promotion_requests_state ON promotion_requests (state, id);

-- promotion_approvals: who approved which request, once each.
CREATE TABLE promotion_approvals (
    request_id INTEGER NOT NULL REFERENCES promotion_requests (id) ON DELETE CASCADE,
    approver   TEXT    NOT NULL,
    comment    TEXT    NOT NULL,
    at         INTEGER NOT NULL,
    PRIMARY KEY (request_id, approver)
) STRICT;

-- promotions: one record per promotion done, refused or failed, written
-- once. The triggers refuse every UPDATE and DELETE: the history of what
-- reached a namespace, and why it was allowed, cannot be edited.
CREATE TABLE promotions (
    id                INTEGER PRIMARY KEY, -- rowid; the record's id in the API
    at                INTEGER NOT NULL,
    actor             TEXT    NOT NULL,
    client            TEXT    NOT NULL,
    source            TEXT    NOT NULL,
    source_repository TEXT    NOT NULL,
    digest            TEXT    NOT NULL,
    target_repository TEXT    NOT NULL,
    target_tag        TEXT    NOT NULL,
    remote            TEXT    NOT NULL,
    remote_url        TEXT    NOT NULL,
    result            TEXT    NOT NULL,    -- promoted, refused, failed
    reason            TEXT    NOT NULL,
    gates             TEXT    NOT NULL,    -- JSON: each gate's result and evidence
    approvals         TEXT    NOT NULL,    -- JSON: the approvals that counted
    copied            TEXT    NOT NULL,    -- JSON: the manifests copied
    request_id        INTEGER              -- the request it closed
) STRICT;
CREATE INDEX promotions_source ON promotions (source_repository, id);
CREATE INDEX promotions_target ON promotions (target_repository, id);
CREATE INDEX promotions_digest ON promotions (digest, id);
CREATE TRIGGER promotions_no_update BEFORE UPDATE ON promotions
BEGIN SELECT RAISE(ABORT, 'promotion records cannot be changed'); END;
CREATE TRIGGER promotions_no_delete BEFORE DELETE ON promotions
BEGIN SELECT RAISE(ABORT, 'promotion records cannot be deleted'); END;

-- network_rules: the CIDR allow-list of pulls or pushes in a namespace.
CREATE TABLE network_rules (
    namespace  TEXT    NOT NULL,
    action     TEXT    NOT NULL CHECK (action IN ('pull', 'push')),
    cidrs      TEXT    NOT NULL,           -- JSON array of CIDRs
    updated_by TEXT    NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (namespace, action)
) STRICT;
