-- 0019_undispatched_index: nothing to do on PostgreSQL, whose planner
-- matches "dispatched = false" however it is written; the number is kept
-- in step with SQLite's 0019, which rebuilds events_undispatched so that
-- the dispatcher's query uses it.
SELECT 1;
