-- 0003_access: who may do what (meta.Access): users, namespaces and their
-- members, access tokens, the token service's signing keys, and the audit
-- log. The same logical schema as the SQLite backend's 0003, with the
-- conventions of 0001: timestamptz (NULL where the Go field is the zero
-- time), names text COLLATE "C" so they sort byte-wise.
--
-- Deleting a user or a namespace is one DELETE: the foreign keys below
-- cascade to its memberships and tokens (robots), so nothing outlives its
-- owner. Repositories are not tied to namespaces by a key: a namespace row
-- is about access, and the repositories under its name are the registry's.

-- users: local accounts.
CREATE TABLE users (
    name          text        COLLATE "C" PRIMARY KEY,  -- login name
    password_hash text        NOT NULL DEFAULT '',      -- bcrypt hash; '' cannot log in with a password
    admin         boolean     NOT NULL DEFAULT false,   -- system administrator
    disabled      boolean     NOT NULL DEFAULT false,   -- may not log in; tokens stop working
    created_at    timestamptz NOT NULL,                 -- when the account was created
    updated_at    timestamptz NOT NULL                  -- when the hash or a flag last changed
);

-- namespaces: the first path component of repository names, the unit of
-- membership and visibility.
CREATE TABLE namespaces (
    name       text        COLLATE "C" PRIMARY KEY,  -- e.g. "team-a"
    public     boolean     NOT NULL DEFAULT false,   -- anyone may pull
    created_at timestamptz NOT NULL                  -- when it was created
);

-- members: a user's role in a namespace. The role is an auth role name the
-- store does not interpret.
CREATE TABLE members (
    namespace  text        COLLATE "C" NOT NULL REFERENCES namespaces (name) ON DELETE CASCADE,
    user_name  text        COLLATE "C" NOT NULL REFERENCES users (name) ON DELETE CASCADE,
    role       text        NOT NULL,  -- "admin", "maintainer", "developer", "ci", "readonly"
    created_at timestamptz NOT NULL,  -- when the user first joined the namespace
    PRIMARY KEY (namespace, user_name)
);
-- A user's memberships, and the cascade on user delete.
CREATE INDEX members_by_user ON members (user_name, namespace);

-- tokens: personal access tokens and refresh tokens (owned by a user) and
-- robot accounts (owned by a namespace). Exactly one of owner_user and
-- owner_namespace is set, according to kind, so that the owner's delete
-- cascades here. Only the hash of the secret is kept.
CREATE TABLE tokens (
    id              text        COLLATE "C" PRIMARY KEY, -- public identifier, shown in listings
    kind            text        NOT NULL CHECK (kind IN ('personal', 'robot', 'refresh')),
    name            text        COLLATE "C" NOT NULL,    -- chosen by the owner; unique per kind and owner
    owner_user      text        COLLATE "C" REFERENCES users (name) ON DELETE CASCADE,      -- personal, refresh
    owner_namespace text        COLLATE "C" REFERENCES namespaces (name) ON DELETE CASCADE, -- robot
    hash            text        NOT NULL UNIQUE,         -- hex SHA-256 of the secret: TokenByHash
    scopes          bytea,                               -- JSON of the scopes, as the caller encoded it
    expires_at      timestamptz,                         -- NULL: never expires
    last_used_at    timestamptz,                         -- NULL: never used
    revoked_at      timestamptz,                         -- NULL: not revoked
    created_at      timestamptz NOT NULL,                -- when it was created
    CHECK ((kind = 'robot') = (owner_namespace IS NOT NULL AND owner_user IS NULL)),
    CHECK ((kind <> 'robot') = (owner_user IS NOT NULL AND owner_namespace IS NULL))
);
-- Names are unique per kind and owner; listing by owner uses these too.
CREATE UNIQUE INDEX tokens_by_user ON tokens (owner_user, kind, name) WHERE owner_user IS NOT NULL;
CREATE UNIQUE INDEX tokens_by_namespace ON tokens (owner_namespace, kind, name) WHERE owner_namespace IS NOT NULL;

-- signing_keys: the private keys the token service signs JWTs with. The
-- newest key not retired signs; every key not retired verifies.
CREATE TABLE signing_keys (
    id          text        COLLATE "C" PRIMARY KEY, -- key id ("kid" in the JWT header)
    private_pem bytea       NOT NULL,                -- the private key, PEM
    created_at  timestamptz NOT NULL,                -- when it was generated
    retired_at  timestamptz                          -- NULL while in use
);

-- audit_events: who did what, to what, from where, and how it went. Append
-- only; ids increase, so "id < cursor" pages newest first. (Ids of
-- transactions that commit out of order may appear late; the audit log is
-- read by people, not replicated by cursor.)
CREATE TABLE audit_events (
    id     bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at     timestamptz NOT NULL,         -- when it happened
    actor  text        COLLATE "C" NOT NULL, -- e.g. "user:alice", "robot:ci+builder", "anonymous"
    client text        NOT NULL,         -- client address
    action text        COLLATE "C" NOT NULL, -- e.g. "login", "push", "token.create"
    target text        COLLATE "C" NOT NULL, -- e.g. "team-a/app:v1", "user:bob"
    result text        NOT NULL,         -- "ok", "denied" or "failed"
    detail text        NOT NULL          -- free text
);
-- The common filters, each newest first.
CREATE INDEX audit_events_by_actor ON audit_events (actor, id);
CREATE INDEX audit_events_by_action ON audit_events (action, id);
CREATE INDEX audit_events_by_at ON audit_events (at);
