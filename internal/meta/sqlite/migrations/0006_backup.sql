-- 0006: backups hold garbage collection off (meta.GCHolder, docs/backup.md).

-- gc_holds: while a row here is live (until in the future), collectors
-- delete no blob bytes: a backup copying the blobs of its metadata snapshot
-- takes one before the snapshot and renews it while it copies. Collectors
-- go on deciding and deleting rows; the deletions stay in gc_deletions and
-- the first run after the last hold ends deletes their bytes. A holder that
-- dies stops holding at until. Backups leave this table out of what they
-- copy.
CREATE TABLE gc_holds (
    id    TEXT    PRIMARY KEY,  -- the holder's name, e.g. backup-3f2a9c0d5e6b7a81
    until INTEGER NOT NULL      -- unix nanoseconds; a hold lapses then unless renewed
) STRICT, WITHOUT ROWID;
