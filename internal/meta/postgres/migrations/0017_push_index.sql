-- 0017_push_index: 0016's events_pushes_at goes; events_pushes serves the
-- whole registry's push chart too (see SQLite's 0017).
DROP INDEX events_pushes_at;
