-- 0001: the metadata schema of wharf's PostgreSQL backend. It is the same
-- logical schema as the SQLite backend's (internal/meta/sqlite/migrations):
-- the same tables, columns, keys and index names, in PostgreSQL's types.
--
-- Conventions, for every table below:
--   * Times are timestamptz (microseconds; read back in UTC).
--   * Digests are text in their canonical "algorithm:hex" form.
--   * Names and digests are text COLLATE "C", so they compare and sort
--     byte-wise whatever the database's default collation: listings page
--     exactly as on SQLite ("a" < "a-b" < "a/b" < "ab", "V2" < "v1"), and a
--     "name > $last" condition can use the key's index.
--
-- The reference tables (repository_blobs, manifest_blobs, manifest_children)
-- are what garbage collection counts: a blob's bytes may go only when no
-- repository links it and no manifest references it, and a manifest only when
-- no tag, index or subject needs it. They are therefore kept complete and
-- indexed from both ends. References to blobs and child manifests carry no
-- foreign key on the referenced side on purpose: unlinking a blob or deleting
-- a child manifest is allowed and leaves the reference for GC to count.
--
-- Locking, which the schema cannot say: a manifest PUT reads the link and
-- blob rows it references with SELECT ... FOR SHARE, and a tag PUT the
-- manifest row it names. A garbage collector that takes the blob row FOR
-- UPDATE before deleting it therefore either waits for the PUT to commit (and
-- then sees the new reference) or makes the PUT find the blob gone.

-- repositories: one row per repository that has ever held a link or a
-- manifest. A repository "exists" (RepositoryExists, the catalog, tag
-- listing) only while it still holds a link or a manifest; the row itself
-- outlives that so that its id is never reused for another name.
CREATE TABLE repositories (
    id         bigserial   PRIMARY KEY,          -- referenced by every per-repository table
    name       text        COLLATE "C" NOT NULL UNIQUE, -- full repository name, e.g. "team/app"
    created_at timestamptz NOT NULL               -- when the first link or manifest created it
);

-- blobs: every blob whose bytes the content store holds, shared by all
-- repositories. Recorded once by PutBlob; a repository may read it only
-- through a row in repository_blobs.
CREATE TABLE blobs (
    digest     text        COLLATE "C" PRIMARY KEY, -- content digest of the bytes
    size       bigint      NOT NULL,                -- length in bytes
    created_at timestamptz NOT NULL                 -- when the blob was first recorded
);

-- repository_blobs: the links. A row lets a repository read a blob (blob
-- HEAD/GET, cross-repository mount source, manifest references).
CREATE TABLE repository_blobs (
    repository_id bigint      NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    digest        text        COLLATE "C" NOT NULL REFERENCES blobs (digest), -- the linked blob
    created_at    timestamptz NOT NULL,             -- when the link was made
    PRIMARY KEY (repository_id, digest)
);
-- Which repositories link a blob: AnyBlob, and GC's link count.
CREATE INDEX repository_blobs_by_digest ON repository_blobs (digest, repository_id);

-- manifests: every manifest of every repository, with its payload, so that a
-- manifest GET is served from here alone. The same digest in two
-- repositories is two rows.
CREATE TABLE manifests (
    repository_id bigint      NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    digest        text        COLLATE "C" NOT NULL, -- digest of payload
    media_type    text        NOT NULL,             -- the payload's media type (Content-Type)
    artifact_type text        NOT NULL DEFAULT '',  -- artifactType for the referrers API, '' if none
    size          bigint      NOT NULL,             -- length of payload in bytes
    payload       bytea       NOT NULL,             -- the manifest exactly as pushed
    subject       text        COLLATE "C",          -- digest of the manifest's subject, NULL if none
    annotations   jsonb,                            -- the manifest's annotations, NULL if none
    created_at    timestamptz NOT NULL,             -- when the manifest was first pushed to this repository
    PRIMARY KEY (repository_id, digest)
);
-- Referrers: the manifests of a repository with a given subject, in digest
-- order. Most manifests have no subject, hence the partial index.
CREATE INDEX manifests_by_subject ON manifests (repository_id, subject, digest)
    WHERE subject IS NOT NULL;

-- manifest_blobs: the config and layer blobs a manifest references
-- (non-distributable layers excluded). Deleted with the manifest.
CREATE TABLE manifest_blobs (
    repository_id   bigint NOT NULL,
    manifest_digest text   COLLATE "C" NOT NULL, -- the referencing manifest
    blob_digest     text   COLLATE "C" NOT NULL, -- the referenced blob
    PRIMARY KEY (repository_id, manifest_digest, blob_digest),
    FOREIGN KEY (repository_id, manifest_digest)
        REFERENCES manifests (repository_id, digest) ON DELETE CASCADE
);
-- Which manifests, in any or one repository, reference a blob: GC's count.
CREATE INDEX manifest_blobs_by_blob ON manifest_blobs (blob_digest, repository_id, manifest_digest);

-- manifest_children: the manifests an index (or manifest list) lists, in the
-- same repository. Deleted with the parent.
CREATE TABLE manifest_children (
    repository_id bigint NOT NULL,
    parent_digest text   COLLATE "C" NOT NULL, -- the index
    child_digest  text   COLLATE "C" NOT NULL, -- a manifest it lists
    PRIMARY KEY (repository_id, parent_digest, child_digest),
    FOREIGN KEY (repository_id, parent_digest)
        REFERENCES manifests (repository_id, digest) ON DELETE CASCADE
);
-- Which indexes of a repository list a manifest: GC's count.
CREATE INDEX manifest_children_by_child ON manifest_children (repository_id, child_digest, parent_digest);

-- tags: tag name -> manifest, per repository. Deleted with the manifest.
CREATE TABLE tags (
    repository_id   bigint      NOT NULL,
    name            text        COLLATE "C" NOT NULL, -- the tag, e.g. "v1.2"
    manifest_digest text        COLLATE "C" NOT NULL, -- the manifest it names
    updated_at      timestamptz NOT NULL,             -- when the tag was last pointed somewhere
    PRIMARY KEY (repository_id, name),
    FOREIGN KEY (repository_id, manifest_digest)
        REFERENCES manifests (repository_id, digest) ON DELETE CASCADE
);
-- The tags naming a manifest: the cascade on manifest delete, and GC.
CREATE INDEX tags_by_manifest ON tags (repository_id, manifest_digest);

-- uploads: blob uploads in progress. The repository is a name, not an id:
-- an upload to a new repository does not create it.
CREATE TABLE uploads (
    id          text        PRIMARY KEY, -- the upload's opaque id (in its URL)
    repository  text        NOT NULL,    -- name of the repository uploaded to
    byte_offset bigint      NOT NULL,    -- bytes received so far ("offset" is an SQL keyword)
    hash_state  bytea,                   -- marshaled hash state after byte_offset bytes
    created_at  timestamptz NOT NULL,    -- when the upload started
    updated_at  timestamptz NOT NULL     -- when the last chunk was recorded
);
