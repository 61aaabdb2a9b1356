-- 0016_push_days: the push charts' indexes of 0015 again, each read
-- without a sort of the table: 0015's events_pushes (namespace,
-- repository, at) left the whole registry's chart to the kind index and a
-- row read per push (SQLite prefers an equality on kind to any range), so
-- both now lead with the kind: per namespace or repository
-- (kind, namespace, at, repository), and the whole registry's (kind, at).
-- Both are partial: only artifact.pushed events write to them.
DROP INDEX events_pushes;
CREATE INDEX events_pushes ON events (kind, namespace, at, repository) WHERE kind = 'artifact.pushed';
CREATE INDEX events_pushes_at ON events (kind, at) WHERE kind = 'artifact.pushed';
