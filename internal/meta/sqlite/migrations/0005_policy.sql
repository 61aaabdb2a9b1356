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
CREATE TABLE quotas (
    namespace   TEXT    PRIMARY KEY,
    limit_bytes INTEGER NOT NULL CHECK (limit_bytes >= 0),
    updated_at  INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

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
