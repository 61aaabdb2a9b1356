-- 0002_replicas: what many replicas sharing one database need.

-- uploads.parts: the content store's name for the bytes recorded so far
-- (an S3 upload's part objects, in order; empty on the filesystem). It is
-- set together with byte_offset under the same compare-and-set, so that of
-- two replicas writing one offset only the winner's bytes are ever read.
ALTER TABLE uploads ADD COLUMN parts TEXT NOT NULL DEFAULT '';

-- Upload expiry lists the uploads not advanced for a while, oldest first.
CREATE INDEX uploads_updated_at ON uploads (updated_at);
