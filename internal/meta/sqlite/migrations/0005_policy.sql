-- 0005_policy: lifecycle records: immutability rules, retention policies,
-- quotas, and when each manifest was last pulled (for usage and for
-- retention's "pulled within" rule). Conventions as in 0001. Patterns and
-- rules are kept as the caller wrote them; package policy defines and
-- validates them before they are stored.

-- immutability_rules: tags of a namespace matching a pattern can never be
-- moved or deleted once pushed.
CREATE TABLE immutability_rules (
    id         INTEGER PRIMARY KEY,  -- rowid; the rule's id in the API
    namespace  TEXT    NOT NULL,     -- first path component of the repositories it covers
    pattern    TEXT    NOT NULL,     -- tag pattern: a glob, "semver" or "re:EXPR"
    created_at INTEGER NOT NULL,
    UNIQUE (namespace, pattern)      -- also the lookup by namespace on every tag push
) STRICT;

-- retention_policies: which tags and manifests to keep in the repositories
-- of a scope ("team-a" or "team-a/app*").
CREATE TABLE retention_policies (
    id         INTEGER PRIMARY KEY,  -- rowid; the policy's id in the API
    scope      TEXT    NOT NULL,     -- a namespace, or a namespace and a repository glob
    rules      TEXT    NOT NULL,     -- the policy as JSON (policy.RetentionPolicy)
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;

-- quotas: the bytes a namespace may hold, counted as meta.Usage.Bytes (a
-- blob linked by several repositories of the namespace counts once).
-- used_bytes is kept up to date by the triggers below, so that checking a
-- write against the quota reads one row instead of summing the namespace;
-- RecountQuota recomputes it from the links and manifests.
CREATE TABLE quotas (
    namespace   TEXT    PRIMARY KEY,
    limit_bytes INTEGER NOT NULL CHECK (limit_bytes >= 0),
    used_bytes  INTEGER NOT NULL DEFAULT 0, -- distinct linked blob bytes + manifest payload bytes
    updated_at  INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

-- namespace_blobs: for namespaces with a quota only, how many repositories
-- of the namespace link each blob, so that a blob's bytes are added to
-- used_bytes when its first link in the namespace appears and taken off
-- when its last goes. Deleted with the quota.
CREATE TABLE namespace_blobs (
    namespace TEXT    NOT NULL REFERENCES quotas (namespace) ON DELETE CASCADE,
    digest    TEXT    NOT NULL,
    links     INTEGER NOT NULL,  -- repositories of the namespace linking digest, > 0
    PRIMARY KEY (namespace, digest)
) STRICT, WITHOUT ROWID;

-- The triggers keeping used_bytes. A repository's namespace is its name up
-- to the first "/". Repositories rows are never deleted (0001), so the name
-- is there when a link or manifest row goes.
CREATE TRIGGER quota_link AFTER INSERT ON repository_blobs
WHEN EXISTS (SELECT 1 FROM quotas q JOIN repositories r ON r.id = NEW.repository_id
    WHERE q.namespace = (CASE WHEN instr(r.name, '/') > 0 THEN substr(r.name, 1, instr(r.name, '/') - 1) ELSE r.name END))
BEGIN
    UPDATE quotas SET used_bytes = used_bytes + (SELECT size FROM blobs WHERE digest = NEW.digest)
    WHERE namespace = (SELECT CASE WHEN instr(name, '/') > 0 THEN substr(name, 1, instr(name, '/') - 1) ELSE name END
            FROM repositories WHERE id = NEW.repository_id)
        AND NOT EXISTS (SELECT 1 FROM namespace_blobs nb WHERE nb.namespace = quotas.namespace AND nb.digest = NEW.digest);
    INSERT INTO namespace_blobs (namespace, digest, links)
    VALUES ((SELECT CASE WHEN instr(name, '/') > 0 THEN substr(name, 1, instr(name, '/') - 1) ELSE name END
            FROM repositories WHERE id = NEW.repository_id), NEW.digest, 1)
    ON CONFLICT (namespace, digest) DO UPDATE SET links = links + 1;
END;

CREATE TRIGGER quota_unlink AFTER DELETE ON repository_blobs
WHEN EXISTS (SELECT 1 FROM namespace_blobs nb JOIN repositories r ON r.id = OLD.repository_id
    WHERE nb.digest = OLD.digest
        AND nb.namespace = (CASE WHEN instr(r.name, '/') > 0 THEN substr(r.name, 1, instr(r.name, '/') - 1) ELSE r.name END))
BEGIN
    UPDATE namespace_blobs SET links = links - 1
    WHERE digest = OLD.digest AND namespace = (SELECT CASE WHEN instr(name, '/') > 0 THEN substr(name, 1, instr(name, '/') - 1) ELSE name END
            FROM repositories WHERE id = OLD.repository_id);
    UPDATE quotas SET used_bytes = used_bytes - COALESCE((SELECT size FROM blobs WHERE digest = OLD.digest), 0)
    WHERE EXISTS (SELECT 1 FROM namespace_blobs nb WHERE nb.namespace = quotas.namespace AND nb.digest = OLD.digest AND nb.links <= 0);
    DELETE FROM namespace_blobs WHERE digest = OLD.digest AND links <= 0;
END;

CREATE TRIGGER quota_manifest_put AFTER INSERT ON manifests
BEGIN
    UPDATE quotas SET used_bytes = used_bytes + NEW.size
    WHERE namespace = (SELECT CASE WHEN instr(name, '/') > 0 THEN substr(name, 1, instr(name, '/') - 1) ELSE name END
            FROM repositories WHERE id = NEW.repository_id);
END;

CREATE TRIGGER quota_manifest_delete AFTER DELETE ON manifests
BEGIN
    UPDATE quotas SET used_bytes = used_bytes - OLD.size
    WHERE namespace = (SELECT CASE WHEN instr(name, '/') > 0 THEN substr(name, 1, instr(name, '/') - 1) ELSE name END
            FROM repositories WHERE id = OLD.repository_id);
END;

-- manifest_pulls: the last pull of each manifest (GET or HEAD, by tag or
-- digest). Written in batches by the registry, which coalesces pulls in
-- memory, so a hot manifest costs one write per flush, not one per pull.
-- A row of its own rather than a column of manifests, so that recording a
-- pull never contends with writes to the manifest row. Deleted with the
-- manifest.
CREATE TABLE manifest_pulls (
    repository_id INTEGER NOT NULL,
    digest        TEXT    NOT NULL,
    pulled_at     INTEGER NOT NULL,
    PRIMARY KEY (repository_id, digest),
    FOREIGN KEY (repository_id, digest)
        REFERENCES manifests (repository_id, digest) ON DELETE CASCADE
) STRICT, WITHOUT ROWID;

-- manifest_untagged: when a tag last stopped naming each manifest (the tag
-- deleted or moved away), so that "untagged for T" counts from then and not
-- from the manifest's first push. No foreign key: the row may be written by
-- a tag deleted in the cascade of its manifest's own delete; a row left
-- behind is harmless and is replaced when the manifest is pushed again.
CREATE TABLE manifest_untagged (
    repository_id INTEGER NOT NULL,
    digest        TEXT    NOT NULL,
    untagged_at   INTEGER NOT NULL,
    PRIMARY KEY (repository_id, digest)
) STRICT, WITHOUT ROWID;

CREATE TRIGGER untagged_tag_deleted AFTER DELETE ON tags BEGIN
    INSERT INTO manifest_untagged (repository_id, digest, untagged_at)
    VALUES (OLD.repository_id, OLD.manifest_digest, CAST(unixepoch('subsec') * 1000000000 AS INTEGER))
    ON CONFLICT (repository_id, digest) DO UPDATE SET untagged_at = excluded.untagged_at;
END;
CREATE TRIGGER untagged_tag_moved AFTER UPDATE OF manifest_digest ON tags
WHEN OLD.manifest_digest <> NEW.manifest_digest BEGIN
    INSERT INTO manifest_untagged (repository_id, digest, untagged_at)
    VALUES (OLD.repository_id, OLD.manifest_digest, CAST(unixepoch('subsec') * 1000000000 AS INTEGER))
    ON CONFLICT (repository_id, digest) DO UPDATE SET untagged_at = excluded.untagged_at;
END;
CREATE TRIGGER untagged_manifest_put AFTER INSERT ON manifests BEGIN
    DELETE FROM manifest_untagged WHERE repository_id = NEW.repository_id AND digest = NEW.digest;
END;
CREATE TRIGGER untagged_manifest_deleted AFTER DELETE ON manifests BEGIN
    DELETE FROM manifest_untagged WHERE repository_id = OLD.repository_id AND digest = OLD.digest;
END;
