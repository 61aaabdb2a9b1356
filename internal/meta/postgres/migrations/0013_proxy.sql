-- 0013_proxy: pull-through caches (docs/proxy.md): namespaces of kind
-- proxy, the upstream registry each mirrors, what the upstreams said of
-- the tags fetched from them, and the claims on fetching a blob. The same
-- logical schema as SQLite's 0013; conventions as in 0001.

-- namespaces.kind: what a namespace is for: 'general' (pushed to and pulled
-- from) or 'proxy' (a pull-through cache of its upstream). The store keeps
-- it as text and does not interpret it, so kinds to come need no
-- migration; package access checks the names.
ALTER TABLE namespaces ADD COLUMN kind text NOT NULL DEFAULT 'general';

-- upstreams: the registry a proxy namespace mirrors. Written only for a
-- namespace of kind proxy; goes with the namespace.
CREATE TABLE upstreams (
    namespace          text        COLLATE "C" PRIMARY KEY REFERENCES namespaces (name) ON DELETE CASCADE,
    url                text        NOT NULL,            -- http(s)://host[:port]
    username           text        NOT NULL DEFAULT '', -- '' for anonymous pulls
    secret             bytea,                           -- the password, sealed by package proxy (AES-256-GCM); NULL without
    tag_check_interval bigint      NOT NULL CHECK (tag_check_interval >= 0), -- nanoseconds a fetched tag is served before the upstream is asked again
    allow_push         boolean     NOT NULL DEFAULT false, -- clients may push, overriding the upstream
    is_default         boolean     NOT NULL DEFAULT false, -- the mirror of the registry's root
    created_at         timestamptz NOT NULL,
    updated_at         timestamptz NOT NULL
);
-- At most one upstream is the default.
CREATE UNIQUE INDEX upstreams_one_default ON upstreams (is_default) WHERE is_default;

-- proxy_tags: for a tag a proxy namespace fetched from its upstream, the
-- manifest the upstream last said it named, and when. A tag whose record
-- names another manifest was moved here (pushed over, where pushes are
-- allowed) and is not the upstream's any more. The record goes with the
-- tag.
CREATE TABLE proxy_tags (
    repository_id bigint      NOT NULL,
    tag           text        COLLATE "C" NOT NULL,
    digest        text        COLLATE "C" NOT NULL, -- what the upstream named
    checked_at    timestamptz NOT NULL,             -- when it said so
    PRIMARY KEY (repository_id, tag),
    FOREIGN KEY (repository_id, tag) REFERENCES tags (repository_id, name) ON DELETE CASCADE
);

-- blob_fills: which process is fetching a blob of a repository from its
-- upstream, so that the others follow its upload (uploads.id) instead of
-- fetching it too. A claim untouched for a while belongs to a process
-- presumed dead and is taken over.
CREATE TABLE blob_fills (
    repository text        COLLATE "C" NOT NULL, -- repository name, as uploads.repository
    digest     text        COLLATE "C" NOT NULL,
    upload_id  text        NOT NULL DEFAULT '',  -- the upload the bytes go to; '' until started
    holder     text        NOT NULL,             -- the process fetching
    size       bigint      NOT NULL,             -- the blob's size; -1 until known
    started_at timestamptz NOT NULL,
    touched_at timestamptz NOT NULL,             -- when the holder last said it is alive
    PRIMARY KEY (repository, digest)
);
