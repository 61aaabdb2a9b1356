-- 0006: backups hold garbage collection off (meta.GCHolder, docs/backup.md).
-- The same logical schema as the SQLite backend's 0006_backup.sql.

-- gc_holds: while a row here is live (until in the future), collectors on
-- every replica delete no blob bytes; their deletions stay in gc_deletions
-- until the last hold ends.
CREATE TABLE gc_holds (
    id    text        COLLATE "C" PRIMARY KEY, -- the holder's name
    until timestamptz NOT NULL                 -- a hold lapses then unless renewed
);
