-- 0016_push_days: the push charts' indexes of 0015 again, as in SQLite's
-- 0016: per namespace or repository (kind, namespace, at, repository), the
-- whole registry's (kind, at); partial, written by artifact.pushed events
-- only.
DROP INDEX events_pushes;
CREATE INDEX events_pushes ON events (kind, namespace, at, repository) WHERE kind = 'artifact.pushed';
CREATE INDEX events_pushes_at ON events (kind, at) WHERE kind = 'artifact.pushed';
