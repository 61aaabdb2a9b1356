-- 0017_push_index: 0016's events_pushes_at goes. events_pushes (kind,
-- namespace, at, repository) serves the whole registry's push chart too,
-- from the index alone (every push within events.retention, which is what
-- the chart counts anyway), so a push writes one index entry for the
-- charts, not two.
DROP INDEX events_pushes_at;
