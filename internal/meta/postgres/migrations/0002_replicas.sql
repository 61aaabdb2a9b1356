-- 0002_replicas: what many replicas sharing one database need.

-- Upload expiry lists the uploads not advanced for a while, oldest first.
CREATE INDEX uploads_updated_at ON uploads (updated_at);
