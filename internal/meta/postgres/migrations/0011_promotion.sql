-- 0011_promotion: promotion policies (gates per target namespace), requests
-- waiting for approvals, the approvals, promotion records, and network
-- rules per namespace (internal/promotion, docs/promotion.md). The same
-- logical schema as SQLite's 0011; conventions as in 0001.

CREATE TABLE promotion_policies (
    namespace  text        COLLATE "C" PRIMARY KEY,
    spec       text        NOT NULL,
    updated_by text        NOT NULL,
    updated_at timestamptz NOT NULL
);

CREATE TABLE promotion_requests (
    id                bigserial   PRIMARY KEY,
    source            text        NOT NULL,
    source_repository text        COLLATE "C" NOT NULL,
    digest            text        COLLATE "C" NOT NULL,
    target_repository text        COLLATE "C" NOT NULL,
    target_tag        text        COLLATE "C" NOT NULL,
    remote            text        COLLATE "C" NOT NULL,
    requested_by      text        NOT NULL,
    created_at        timestamptz NOT NULL,
    state             text        NOT NULL,    -- pending, promoted, refused
    closed_at         timestamptz,
    record_id         bigint
);
CREATE INDEX promotion_requests_pending ON promotion_requests (source_repository, digest, target_repository, target_tag, remote) WHERE state = 'pending';
CREATE INDEX promotion_requests_state ON promotion_requests (state, id);

CREATE TABLE promotion_approvals (
    request_id bigint      NOT NULL REFERENCES promotion_requests (id) ON DELETE CASCADE,
    approver   text        COLLATE "C" NOT NULL,
    comment    text        NOT NULL,
    at         timestamptz NOT NULL,
    PRIMARY KEY (request_id, approver)
);

-- promotions: written once; the trigger refuses every UPDATE and DELETE.
CREATE TABLE promotions (
    id                bigserial   PRIMARY KEY,
    at                timestamptz NOT NULL,
    actor             text        NOT NULL,
    client            text        NOT NULL,
    source            text        NOT NULL,
    source_repository text        COLLATE "C" NOT NULL,
    digest            text        COLLATE "C" NOT NULL,
    target_repository text        COLLATE "C" NOT NULL,
    target_tag        text        COLLATE "C" NOT NULL,
    remote            text        NOT NULL,
    remote_url        text        NOT NULL,
    result            text        NOT NULL,
    reason            text        NOT NULL,
    gates             text        NOT NULL,
    approvals         text        NOT NULL,
    copied            text        NOT NULL,
    request_id        bigint
);
CREATE INDEX promotions_source ON promotions (source_repository, id);
CREATE INDEX promotions_target ON promotions (target_repository, id);
CREATE INDEX promotions_digest ON promotions (digest, id);
CREATE FUNCTION promotions_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'promotion records cannot be changed or deleted';
END $$;
CREATE TRIGGER promotions_immutable BEFORE UPDATE OR DELETE ON promotions
    FOR EACH ROW EXECUTE FUNCTION promotions_immutable();

CREATE TABLE network_rules (
    namespace  text        COLLATE "C" NOT NULL,
    action     text        NOT NULL CHECK (action IN ('pull', 'push')),
    cidrs      text        NOT NULL,
    updated_by text        NOT NULL,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (namespace, action)
);
