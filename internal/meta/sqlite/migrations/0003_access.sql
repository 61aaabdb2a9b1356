-- 0003_access: who may do what (meta.Access): users, namespaces and their
-- members, access tokens, the token service's signing keys, and the audit
-- log. The conventions of 0001 hold: times are INTEGER unix nanoseconds
-- (NULL where the Go field is the zero time), names compare byte-wise, and
-- tables are STRICT.
--
-- Deleting a user or a namespace is one DELETE: the foreign keys below
-- cascade to its memberships and tokens (robots), so nothing outlives its
-- owner. Repositories are not tied to namespaces by a key: a namespace row
-- is about access, and the repositories under its name are the registry's.

-- users: local accounts.
CREATE TABLE users (
    name          TEXT    PRIMARY KEY,          -- login name
    password_hash TEXT    NOT NULL DEFAULT '',  -- bcrypt hash; '' cannot log in with a password
    admin         INTEGER NOT NULL DEFAULT 0 CHECK (admin IN (0, 1)),    -- system administrator
    disabled      INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)), -- may not log in; tokens stop working
    created_at    INTEGER NOT NULL,             -- when the account was created
    updated_at    INTEGER NOT NULL              -- when the hash or a flag last changed
) STRICT, WITHOUT ROWID;

-- namespaces: the first path component of repository names, the unit of
-- membership and visibility.
CREATE TABLE namespaces (
    name       TEXT    PRIMARY KEY,            -- e.g. "team-a"
    public     INTEGER NOT NULL DEFAULT 0 CHECK (public IN (0, 1)), -- anyone may pull
    created_at INTEGER NOT NULL                -- when it was created
) STRICT, WITHOUT ROWID;

-- members: a user's role in a namespace. The role is an auth role name the
-- store does not interpret.
CREATE TABLE members (
    namespace  TEXT    NOT NULL REFERENCES namespaces (name) ON DELETE CASCADE,
    user_name  TEXT    NOT NULL REFERENCES users (name) ON DELETE CASCADE,
    role       TEXT    NOT NULL,  -- "admin", "maintainer", "developer", "ci", "readonly"
    created_at INTEGER NOT NULL,  -- when the user first joined the namespace
    PRIMARY KEY (namespace, user_name)
) STRICT, WITHOUT ROWID;
-- A user's memberships, and the cascade on user delete.
CREATE INDEX members_by_user ON members (user_name, namespace);

-- tokens: personal access tokens and refresh tokens (owned by a user) and
-- robot accounts (owned by a namespace). Exactly one of owner_user and
-- owner_namespace is set, according to kind, so that the owner's delete
-- cascades here. Only the hash of the secret is kept.
CREATE TABLE tokens (
    id              TEXT    PRIMARY KEY,       -- public identifier, shown in listings
    kind            TEXT    NOT NULL CHECK (kind IN ('personal', 'robot', 'refresh')),
    name            TEXT    NOT NULL,          -- chosen by the owner; unique per kind and owner
    owner_user      TEXT    REFERENCES users (name) ON DELETE CASCADE,          -- personal, refresh
    owner_namespace TEXT    REFERENCES namespaces (name) ON DELETE CASCADE,     -- robot
    hash            TEXT    NOT NULL UNIQUE,   -- hex SHA-256 of the secret: TokenByHash
    scopes          BLOB,                      -- JSON of the scopes, as the caller encoded it
    expires_at      INTEGER,                   -- NULL: never expires
    last_used_at    INTEGER,                   -- NULL: never used
    revoked_at      INTEGER,                   -- NULL: not revoked
    created_at      INTEGER NOT NULL,          -- when it was created
    CHECK ((kind = 'robot') = (owner_namespace IS NOT NULL AND owner_user IS NULL)),
    CHECK ((kind <> 'robot') = (owner_user IS NOT NULL AND owner_namespace IS NULL))
) STRICT;
-- Names are unique per kind and owner; listing by owner uses these too.
CREATE UNIQUE INDEX tokens_by_user ON tokens (owner_user, kind, name) WHERE owner_user IS NOT NULL;
CREATE UNIQUE INDEX tokens_by_namespace ON tokens (owner_namespace, kind, name) WHERE owner_namespace IS NOT NULL;

-- signing_keys: the private keys the token service signs JWTs with. The
-- newest key not retired signs; every key not retired verifies.
CREATE TABLE signing_keys (
    id          TEXT    PRIMARY KEY,  -- key id ("kid" in the JWT header)
    private_pem BLOB    NOT NULL,     -- the private key, PEM
    created_at  INTEGER NOT NULL,     -- when it was generated
    retired_at  INTEGER               -- NULL while in use
) STRICT;

-- audit_events: who did what, to what, from where, and how it went. Append
-- only; ids increase (AUTOINCREMENT never reuses one), so "id < cursor" pages
-- newest first.
CREATE TABLE audit_events (
    id     INTEGER PRIMARY KEY AUTOINCREMENT,
    at     INTEGER NOT NULL,  -- when it happened
    actor  TEXT    NOT NULL,  -- e.g. "user:alice", "robot:ci+builder", "anonymous"
    client TEXT    NOT NULL,  -- client address
    action TEXT    NOT NULL,  -- e.g. "login", "push", "token.create"
    target TEXT    NOT NULL,  -- e.g. "team-a/app:v1", "user:bob"
    result TEXT    NOT NULL,  -- "ok", "denied" or "failed"
    detail TEXT    NOT NULL   -- free text
) STRICT;
-- The common filters, each newest first.
CREATE INDEX audit_events_by_actor ON audit_events (actor, id);
CREATE INDEX audit_events_by_action ON audit_events (action, id);
CREATE INDEX audit_events_by_at ON audit_events (at);
