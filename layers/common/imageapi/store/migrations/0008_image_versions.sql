-- The metadata's version and last change, for ETags and conditional edits (PATCH with If-Match
-- or If-Unmodified-Since). An edit sets version = version + 1 in the same UPDATE that checks the
-- version it was given, so of two edits made from one read exactly one succeeds.
--
-- Neither column rewrites the table: a constant default (PostgreSQL 11 and later) and a
-- nullable column are recorded in the catalogue only. The ACCESS EXCLUSIVE lock each ALTER takes
-- is held for a moment, but queued behind a long query it would block every read and write
-- behind it: lock_timeout gives up instead, and the deploy's migration can be run again.
SET LOCAL lock_timeout = '5s';
ALTER TABLE images ADD COLUMN version bigint NOT NULL DEFAULT 1;
-- NULL until the first edit: the metadata was last changed when it was created.
ALTER TABLE images ADD COLUMN updated_at timestamptz;
