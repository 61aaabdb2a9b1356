-- 0007_identity: company sign-in (meta.Identities, docs/identity.md): which
-- users come from a directory or an identity provider, the web sessions of
-- signed-in users, and browser and device logins in progress. The same
-- logical schema as the SQLite backend's 0007, with timestamptz and
-- COLLATE "C" names.

-- external_identities: the users an LDAP directory or an OIDC provider
-- vouches for, one row per user. A user without a row is a local account.
-- The row keeps what the source said at the last check (sign-in or sync),
-- so that what group mappings granted can be taken back when the groups
-- change, and the source's refresh token for the periodic re-check.
CREATE TABLE external_identities (
    user_name     text        COLLATE "C" PRIMARY KEY REFERENCES users (name) ON DELETE CASCADE,
    source        text        NOT NULL CHECK (source IN ('ldap', 'oidc')),
    subject       text        NOT NULL,             -- LDAP: the entry's DN; OIDC: the issuer, a space, the "sub" claim
    email         text        NOT NULL DEFAULT '',
    groups        bytea       NOT NULL,             -- JSON array of the group names the source gave
    granted       bytea       NOT NULL,             -- JSON of the memberships the group mappings granted: [{"namespace","role"}]
    suspended     boolean     NOT NULL DEFAULT false, -- the source disabled or removed the user; users.disabled was set for it
    refresh_token bytea,                            -- OIDC: the provider's refresh token, sealed (AES-GCM); NULL if none
    checked_at    timestamptz NOT NULL,             -- when the source last vouched for the user
    created_at    timestamptz NOT NULL
);
-- One wharf user per subject of a source.
CREATE UNIQUE INDEX external_identities_by_subject ON external_identities (source, subject);

-- web_sessions: a browser's signed-in session (the web UI's). The cookie
-- holds a random secret; only its hash is kept.
CREATE TABLE web_sessions (
    hash         text        PRIMARY KEY,          -- hex SHA-256 of the cookie's secret
    id           text        NOT NULL UNIQUE,      -- public identifier, for listings and sign-out
    user_name    text        COLLATE "C" NOT NULL REFERENCES users (name) ON DELETE CASCADE,
    source       text        NOT NULL,             -- how the user signed in: local, ldap or oidc
    csrf         text        NOT NULL,             -- the session's CSRF token, for forms
    created_at   timestamptz NOT NULL,
    last_seen_at timestamptz NOT NULL,             -- moved forward by use (coalesced): the idle timeout counts from it
    expires_at   timestamptz NOT NULL              -- the absolute end, however busy
);
CREATE INDEX web_sessions_by_user ON web_sessions (user_name);

-- login_states: browser (authorization code) and device logins in progress
-- at an OIDC provider, so that whichever replica receives the callback or
-- the poll can finish them. data is the oidc package's JSON (PKCE verifier,
-- nonce, where to return; the device code).
CREATE TABLE login_states (
    hash       text        PRIMARY KEY,            -- hex SHA-256 of the state parameter or device handle
    data       bytea       NOT NULL,
    expires_at timestamptz NOT NULL
);
