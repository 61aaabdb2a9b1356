-- 0018_scan_queue: the queue's indexes hold only the rows waiting or
-- running, so a claim reads those few whatever the planner's statistics
-- say about state. (SQLite's 0018 also rebuilds scans with a rowid; a
-- PostgreSQL table is a heap, its large values out of line already.) The
-- queries name the state as a literal, which is what lets the planner use
-- a partial index.
DROP INDEX scans_queue;
CREATE INDEX scans_queue ON scans (priority DESC, queued_at) WHERE state = 'queued';
CREATE INDEX scans_running ON scans (queued_at) WHERE state = 'running';
