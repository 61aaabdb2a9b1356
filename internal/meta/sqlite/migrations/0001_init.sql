-- 0001: the metadata schema of wharf's SQLite backend.
--
-- Conventions, for every table below:
--   * Times are INTEGER unix nanoseconds, UTC.
--   * Digests are TEXT in their canonical "algorithm:hex" form.
--   * Names compare with SQLite's default BINARY collation, so listings sort
--     byte-wise ("a" < "a-b" < "a/b" < "ab"), as the distribution API wants.
--   * Tables are STRICT, so a value of the wrong type is refused, not coerced.
--
-- The reference tables (repository_blobs, manifest_blobs, manifest_children)
-- are what garbage collection counts: a blob's bytes may go only when no
-- repository links it and no manifest references it, and a manifest only when
-- no tag, index or subject needs it. They are therefore kept complete and
-- indexed from both ends. References to blobs and child manifests carry no
-- foreign key on the referenced side on purpose: unlinking a blob or deleting
-- a child manifest is allowed and leaves the reference for GC to count.

-- repositories: one row per repository that has ever held a link or a
-- manifest. A repository "exists" (RepositoryExists, the catalog, tag
-- listing) only while it still holds a link or a manifest; the row itself
-- outlives that so that its id is never reused for another name.
CREATE TABLE repositories (
    id         INTEGER PRIMARY KEY,  -- rowid; referenced by every per-repository table
    name       TEXT    NOT NULL UNIQUE, -- full repository name, e.g. "team/app"
    created_at INTEGER NOT NULL      -- when the first link or manifest created it
) STRICT;

-- blobs: every blob whose bytes the content store holds, shared by all
-- repositories. Recorded once by PutBlob; a repository may read it only
-- through a row in repository_blobs.
CREATE TABLE blobs (
    digest     TEXT    PRIMARY KEY,  -- content digest of the bytes
    size       INTEGER NOT NULL,     -- length in bytes
    created_at INTEGER NOT NULL      -- when the blob was first recorded
) STRICT, WITHOUT ROWID;

-- repository_blobs: the links. A row lets a repository read a blob (blob
-- HEAD/GET, cross-repository mount source, manifest references).
CREATE TABLE repository_blobs (
    repository_id INTEGER NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    digest        TEXT    NOT NULL REFERENCES blobs (digest),  -- the linked blob
    created_at    INTEGER NOT NULL,  -- when the link was made
    PRIMARY KEY (repository_id, digest)
) STRICT, WITHOUT ROWID;
-- Which repositories link a blob: AnyBlob, and GC's link count.
CREATE INDEX repository_blobs_by_digest ON repository_blobs (digest, repository_id);

-- manifests: every manifest of every repository, with its payload, so that a
-- manifest GET is served from here alone. The same digest in two
-- repositories is two rows.
CREATE TABLE manifests (
    repository_id INTEGER NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    digest        TEXT    NOT NULL,  -- digest of payload
    media_type    TEXT    NOT NULL,  -- the payload's media type (Content-Type)
    artifact_type TEXT    NOT NULL DEFAULT '', -- artifactType for the referrers API, '' if none
    size          INTEGER NOT NULL,  -- length of payload in bytes
    payload       BLOB    NOT NULL,  -- the manifest exactly as pushed
    subject       TEXT,              -- digest of the manifest's subject, NULL if none
    annotations   TEXT,              -- JSON object of the manifest's annotations, NULL if none
    created_at    INTEGER NOT NULL,  -- when the manifest was first pushed to this repository
    PRIMARY KEY (repository_id, digest)
) STRICT;
-- Referrers: the manifests of a repository with a given subject, in digest
-- order. Rows without a subject are NULL and cost the index nothing useful,
-- hence the partial index.
CREATE INDEX manifests_by_subject ON manifests (repository_id, subject, digest)
    WHERE subject IS NOT NULL;

-- manifest_blobs: the config and layer blobs a manifest references
-- (non-distributable layers excluded). Deleted with the manifest.
CREATE TABLE manifest_blobs (
    repository_id   INTEGER NOT NULL,
    manifest_digest TEXT    NOT NULL,  -- the referencing manifest
    blob_digest     TEXT    NOT NULL,  -- the referenced blob
    PRIMARY KEY (repository_id, manifest_digest, blob_digest),
    FOREIGN KEY (repository_id, manifest_digest)
        REFERENCES manifests (repository_id, digest) ON DELETE CASCADE
) STRICT, WITHOUT ROWID;
-- Which manifests, in any or one repository, reference a blob: GC's count.
CREATE INDEX manifest_blobs_by_blob ON manifest_blobs (blob_digest, repository_id, manifest_digest);

-- manifest_children: the manifests an index (or manifest list) lists, in the
-- same repository. Deleted with the parent.
CREATE TABLE manifest_children (
    repository_id INTEGER NOT NULL,
    parent_digest TEXT    NOT NULL,  -- the index
    child_digest  TEXT    NOT NULL,  -- a manifest it lists
    PRIMARY KEY (repository_id, parent_digest, child_digest),
    FOREIGN KEY (repository_id, parent_digest)
        REFERENCES manifests (repository_id, digest) ON DELETE CASCADE
) STRICT, WITHOUT ROWID;
-- Which indexes of a repository list a manifest: GC's count.
CREATE INDEX manifest_children_by_child ON manifest_children (repository_id, child_digest, parent_digest);

-- tags: tag name -> manifest, per repository. Deleted with the manifest.
CREATE TABLE tags (
    repository_id   INTEGER NOT NULL,
    name            TEXT    NOT NULL,  -- the tag, e.g. "v1.2"
    manifest_digest TEXT    NOT NULL,  -- the manifest it names
    updated_at      INTEGER NOT NULL,  -- when the tag was last pointed somewhere
    PRIMARY KEY (repository_id, name),
    FOREIGN KEY (repository_id, manifest_digest)
        REFERENCES manifests (repository_id, digest) ON DELETE CASCADE
) STRICT, WITHOUT ROWID;
-- The tags naming a manifest: the cascade on manifest delete, and GC.
CREATE INDEX tags_by_manifest ON tags (repository_id, manifest_digest);

-- uploads: blob uploads in progress. The repository is a name, not an id:
-- an upload to a new repository does not create it.
CREATE TABLE uploads (
    id          TEXT    PRIMARY KEY,  -- the upload's opaque id (in its URL)
    repository  TEXT    NOT NULL,     -- name of the repository uploaded to
    byte_offset INTEGER NOT NULL,     -- bytes received so far ("offset" is an SQL keyword)
    hash_state  BLOB,                 -- marshaled hash state after byte_offset bytes
    created_at  INTEGER NOT NULL,     -- when the upload started
    updated_at  INTEGER NOT NULL      -- when the last chunk was recorded
) STRICT;
