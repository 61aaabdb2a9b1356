-- 0012_trust: what each namespace trusts and requires of the images pulled
-- from it, and the cache of signature verdicts. Conventions as in 0001.

-- trust_settings: per namespace, its key set (the keys, keyless identities
-- and notation trust policies its signatures are verified against) and its
-- image policy (the rules a pull must pass). Both are JSON the store does
-- not interpret: package trust defines the key set, package policy the
-- image policy, and the registry validates both before storing them. Read
-- by every replica into memory; a change is announced to the others under
-- the namespace's name (see 0002 and meta.ChangeWatcher). Deleted with the
-- namespace.
CREATE TABLE trust_settings (
    namespace  TEXT    PRIMARY KEY REFERENCES namespaces (name) ON DELETE CASCADE,
    key_set    TEXT,              -- trust.KeySetConfig as JSON; NULL for none
    policy     TEXT,              -- policy.ImagePolicy as JSON; NULL for none
    version    INTEGER NOT NULL,  -- 1 when created, +1 on every change
    updated_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

-- signature_verdicts: the verdict on each signature of a manifest under a
-- key set, so that a pull of a signed image verifies nothing once verified.
-- A signature is named by trust.Signature.ID() ("<digest of the manifest
-- holding it>/<layer>"), which is content-addressed: the verdict stays true
-- for as long as the image, the signature and the key set (its fingerprint)
-- are the same, or until valid_until when a certificate or a notation
-- signature expires. Keyed by repository because notation trust policies
-- are scoped to repositories. A cache: rows are written outside the
-- transactions of pushes and pulls, and losing one costs a verification.
-- Deleted with the manifest; a write replaces the manifest's rows under
-- other fingerprints and those of signatures it no longer has.
CREATE TABLE signature_verdicts (
    repository_id INTEGER NOT NULL,
    digest        TEXT    NOT NULL,  -- the image (manifest or index)
    fingerprint   TEXT    NOT NULL,  -- of the key set (and registry host) it was verified under
    signature     TEXT    NOT NULL,  -- trust.Signature.ID()
    verdict       TEXT    NOT NULL,  -- trust.Verdict as JSON
    verified_at   INTEGER NOT NULL,
    valid_until   INTEGER,           -- when the verdict lapses; NULL for never
    PRIMARY KEY (repository_id, digest, fingerprint, signature),
    FOREIGN KEY (repository_id, digest)
        REFERENCES manifests (repository_id, digest) ON DELETE CASCADE
) STRICT, WITHOUT ROWID;
