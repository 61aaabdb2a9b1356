-- 0019_undispatched_index: the dispatcher asks for "dispatched = FALSE",
-- and SQLite uses a partial index only when the query's terms match the
-- index's WHERE as written: 0014's "dispatched = 0" did not, so every
-- poll (twice a second) walked the whole events table in seq order to
-- find the few new events at its end.
DROP INDEX events_undispatched;
CREATE INDEX events_undispatched ON events (seq) WHERE dispatched = FALSE;
