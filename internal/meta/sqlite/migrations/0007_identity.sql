-- 0007_identity: company sign-in (meta.Identities, docs/identity.md): which
-- users come from a directory or an identity provider, the web sessions of
-- signed-in users, and browser and device logins in progress. The
-- conventions of 0001 hold: INTEGER unix-nanosecond times, STRICT tables.

-- external_identities: the users an LDAP directory or an OIDC provider
-- vouches for, one row per user. A user without a row is a local account.
-- The row keeps what the source said at the last check (sign-in or sync),
-- so that what group mappings granted can be taken back when the groups
-- change, and the source's refresh token for the periodic re-check.
CREATE TABLE external_identities (
    user_name     TEXT    PRIMARY KEY REFERENCES users (name) ON DELETE CASCADE,
    source        TEXT    NOT NULL CHECK (source IN ('ldap', 'oidc')),
    subject       TEXT    NOT NULL,             -- LDAP: the entry's DN; OIDC: the issuer, a space, the "sub" claim
    email         TEXT    NOT NULL DEFAULT '',
    groups        BLOB    NOT NULL,             -- JSON array of the group names the source gave
    granted       BLOB    NOT NULL,             -- JSON of the memberships the group mappings granted: [{"namespace","role"}]
    suspended     INTEGER NOT NULL DEFAULT 0 CHECK (suspended IN (0, 1)), -- the source disabled or removed the user; users.disabled was set for it
    refresh_token BLOB,                         -- OIDC: the provider's refresh token, sealed (AES-GCM); NULL if none
    checked_at    INTEGER NOT NULL,             -- when the source last vouched for the user
    created_at    INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
-- One wharf user per subject of a source.
CREATE UNIQUE INDEX external_identities_by_subject ON external_identities (source, subject);

-- web_sessions: a browser's signed-in session (the web UI's). The cookie
-- holds a random secret; only its hash is kept.
CREATE TABLE web_sessions (
    hash         TEXT    PRIMARY KEY,          -- hex SHA-256 of the cookie's secret
    id           TEXT    NOT NULL UNIQUE,      -- public identifier, for listings and sign-out
    user_name    TEXT    NOT NULL REFERENCES users (name) ON DELETE CASCADE,
    source       TEXT    NOT NULL,             -- how the user signed in: local, ldap or oidc
    csrf         TEXT    NOT NULL,             -- the session's CSRF token, for forms
    created_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,             -- moved forward by use (coalesced): the idle timeout counts from it
    expires_at   INTEGER NOT NULL              -- the absolute end, however busy
) STRICT, WITHOUT ROWID;
CREATE INDEX web_sessions_by_user ON web_sessions (user_name);

-- login_states: browser (authorization code) and device logins in progress
-- at an OIDC provider, so that whichever replica receives the callback or
-- the poll can finish them. data is the oidc package's JSON (PKCE verifier,
-- nonce, where to return; the device code).
CREATE TABLE login_states (
    hash       TEXT    PRIMARY KEY,            -- hex SHA-256 of the state parameter or device handle
    data       BLOB    NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
