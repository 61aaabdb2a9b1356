-- 0005_policy: lifecycle records: immutability rules, retention policies,
-- quotas, and when each manifest was last pulled (for usage and for
-- retention's "pulled within" rule). The same logical schema as SQLite's
-- 0005; conventions as in 0001. Patterns and rules are kept as the caller
-- wrote them; package policy defines and validates them before they are
-- stored.
--
-- Locking: a write checked against a quota takes the namespace's quotas row
-- FOR UPDATE first (LockQuota), so checks in one namespace run one at a
-- time; a namespace without a quota takes no lock. Retention takes the tag
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
CREATE TABLE quotas (
    namespace   text        COLLATE "C" PRIMARY KEY,
    limit_bytes bigint      NOT NULL CHECK (limit_bytes >= 0),
    updated_at  timestamptz NOT NULL
);

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
