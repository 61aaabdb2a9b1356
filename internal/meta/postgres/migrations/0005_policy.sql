-- 0005_policy: lifecycle records: immutability rules, retention policies,
-- quotas, and when each manifest was last pulled (for usage and for
-- retention's "pulled within" rule). The same logical schema as SQLite's
-- 0005; conventions as in 0001. Patterns and rules are kept as the caller
-- wrote them; package policy defines and validates them before they are
-- stored.
--
-- Locking: a write checked against a quota takes the namespace's quotas row
-- FOR UPDATE first (LockQuota), and so do the triggers that keep its usage,
-- so writes that change a namespace's usage run one at a time; a namespace
-- without a quota takes no lock. Retention takes the tag
-- and manifest rows it may delete FOR UPDATE (LockRetention) before it
-- re-reads the repository, so a concurrent push either commits first and is
-- seen, or waits.

-- immutability_rules: tags of a namespace matching a pattern can never be
-- moved or deleted once pushed.
CREATE TABLE immutability_rules (
    id         bigserial   PRIMARY KEY,             -- the rule's id in the API
    namespace  text        COLLATE "C" NOT NULL,    -- first path component of the repositories it covers
    pattern    text        COLLATE "C" NOT NULL,    -- tag pattern: a glob, "semver" or "re:EXPR"
    created_at timestamptz NOT NULL,
    UNIQUE (namespace, pattern)                     -- also the lookup by namespace on every tag push
);

-- retention_policies: which tags and manifests to keep in the repositories
-- of a scope ("team-a" or "team-a/app*").
CREATE TABLE retention_policies (
    id         bigserial   PRIMARY KEY,             -- the policy's id in the API
    scope      text        COLLATE "C" NOT NULL,    -- a namespace, or a namespace and a repository glob
    rules      text        NOT NULL,                -- the policy as JSON (policy.RetentionPolicy)
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);

-- quotas: the bytes a namespace may hold, counted as meta.Usage.Bytes (a
-- blob linked by several repositories of the namespace counts once).
-- used_bytes is kept up to date by the triggers below, so that checking a
-- write against the quota reads one row instead of summing the namespace;
-- RecountQuota recomputes it from the links and manifests.
CREATE TABLE quotas (
    namespace   text        COLLATE "C" PRIMARY KEY,
    limit_bytes bigint      NOT NULL CHECK (limit_bytes >= 0),
    used_bytes  bigint      NOT NULL DEFAULT 0,     -- distinct linked blob bytes + manifest payload bytes
    updated_at  timestamptz NOT NULL
);

-- namespace_blobs: for namespaces with a quota only, how many repositories
-- of the namespace link each blob, so that a blob's bytes are added to
-- used_bytes when its first link in the namespace appears and taken off
-- when its last goes. Deleted with the quota.
CREATE TABLE namespace_blobs (
    namespace text   COLLATE "C" NOT NULL REFERENCES quotas (namespace) ON DELETE CASCADE,
    digest    text   COLLATE "C" NOT NULL,
    links     bigint NOT NULL,                      -- repositories of the namespace linking digest, > 0
    PRIMARY KEY (namespace, digest)
);

-- The triggers keeping used_bytes. A repository's namespace is its name up
-- to the first "/"; repositories rows are never deleted (0001). Each takes
-- the quota row first (FOR UPDATE, the lock LockQuota takes), then
-- namespace_blobs, so that they and quota checks lock in one order; a
-- namespace without a quota takes no lock.
CREATE FUNCTION quota_link() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    ns text;
    n  bigint;
BEGIN
    SELECT split_part(name, '/', 1) INTO ns FROM repositories WHERE id = NEW.repository_id;
    PERFORM 1 FROM quotas WHERE namespace = ns FOR UPDATE;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    INSERT INTO namespace_blobs (namespace, digest, links) VALUES (ns, NEW.digest, 1)
        ON CONFLICT (namespace, digest) DO UPDATE SET links = namespace_blobs.links + 1
        RETURNING links INTO n;
    IF n = 1 THEN
        UPDATE quotas SET used_bytes = used_bytes + (SELECT size FROM blobs WHERE digest = NEW.digest)
            WHERE namespace = ns;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER quota_link AFTER INSERT ON repository_blobs FOR EACH ROW EXECUTE FUNCTION quota_link();

CREATE FUNCTION quota_unlink() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    ns text;
    n  bigint;
BEGIN
    SELECT split_part(name, '/', 1) INTO ns FROM repositories WHERE id = OLD.repository_id;
    PERFORM 1 FROM quotas WHERE namespace = ns FOR UPDATE;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    UPDATE namespace_blobs SET links = links - 1 WHERE namespace = ns AND digest = OLD.digest
        RETURNING links INTO n;
    IF n IS NOT NULL AND n <= 0 THEN
        DELETE FROM namespace_blobs WHERE namespace = ns AND digest = OLD.digest;
        UPDATE quotas SET used_bytes = used_bytes - COALESCE((SELECT size FROM blobs WHERE digest = OLD.digest), 0)
            WHERE namespace = ns;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER quota_unlink AFTER DELETE ON repository_blobs FOR EACH ROW EXECUTE FUNCTION quota_unlink();

CREATE FUNCTION quota_manifest() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE quotas SET used_bytes = used_bytes + NEW.size
            WHERE namespace = (SELECT split_part(name, '/', 1) FROM repositories WHERE id = NEW.repository_id);
    ELSE
        UPDATE quotas SET used_bytes = used_bytes - OLD.size
            WHERE namespace = (SELECT split_part(name, '/', 1) FROM repositories WHERE id = OLD.repository_id);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER quota_manifest AFTER INSERT OR DELETE ON manifests FOR EACH ROW EXECUTE FUNCTION quota_manifest();

-- manifest_pulls: the last pull of each manifest (GET or HEAD, by tag or
-- digest). Written in batches by the registry, which coalesces pulls in
-- memory, so a hot manifest costs one write per flush, not one per pull.
-- A row of its own rather than a column of manifests, so that recording a
-- pull never takes the manifest row's lock. Deleted with the manifest.
CREATE TABLE manifest_pulls (
    repository_id bigint      NOT NULL,
    digest        text        COLLATE "C" NOT NULL,
    pulled_at     timestamptz NOT NULL,
    PRIMARY KEY (repository_id, digest),
    FOREIGN KEY (repository_id, digest)
        REFERENCES manifests (repository_id, digest) ON DELETE CASCADE
);

-- manifest_untagged: when a tag last stopped naming each manifest (the tag
-- deleted or moved away), so that "untagged for T" counts from then and not
-- from the manifest's first push. No foreign key: the row may be written by
-- a tag deleted in the cascade of its manifest's own delete; a row left
-- behind is harmless and is replaced when the manifest is pushed again.
CREATE TABLE manifest_untagged (
    repository_id bigint      NOT NULL,
    digest        text        COLLATE "C" NOT NULL,
    untagged_at   timestamptz NOT NULL,
    PRIMARY KEY (repository_id, digest)
);

CREATE FUNCTION untagged_tag() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.manifest_digest = NEW.manifest_digest THEN
        RETURN NULL;
    END IF;
    INSERT INTO manifest_untagged (repository_id, digest, untagged_at)
        VALUES (OLD.repository_id, OLD.manifest_digest, clock_timestamp())
        ON CONFLICT (repository_id, digest) DO UPDATE SET untagged_at = excluded.untagged_at;
    RETURN NULL;
END $$;
CREATE TRIGGER untagged_tag AFTER DELETE OR UPDATE OF manifest_digest ON tags
    FOR EACH ROW EXECUTE FUNCTION untagged_tag();

CREATE FUNCTION untagged_manifest() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        DELETE FROM manifest_untagged WHERE repository_id = NEW.repository_id AND digest = NEW.digest;
    ELSE
        DELETE FROM manifest_untagged WHERE repository_id = OLD.repository_id AND digest = OLD.digest;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER untagged_manifest AFTER INSERT OR DELETE ON manifests
    FOR EACH ROW EXECUTE FUNCTION untagged_manifest();
